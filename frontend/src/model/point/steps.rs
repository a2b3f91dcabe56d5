//! Points read off the steps: escape attempts, a refused program, the same command in two
//! places, what a program printed inside a chroot, what a background program saw meanwhile.

use rootlab_shared::result::{RunResult, StepDetails, StepOutcome, StepResult};
use rootlab_shared::spec::{Spec, HOST};

use super::{and_list, Escape, Evidence, OutputLine, Point, Refusal, Tone};
use crate::model::mounts::mount_target_of;

/// How `actor`'s root was set before step `before`: `chroot`, `pivot_root`, or `None`.
fn root_change(result: &RunResult, actor: &str, before: usize) -> Option<&'static str> {
    result.steps[..before.min(result.steps.len())]
        .iter()
        .rev()
        .filter(|s| s.actor == actor && matches!(s.outcome, StepOutcome::Ok))
        .find_map(|s| match s.op.as_str() {
            "chroot" => Some("chroot"),
            "pivot_root" => Some("pivot_root"),
            _ => None,
        })
}

/// Escape attempts: escaped vs contained, side by side.
pub fn escapes(result: &RunResult) -> Option<Point> {
    let attempts: Vec<Escape> = result
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.details {
            Some(StepDetails::Escape {
                escaped,
                root_listing,
                ..
            }) => Some(Escape {
                actor: s.actor.clone(),
                how: root_change(result, &s.actor, i)
                    .unwrap_or("its root")
                    .to_string(),
                escaped: *escaped,
                listing: root_listing.clone(),
            }),
            _ => None,
        })
        .collect();
    if attempts.is_empty() {
        return None;
    }
    let part = |e: &Escape| {
        if e.escaped {
            format!(
                "gets out of {} ({} then lists the host's own /)",
                e.how, e.actor
            )
        } else {
            format!(
                "stays in after {} ({} still sees only its own root)",
                e.how, e.actor
            )
        }
    };
    let parts: Vec<String> = attempts.iter().map(part).collect();
    let tone = match (
        attempts.iter().any(|e| e.escaped),
        attempts.iter().any(|e| !e.escaped),
    ) {
        (true, false) => Tone::Bad,
        (false, true) => Tone::Good,
        _ => Tone::Neutral,
    };
    let sentence = format!(
        "The same escape attempt {}.",
        and_list(&parts).replacen(" and ", " but ", 1)
    );
    Some(Point {
        tone,
        sentence,
        evidence: Evidence::Escapes(attempts),
    })
}

/// A program the kernel refused to start (the missing loader's `No such file or directory`).
pub fn refused(result: &RunResult) -> Option<Point> {
    let (step, e) = result.steps.iter().find_map(|s| match &s.outcome {
        StepOutcome::Error(e) if s.op == "run" => Some((s, e)),
        _ => None,
    })?;
    let errno = e.errno.clone().unwrap_or_else(|| "an error".into());
    let sentence = format!(
        "{} in {} fails with {errno}: {}.",
        step.command,
        step.actor,
        e.explanation.trim_end_matches('.')
    );
    Some(Point {
        tone: Tone::Bad,
        sentence,
        evidence: Evidence::Refused(Refusal {
            actor: step.actor.clone(),
            command: step.command.clone(),
            errno,
            message: e.message.clone(),
            explanation: e.explanation.clone(),
        }),
    })
}

fn printed(s: &StepResult) -> Option<OutputLine> {
    let out = s.output.as_ref()?;
    (s.op == "run" && matches!(s.outcome, StepOutcome::Ok) && !out.stdout.trim().is_empty()).then(
        || OutputLine {
            actor: s.actor.clone(),
            command: s.command.clone(),
            stdout: out.stdout.trim_end().to_string(),
        },
    )
}

