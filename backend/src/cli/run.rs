//! `rootlab run`: run one experiment in-process and print a report (or the result as JSON).
//!
//! Single-threaded on purpose (no tokio here): the engine forks the sandbox, which must create a
//! user namespace, and a multi-threaded process cannot.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{RunStatus, StepOutcome, StepResult};
use rootlab_shared::validate::{parse_spec, FieldError};
use rootlab_shared::Limits;

use super::load::{load, Experiment};
use super::{print, EXIT_EXPECTATION_FAILED, EXIT_INVALID, EXIT_NOT_COMPLETED, EXIT_OK};
use crate::config::{EngineArgs, EngineConfig};
use crate::engine::{self, EngineError};
use crate::report::{self, Style};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A preset id (see `rootlab presets`), a preset file (shared/presets/*.json), a spec .json
    /// file, or `-` for stdin.
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

/// `rootlab run`: validate, run in this process, report. The exit status: 2 for an invalid spec,
/// 1 when the run did not complete, 4 when it did but an expectation of the spec did not hold,
/// 0 otherwise.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let limits = Limits::default();
    let experiment = load(&args.experiment)?;
    let spec = match parse_spec(&experiment.text, &limits) {
        Ok(spec) => spec,
        Err(errors) => return Ok(invalid(&args.experiment, &experiment, &errors)),
    };
    // The command line is its owner's: what its commits make is kept in its store.
    let cfg = EngineConfig {
        allow_commit: true,
        ..EngineConfig::from_args(&args.engine)
    };
    let mut progress = Progress::new(spec.steps.len(), args.quiet);
    let result = match engine::run(&spec, &limits, &cfg, &mut |e| progress.event(e)) {
        Ok(r) => r,
        Err(EngineError::Invalid(errors)) => {
            return Ok(invalid(&args.experiment, &experiment, &errors))
        }
        Err(e) => return Err(e).context("the experiment could not run"),
    };
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&result)?;
        json.push('\n');
        json
    } else {
        let style = Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        report::render(&result, Some(&spec), style)
    };
    print(text.as_bytes())?;
    Ok(match result.status {
        RunStatus::Completed if result.expectations.iter().any(|g| !g.passed) => {
            EXIT_EXPECTATION_FAILED
        }
        RunStatus::Completed => EXIT_OK,
        _ => EXIT_NOT_COMPLETED,
    })
}

/// Print every field error (named as in the user's document); the exit status.
fn invalid(source: &str, experiment: &Experiment, errors: &[FieldError]) -> u8 {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{source}: the spec is invalid ({} problem{}):",
        errors.len(),
        plural(errors.len())
    );
    for e in errors {
        let field = match (e.field.is_empty(), experiment.field_prefix) {
            (true, "") => "(document)".to_string(),
            (true, prefix) => prefix.trim_end_matches('.').to_string(),
            (false, prefix) => format!("{prefix}{}", e.field),
        };
        let _ = writeln!(err, "  {field}: {}", e.message);
    }
    EXIT_INVALID
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
        // A closed stderr must not end the run.
        let _ = writeln!(std::io::stderr(), "rootlab: {line}");
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
