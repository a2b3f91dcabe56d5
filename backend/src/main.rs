//! The `rootlab` command: run an experiment, list presets, serve the playground, or print shell
//! completions and the manual page (see `rootlab::cli`).

fn main() -> std::process::ExitCode {
    rootlab::cli::main()
}
