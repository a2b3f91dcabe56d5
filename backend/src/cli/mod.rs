//! The `rootlab` command line: the command tree, its dispatch and its exit statuses.
//!
//! Files: `run.rs` (`rootlab run`), `images.rs` (`rootlab images`), `load.rs` (what `run` reads: a preset id, a preset file, a
//! spec file or stdin), `presets.rs` (`rootlab presets`), `docs.rs` (`rootlab completions`,
//! `rootlab man`).

mod docs;
mod images;
mod load;
mod presets;
mod pull;
mod run;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use docs::{CompletionsArgs, ManArgs};
pub use images::ImagesArgs;
pub use presets::PresetsArgs;
pub use run::RunArgs;

/// Exit status: the experiment completed (or the command did its job).
pub const EXIT_OK: u8 = 0;
/// Exit status of `run`: the experiment ran but did not complete (a limit, a failure).
pub const EXIT_NOT_COMPLETED: u8 = 1;
/// Exit status for invalid input: bad arguments, an experiment that cannot be read, a spec that
/// does not validate.
pub const EXIT_INVALID: u8 = 2;
/// Exit status when the experiment could not run at all, or `serve` failed.
pub const EXIT_FAILED: u8 = 3;
/// Exit status of `run`: the experiment completed, but an expectation of its spec did not hold.
pub const EXIT_EXPECTATION_FAILED: u8 = 4;

const EXIT_HELP: &str = "\
Exit status:
  0  success; for `run`, the experiment completed
  1  `run`: the experiment ran but did not complete (a limit was hit, or it failed)
  2  invalid input: bad arguments, an experiment that is neither a preset id nor a readable
     file, or a spec that does not validate (each problem is named on stderr); for `images`,
     an unknown image or a refused archive
  3  the experiment could not run (the sandbox could not be set up), or `serve` failed, or the
     image store failed
  4  `run`: the experiment completed, but an expectation of its spec did not hold (named in
     the report)
A closed standard output (`rootlab run x | head`) ends the output quietly, with the same status.";

#[derive(Parser)]
#[command(
    name = "rootlab",
    version,
    about = "A playground for mount namespaces, propagation, chroot, pivot_root and image layers",
    after_help = EXIT_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one experiment (a preset id, a preset file, a spec file, or - for stdin) and print a
    /// report.
    #[command(after_help = EXIT_HELP)]
    Run(RunArgs),
    /// List the presets.
    Presets(PresetsArgs),
    /// Manage the image store: ls, inspect, import, export, rm, prune.
    #[command(after_help = EXIT_HELP)]
    Images(ImagesArgs),
    /// Serve the REST API and the browser playground.
    Serve(crate::server::ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one per command into a directory.
    Man(ManArgs),
    /// Fetch an image from a registry into an OCI image layout directory.
    Pull(pull::PullArgs),
}

/// The whole command tree, for completions and manual pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Invalid input that is not a spec problem: exit 2 with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// `rootlab`'s `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Presets(args) => presets::presets(args).map(|()| EXIT_OK),
        Command::Images(args) => images::images(args).map(|()| EXIT_OK),
        Command::Serve(args) => crate::server::serve(args).map(|()| EXIT_OK),
        Command::Completions(args) => docs::completions(args).map(|()| EXIT_OK),
        Command::Man(args) => docs::man(args).map(|()| EXIT_OK),
        Command::Pull(args) => pull::pull(args),
    };
    ExitCode::from(exit_status(outcome))
}

fn exit_status(outcome: anyhow::Result<u8>) -> u8 {
    let err = match outcome {
        Ok(status) => return status,
        Err(err) => err,
    };
    if is_broken_pipe(&err) {
        return EXIT_OK;
    }
    let _ = writeln!(io::stderr(), "rootlab: {err:#}");
    if err.downcast_ref::<InvalidInput>().is_some() {
        EXIT_INVALID
    } else {
        EXIT_FAILED
    }
}

/// Whether `err` comes from writing to a pipe whose reader is gone.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Write `bytes` to stdout; a closed pipe is not an error (the reader has what it wanted).
pub fn print(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn exit_statuses_by_error() {
        let pipe = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(exit_status(Err(pipe.context("writing"))), EXIT_OK);
        let invalid = anyhow::Error::new(InvalidInput("no such file".into()));
        assert_eq!(exit_status(Err(invalid)), EXIT_INVALID);
        assert_eq!(exit_status(Err(anyhow::anyhow!("sandbox"))), EXIT_FAILED);
        assert_eq!(exit_status(Ok(EXIT_NOT_COMPLETED)), EXIT_NOT_COMPLETED);
    }
}
