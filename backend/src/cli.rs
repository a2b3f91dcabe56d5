//! `rootlab run` and `rootlab presets`: run one experiment in-process and print a report.
//!
//! Single-threaded on purpose (no tokio here): the engine forks the sandbox, which must create a
//! user namespace, and a multi-threaded process cannot.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::Context;
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{RunStatus, StepOutcome, StepResult};
use rootlab_shared::validate::{parse_spec, FieldError};
use rootlab_shared::{presets, Limits};

use crate::config::{EngineArgs, EngineConfig};
use crate::engine::{self, EngineError};
use crate::report::{self, Style};

/// Exit status for a spec that does not validate (like a 4xx).
pub const EXIT_INVALID: i32 = 2;
/// Exit status for a run that did not complete (limit, failure).
pub const EXIT_NOT_COMPLETED: i32 = 1;
/// Exit status for a completed run where an expectation of the spec did not hold.
pub const EXIT_EXPECTATION_FAILED: i32 = 3;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A preset id (see `rootlab presets`), a path to a spec .json file, or `-` for stdin.
    pub experiment: String,
    /// Print the result document as JSON instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Do not print step progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(clap::Args, Debug)]
pub struct PresetsArgs {
    /// Print the presets (with their specs) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rootlab presets`: a table of id, lesson and title.
pub fn presets(args: PresetsArgs) -> anyhow::Result<()> {
    let all = presets::all();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(());
    }
    let width = all.iter().map(|p| p.id.len()).max().unwrap_or(2);
    writeln!(out, "{:<width$}  LESSON  TITLE", "ID")?;
    for p in &all {
        writeln!(out, "{:<width$}  {:>6}  {}", p.id, p.lesson, p.title)?;
    }
    Ok(())
}

/// `rootlab run`: validate, run in this process, report. Exits 2 on an invalid spec, 1 when the
/// run did not complete.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let limits = Limits::default();
    let json = load(&args.experiment)?;
    let spec = match parse_spec(&json, &limits) {
        Ok(spec) => spec,
        Err(errors) => invalid(&args.experiment, &errors),
    };
    let cfg = EngineConfig::from_args(&args.engine);
    let mut progress = Progress::new(spec.steps.len(), args.quiet);
    let result = match engine::run(&spec, &limits, &cfg, &mut |e| progress.event(e)) {
        Ok(r) => r,
        Err(EngineError::Invalid(errors)) => invalid(&args.experiment, &errors),
        Err(e) => return Err(e).context("the experiment could not run"),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &result)?;
        writeln!(out)?;
    } else {
        let style = Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        out.write_all(report::render(&result, Some(&spec), style).as_bytes())?;
    }
    out.flush()?;
    if result.status != RunStatus::Completed {
        std::process::exit(EXIT_NOT_COMPLETED);
    }
    if result.expectations.iter().any(|g| !g.passed) {
        std::process::exit(EXIT_EXPECTATION_FAILED);
    }
    Ok(())
}

/// The spec's JSON text: a preset, a file, or stdin.
fn load(experiment: &str) -> anyhow::Result<String> {
    if experiment == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the spec from stdin")?;
        return Ok(text);
    }
    if let Some(preset) = presets::get(experiment) {
        return Ok(serde_json::to_string(&preset.spec)?);
    }
    let path = Path::new(experiment);
    if path.is_file() {
        return std::fs::read_to_string(path).with_context(|| format!("reading {experiment}"));
    }
    anyhow::bail!(
        "{experiment:?} is neither a preset id nor a spec file (list the presets with `rootlab presets`)"
    )
}

/// Print every field error and exit 2.
fn invalid(source: &str, errors: &[FieldError]) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{source}: the spec is invalid ({} problem{}):",
        errors.len(),
        plural(errors.len())
    );
    for e in errors {
        let field = if e.field.is_empty() {
            "(document)"
        } else {
            &e.field
        };
        let _ = writeln!(err, "  {field}: {}", e.message);
    }
    std::process::exit(EXIT_INVALID)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Step-by-step progress on stderr.
struct Progress {
    steps: usize,
    quiet: bool,
}

impl Progress {
    fn new(steps: usize, quiet: bool) -> Self {
        Progress { steps, quiet }
    }

    fn event(&mut self, event: RunEvent) {
        if self.quiet {
            return;
        }
        let line = match event {
            RunEvent::Started { .. } => "sandbox up".to_string(),
            RunEvent::StepFinished { result } => self.finished(&result),
            _ => return,
        };
        eprintln!("rootlab: {line}");
    }

    fn finished(&self, r: &StepResult) -> String {
        let outcome = match &r.outcome {
            StepOutcome::Ok => "ok".to_string(),
            StepOutcome::Error(e) => format!("error: {}", e.message),
            StepOutcome::Skipped { reason } => format!("skipped: {reason}"),
        };
        format!(
            "step {}/{} {} ({}) {outcome}",
            r.index + 1,
            self.steps,
            r.op,
            r.actor
        )
    }
}
