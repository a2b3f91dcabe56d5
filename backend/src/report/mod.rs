//! The human-readable report of a run for the terminal: steps with their outcome and output,
//! each snapshot's trees (like `tree`) and mount tables (like `findmnt`), and what changed.

mod diffs;
mod mounts;
#[cfg(test)]
mod tests;
mod tree;

use std::fmt::Write as _;

use rootlab_shared::image::LayerEntryKind;
use rootlab_shared::result::{
    CommandOutput, Committed, RunResult, RunStatus, Snapshot, StepDetails, StepOutcome, StepResult,
    View,
};
use rootlab_shared::spec::Spec;

use diffs::differences;
pub use mounts::mount_table;
pub use tree::tree_block;

/// ANSI colours, or none (not a terminal, `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
    fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    fn cyan(self, t: &str) -> String {
        self.paint("36", t)
    }
}

/// The whole report. `spec` (when known) tells a mount the host made itself from one that leaked.
pub fn render(result: &RunResult, spec: Option<&Spec>, style: Style) -> String {
    let mut out = String::new();
    header(&mut out, result, style);
    let _ = writeln!(out, "\n{}", style.bold("Steps"));
    for step in &result.steps {
        step_block(&mut out, step, style);
    }
    for (i, snap) in result.snapshots.iter().enumerate() {
        snapshot_block(&mut out, result, i, snap, spec, style);
    }
    expectations_block(&mut out, result, style);
    out
}

/// Each expectation of the spec, held or not, with what the kernel did.
fn expectations_block(out: &mut String, r: &RunResult, style: Style) {
    if r.expectations.is_empty() {
        return;
    }
    let held = r.expectations.iter().filter(|g| g.passed).count();
    let title = format!("Expectations: {held} of {} held", r.expectations.len());
    let _ = writeln!(out, "\n{}", style.bold(&title));
    for g in &r.expectations {
        let mark = if g.passed {
            style.green("held")
        } else {
            style.red("FAILED")
        };
        let _ = writeln!(out, "[{}] {mark} {}", g.index, g.expected);
        if !g.passed {
            let _ = writeln!(out, "    but {}", g.actual);
        }
    }
}

fn header(out: &mut String, r: &RunResult, style: Style) {
    let _ = writeln!(out, "{}", style.bold(&format!("== {} ==", r.title)));
    let status = match r.status {
        RunStatus::Completed => style.green("completed"),
        RunStatus::LimitExceeded => style.red("stopped: limit exceeded"),
        RunStatus::Cancelled => style.yellow("cancelled"),
        RunStatus::Failed => style.red("failed"),
    };
    let _ = writeln!(
        out,
        "{status} in {} · kernel {} (shared by every container) · image {} ({} programs)",
        millis(r.duration_us),
        r.kernel_release,
        r.image.name,
        r.image.programs.len()
    );
    if let Some(m) = &r.message {
        let line = match r.status {
            RunStatus::Completed => style.yellow(m),
            _ => style.red(m),
        };
        let _ = writeln!(out, "{line}");
    }
}

