//! `rootlab presets`: the lessons as a table, or as JSON with their specs.

use rootlab_shared::presets;

use super::print;

#[derive(clap::Args, Debug)]
pub struct PresetsArgs {
    /// Print the presets (with their specs) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rootlab presets`: a table of id, lesson and title.
pub fn presets(args: PresetsArgs) -> anyhow::Result<()> {
    let all = presets::all();
    if args.json {
        let mut text = serde_json::to_string_pretty(&all)?;
        text.push('\n');
        return Ok(print(text.as_bytes())?);
    }
    let width = all.iter().map(|p| p.id.len()).max().unwrap_or(2);
    let mut text = format!("{:<width$}  LESSON  TITLE\n", "ID");
    for p in &all {
        text.push_str(&format!("{:<width$}  {:>6}  {}\n", p.id, p.lesson, p.title));
    }
    Ok(print(text.as_bytes())?)
}
