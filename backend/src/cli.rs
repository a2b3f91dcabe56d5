//! `rootlab run` and `rootlab presets`.
// Placeholder owned by the CLI work; replaced there.

#[derive(clap::Args)]
pub struct RunArgs {}
#[derive(clap::Args)]
pub struct PresetsArgs {}

pub fn run(_args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub fn presets(_args: PresetsArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
