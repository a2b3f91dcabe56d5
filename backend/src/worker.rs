//! The worker loop. Placeholder owned by the engine work.

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