fn millis(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn step_block(out: &mut String, s: &StepResult, style: Style) {
    let what = if s.op == "snapshot" {
        format!(
            "snapshot{}",
            s.snapshot
                .map(|i| format!(" #{}", i + 1))
                .unwrap_or_default()
        )
    } else if s.command.is_empty() {
        s.op.clone()
    } else {
        format!("$ {}", s.command)
    };
    let _ = writeln!(out, "[{}] {:<6} {}", s.index, style.cyan(&s.actor), what);
    let _ = writeln!(
        out,
        "    {}",
        outcome_line(&s.outcome, s.duration_us, style)
    );
    if let Some(o) = &s.output {
        output_box(out, o, style);
    }
    match &s.details {
        Some(StepDetails::BuildRootfs { copied, ldd }) => {
            let _ = writeln!(out, "    copied into the rootfs:");
            for c in copied {
                let _ = writeln!(out, "      {} <- {}  ({})", c.dest, c.source, c.reason);
            }
            ldd.iter().for_each(|o| output_box(out, o, style));
        }
        Some(StepDetails::Escape {
            escaped,
            root_listing,
            trace,
        }) => {
            let verdict = if *escaped {
                style.red("ESCAPED: the actor reached a root other than its own")
            } else {
                style.green("contained: the climb stopped at the actor's own root")
            };
            let _ = writeln!(out, "    {verdict}");
            trace.iter().for_each(|t| {
                let _ = writeln!(out, "      · {t}");
            });
            let _ = writeln!(out, "      ls / afterwards: {}", root_listing.join(" "));
        }
        Some(StepDetails::Started { pid }) => {
            let pid = pid.map_or(String::new(), |p| format!(" as pid {p}"));
            let _ = writeln!(out, "    started in the background{pid}");
        }
        Some(StepDetails::Waited {
            ended,
            still_running,
        }) => {
            ended.iter().for_each(|o| output_box(out, o, style));
            for p in still_running {
                let _ = writeln!(out, "    still running: {}", p.argv.join(" "));
            }
        }
        Some(StepDetails::Committed(c)) => committed_block(out, c, style),
        None => {}
    }
}

/// The committed layer, entry by entry: `A` added or changed, `D` deleted (a whiteout),
/// `O` an opaque directory (what was below it is hidden).
fn committed_block(out: &mut String, c: &Committed, style: Style) {
    let _ = writeln!(
        out,
        "    layer {} · {} entries · {} bytes of files ({} bytes of tar)",
        c.diff_id,
        c.entries.len(),
        c.size,
        c.tar_bytes
    );
    for e in &c.entries {
        let (mark, path) = match e.kind {
            LayerEntryKind::Whiteout => (style.red("D"), e.path.clone()),
            LayerEntryKind::Dir if e.opaque => (style.yellow("O"), format!("{}/", e.path)),
            LayerEntryKind::Dir => ("A".to_string(), format!("{}/", e.path)),
            _ => (style.green("A"), e.path.clone()),
        };
        let target = e.target.as_ref().map_or(String::new(), |t| match e.kind {
            LayerEntryKind::Hardlink => format!(" => {t}"),
            _ => format!(" -> {t}"),
        });
        let _ = writeln!(out, "      {mark} {path}{target}");
    }
    for s in &c.skipped {
        let _ = writeln!(out, "      {}", style.dim(&format!("skipped {s}")));
    }
    match (&c.image, &c.note) {
        (Some(img), _) => {
            let line = format!(
                "stored as {} ({}, {} layers)",
                img.name, img.digest, img.layers
            );
            let _ = writeln!(out, "    {}", style.green(&line));
        }
        (None, Some(note)) => {
            let _ = writeln!(out, "    {}", style.yellow(note));
        }
        (None, None) => {}
    }
}

fn outcome_line(outcome: &StepOutcome, us: u64, style: Style) -> String {
    match outcome {
        StepOutcome::Ok => format!(
            "{} {}",
            style.green("OK"),
            style.dim(&format!("({})", millis(us)))
        ),
        StepOutcome::Error(e) => {
            let errno = e
                .errno
                .as_deref()
                .map(|n| format!("{n}: "))
                .unwrap_or_default();
            format!(
                "{} {errno}{}\n    {} {}",
                style.red("ERROR"),
                e.message,
                style.dim("why:"),
                e.explanation
            )
        }
        StepOutcome::Skipped { reason } => format!("{} {reason}", style.yellow("SKIPPED")),
    }
}

/// A program's output in a box, stdout then stderr, with how it ended.
fn output_box(out: &mut String, o: &CommandOutput, style: Style) {
    let _ = writeln!(out, "    ┌─ {}", style.dim(&o.argv.join(" ")));
    for line in o.stdout.lines() {
        let _ = writeln!(out, "    │ {line}");
    }
    for line in o.stderr.lines() {
        let _ = writeln!(out, "    │ {}", style.red(line));
    }
    let end = match (&o.exit_code, &o.signal) {
        (_, Some(sig)) => style.red(&format!("killed by {sig}")),
        (Some(0), _) => style.green("exit 0"),
        (Some(c), _) => style.red(&format!("exit {c}")),
        (None, None) => "did not run".to_string(),
    };
    let trunc = if o.truncated {
        " (output truncated)"
    } else {
        ""
    };
    let _ = writeln!(out, "    └─ {end}{trunc}");
}

fn snapshot_block(
    out: &mut String,
    r: &RunResult,
    i: usize,
    snap: &Snapshot,
    spec: Option<&Spec>,
    style: Style,
) {
    let title = format!(
        "Snapshot #{} \"{}\" (after step {})",
        i + 1,
        snap.label,
        snap.step
    );
    let _ = writeln!(out, "\n{}", style.bold(&title));
    for view in &snap.views {
        view_block(out, view, style);
    }
    for layer in &snap.layers {
        let _ = writeln!(out, "\n  layer {} (as stored)", style.cyan(&layer.name));
        tree_block(out, &layer.tree, style);
    }
    differences(out, r, i, spec, style);
}

fn view_block(out: &mut String, view: &View, style: Style) {
    let _ = writeln!(out, "\n  view {}", style.cyan(&view.actor));
    if view.mounts.is_empty() {
        let _ = writeln!(
            out,
            "  mount table: {}",
            style.dim("(no mount is visible from this root)")
        );
    } else {
        let _ = writeln!(out, "  mount table:");
        out.push_str(&mount_table(&view.mounts, "    "));
    }
    for tree in &view.trees {
        tree_block(out, tree, style);
    }
}