/// The same command run by two actors: for `uname`, the one kernel they share.
pub fn same_command(result: &RunResult) -> Option<Point> {
    let lines: Vec<OutputLine> = result.steps.iter().filter_map(printed).collect();
    let pair: Vec<OutputLine> = lines.iter().find_map(|a| {
        let b = lines
            .iter()
            .find(|b| b.command == a.command && b.actor != a.actor)?;
        Some(vec![a.clone(), b.clone()])
    })?;
    let (a, b) = (&pair[0], &pair[1]);
    let sentence = if a.command.starts_with("uname") {
        let release = |l: &OutputLine| l.stdout.split_whitespace().last().unwrap_or("").to_string();
        let root = root_change(result, &a.actor, result.steps.len());
        let own = root.map(|_| ", inside its own rootfs,").unwrap_or("");
        if release(a) == release(b) {
            let root = root_listing(result, &a.actor)
                .filter(|names| {
                    !names
                        .iter()
                        .any(|n| n == "boot" || n.starts_with("vmlinuz"))
                })
                .map(|names| {
                    format!(
                        " {}'s / holds only {}: no kernel image.",
                        a.actor,
                        and_list(&names)
                    )
                })
                .unwrap_or_default();
            format!(
                "{}{own} prints the same kernel release as {}: `{}`. Every container runs on the host's kernel.{root}",
                a.actor, b.actor, release(a)
            )
        } else {
            format!(
                "{} and {} print different kernel releases.",
                a.actor, b.actor
            )
        }
    } else if a.stdout == b.stdout {
        format!(
            "{} and {} print the same for `{}`.",
            a.actor, b.actor, a.command
        )
    } else {
        format!(
            "{} and {} print different things for `{}`.",
            a.actor, b.actor, a.command
        )
    };
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Outputs(pair),
    })
}

/// The names directly under `/` in `actor`'s latest walk of `/`.
fn root_listing(result: &RunResult, actor: &str) -> Option<Vec<String>> {
    let tree = result.snapshots.iter().rev().find_map(|s| {
        let view = s.views.iter().find(|v| v.actor == actor)?;
        view.trees.iter().find(|t| t.root == "/")
    })?;
    Some(
        tree.entries
            .iter()
            .filter_map(|e| e.path.strip_prefix('/'))
            .filter(|p| !p.is_empty() && !p.contains('/'))
            .map(str::to_string)
            .collect(),
    )
}

/// What a program printed after its actor chrooted: `ls /` shows only the rootfs built by hand.
pub fn chrooted_output(result: &RunResult) -> Option<Point> {
    let (line, dir) = result.steps.iter().find_map(|s| {
        root_change(result, &s.actor, s.index)?;
        let dir = result.steps[..s.index.min(result.steps.len())]
            .iter()
            .rev()
            .find(|c| c.actor == s.actor && c.op == "chroot")
            .and_then(|c| c.command.split_whitespace().last().map(str::to_string))?;
        Some((printed(s)?, dir))
    })?;
    let names: Vec<String> = line.stdout.split_whitespace().map(str::to_string).collect();
    let sentence = format!(
        "Inside the chroot, `{}` prints only {}: {}'s / is now {dir}, the rootfs built by hand.",
        line.command,
        and_list(&names),
        line.actor
    );
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Outputs(vec![line]),
    })
}

/// A background program that ran while another actor mounted: what it printed, collected by
/// `wait`, and whether it saw the mount arrive (a line naming the target after one that did not).
pub fn background(result: &RunResult, spec: &Spec) -> Option<Point> {
    let (wait, out) = result.steps.iter().find_map(|s| match &s.details {
        Some(StepDetails::Waited { ended, .. }) if s.op == "wait" => {
            Some((s, ended.iter().find(|o| !o.stdout.trim().is_empty())?))
        }
        _ => None,
    })?;
    let started = result.steps.iter().find(|s| {
        s.actor == wait.actor && matches!(s.details, Some(StepDetails::Started { .. }))
    })?;
    let (mounter, target) = result.steps[started.index + 1..wait.index.min(result.steps.len())]
        .iter()
        .filter(|s| s.actor != wait.actor && matches!(s.outcome, StepOutcome::Ok))
        .find_map(|s| Some((s.actor.as_str(), mount_target_of(spec.steps.get(s.index)?)?)))?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    let naming: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(target))
        .collect();
    let actor = &wait.actor;
    let mounter = if mounter == HOST { "the host" } else { mounter };
    let mut sentence =
        format!("{actor}'s program was already running when {mounter} mounted on {target}");
    match naming.as_slice() {
        [before, after, ..] => sentence.push_str(&format!(
            ", and it saw the mount arrive: it printed “{before}” before and “{after}” after, without restarting."
        )),
        _ => sentence.push_str("; `wait` collected what it printed."),
    }
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Outputs(vec![OutputLine {
            actor: actor.clone(),
            command: short(&started.command, 48),
            stdout: out.stdout.trim_end().to_string(),
        }]),
    })
}

/// `text` cut to `max` characters, with `…` when cut.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}
