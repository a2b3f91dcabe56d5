//! The `rootlab` command: run an experiment, list presets, or serve the playground.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rootlab",
    version,
    about = "A playground for mount namespaces, propagation, chroot, pivot_root and image layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one experiment (a preset id or a spec.json file) and print a report.
    Run(rootlab::cli::RunArgs),
    /// List the presets.
    Presets(rootlab::cli::PresetsArgs),
    /// Serve the REST API and the browser playground.
    Serve(rootlab::server::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => rootlab::cli::run(args),
        Command::Presets(args) => rootlab::cli::presets(args),
        Command::Serve(args) => rootlab::server::serve(args),
    }
}
