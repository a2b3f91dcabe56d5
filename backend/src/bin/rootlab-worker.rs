//! The sandbox worker: a small single-threaded process that the server (or the CLI) starts and
//! feeds experiments over stdin; see `rootlab::worker`.

fn main() -> std::process::ExitCode {
    rootlab::worker::main()
}
