//! `rootlab completions <shell>` (clap_complete) and `rootlab man` (clap_mangen): generated from
//! the command tree, so they never disagree with `--help`.

use std::path::PathBuf;

use clap_complete::Shell;

use super::print;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell, e.g. `bash` (then: `rootlab completions bash > /etc/bash_completion.d/rootlab`).
    pub shell: Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write rootlab.1 and one page per command (rootlab-run.1, ...) into this directory instead
    /// of printing rootlab.1.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Print the completion script for `args.shell`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut super::command(), "rootlab", &mut script);
    Ok(print(&script)?)
}

/// Print the manual page, or write every page into `args.dir`.
pub fn man(args: ManArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir)?;
        clap_mangen::generate_to(super::command(), &dir)?;
        return Ok(());
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(super::command()).render(&mut page)?;
    Ok(print(&page)?)
}
