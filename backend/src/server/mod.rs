//! The HTTP server (`rootlab serve`).
// Placeholder owned by the server work; replaced there.

#[derive(clap::Args)]
pub struct ServeArgs {}

pub fn serve(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
