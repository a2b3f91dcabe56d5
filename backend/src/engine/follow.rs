//! Following a sandbox: its messages are read with a bound per message and per run, checked
//! against the spec (in order, the right op and actor, nothing twice), relayed as events, and
//! the limits its cgroups report are noted per step. The sandbox is untrusted: anything off is
//! a failed run with a clear message, and never grows the worker.

use std::fs::File;
use std::io::BufReader;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{Snapshot, StepError, StepOutcome, StepResult};
use rootlab_shared::spec::Step;
use rootlab_shared::{Limits, Spec};

use crate::sandbox::cgroup::Cgroups;
use crate::sandbox::command::command_of;
use crate::sandbox::commit::MAX_LAYER;
use crate::sandbox::wire::{LabMessage, MAX_MESSAGE, MAX_RUN};
use crate::sandbox::{self, channel, sys};
use base64::Engine as _;

/// Extra time the engine grants the jail's own deadline before killing the jail itself.
const BACKSTOP_MS: u64 = 2000;
/// The longest `Fatal` message passed on.
const MAX_FATAL: usize = 2000;

/// A commit step's layer tar as it came from the sandbox: decoded, bounded, not yet read.
pub struct ReceivedLayer {
    pub tar: Vec<u8>,
    /// What the sandbox says the tar leaves out (FIFOs, sockets...), bounded.
    pub skipped: Vec<String>,
}

/// What the engine does with a finished `commit` step (its index and result) and its layer.
pub type CommitHook<'a> = &'a mut dyn FnMut(usize, ReceivedLayer, &mut StepResult);

/// How following a sandbox ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The lab reported every step.
    Done,
    /// Its message pipe closed before that (it died, or set-up failed).
    Closed,
    /// The engine's backstop deadline passed.
    Backstop,
    /// It sent something it must not; the message says what.
    Violation(String),
    /// Whoever the engine reports to hung up (the worker's coordinator is gone).
    Abandoned,
}

/// What the engine saw of one sandbox.
pub struct Followed {
    pub steps: Vec<StepResult>,
    pub snapshots: Vec<Snapshot>,
    pub ending: Ending,
    pub fatal: Option<String>,
    /// The step running when the sandbox stopped, and since when.
    pub current: Option<(usize, Instant)>,
    /// Limits a cgroup reported hit, with the step during which it first was.
    pub hits: Vec<(&'static str, Option<usize>)>,
    /// What the lab said about the run's end (background programs it found still running).
    pub notes: Vec<String>,
}

/// A launched sandbox being followed: its jail and the lab's message pipe, with the deadline.
pub struct Running {
    jail: sys::Pid,
    fd: RawFd,
    reader: BufReader<File>,
    deadline: Instant,
    /// A descriptor whose hang-up means nobody waits for this run any more.
    hangup: Option<RawFd>,
    received: usize,
}

enum Next {
    Message(LabMessage),
    Closed,
    Backstop,
    Abandoned,
    Bad(String),
}

impl Running {
    pub fn new(l: sandbox::Launched, limits: &Limits, hangup: Option<RawFd>) -> Self {
        Running {
            jail: l.jail,
            fd: sys::raw(&l.messages),
            reader: BufReader::new(l.messages),
            deadline: Instant::now() + Duration::from_millis(limits.wall_ms + BACKSTOP_MS),
            hangup,
            received: 0,
        }
    }

    fn next(&mut self) -> Next {
        if self.reader.buffer().is_empty() {
            if let Some(stop) = self.wait() {
                return stop;
            }
        }
        match channel::recv::<LabMessage>(&mut self.reader, MAX_MESSAGE) {
            Ok(None) => Next::Closed,
            Ok(Some((msg, size))) => {
                self.received += size;
                if self.received > MAX_RUN {
                    Next::Bad(format!("it sent more than {MAX_RUN} bytes"))
                } else {
                    Next::Message(msg)
                }
            }
            Err(e) => Next::Bad(format!("an unreadable message ({e})")),
        }
    }

    /// Wait until the lab's pipe is readable; `Some` when something else happened first.
    fn wait(&mut self) -> Option<Next> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let mut fds = vec![self.fd];
            fds.extend(self.hangup);
            let ready = sys::poll_events(&fds, Some(left.as_millis() as u64)).ok()?;
            if ready.get(1).is_some_and(|r| r.hung_up) {
                return Some(Next::Abandoned);
            }
            if ready.get(1).is_some_and(|r| r.readable) {
                // Input nobody should send now: stop watching it rather than spin on it.
                self.hangup = None;
            }
            if ready[0].readable || ready[0].hung_up {
                return None;
            }
            if Instant::now() >= self.deadline {
                return Some(Next::Backstop);
            }
        }
    }

    /// Kill the sandbox (its jail; the rest dies with it).
    fn kill(&self) {
        let _ = sys::kill(self.jail);
    }

    /// Wait until every sandbox process is gone (the pipe closes), then reap the jail.
    pub fn reap(mut self) -> Option<sys::Exit> {
        while let Next::Message(_) = self.next() {}
        sys::wait(self.jail).ok()
    }
}

/// Relay the lab's messages until it reports `Done` (its tear-down is left to
/// [`Running::reap`], after the result is out), the pipe closes, or something goes wrong.
pub fn follow(
    mut sandbox: Running,
    spec: &Spec,
    cgroups: Option<&Cgroups>,
    on_commit: CommitHook<'_>,
    on_event: &mut dyn FnMut(RunEvent),
) -> (Followed, Option<sys::Exit>, Option<Running>) {
    let mut t = Tracker {
        spec,
        cgroups,
        layer: None,
        on_commit,
        f: Followed {
            steps: vec![],
            snapshots: vec![],
            ending: Ending::Closed,
            fatal: None,
            current: None,
            hits: vec![],
            notes: vec![],
        },
        ready: false,
    };
    let ending = loop {
        match sandbox.next() {
            Next::Message(msg) => match t.accept(msg, on_event) {
                Ok(true) => {
                    t.f.ending = Ending::Done;
                    return (t.f, None, Some(sandbox));
                }
                Ok(false) => {}
                Err(why) => break Ending::Violation(why),
            },
            Next::Closed => break Ending::Closed,
            Next::Backstop => break Ending::Backstop,
            Next::Abandoned => break Ending::Abandoned,
            Next::Bad(why) => break Ending::Violation(why),
        }
    };
    if ending != Ending::Closed {
        sandbox.kill();
    }
    t.f.ending = ending;
    t.note_limits(t.f.current.map(|(i, _)| i));
    let jail = sandbox.reap();
    (t.f, jail, None)
}

/// The lab's end-of-run notes, at most [`MAX_NOTES`] of at most [`MAX_FATAL`] bytes each.
fn bounded_notes(notes: Vec<String>) -> Vec<String> {
    const MAX_NOTES: usize = 16;
    notes
        .into_iter()
        .take(MAX_NOTES)
        .map(|mut n| {
            let cut = (0..=MAX_FATAL.min(n.len()))
                .rev()
                .find(|i| n.is_char_boundary(*i));
            n.truncate(cut.unwrap_or(0));
            n
        })
        .collect()
}

/// Checks each message against the spec and what came before.
struct Tracker<'a> {
    spec: &'a Spec,
    cgroups: Option<&'a Cgroups>,
    /// The running commit step's layer, once received.
    layer: Option<ReceivedLayer>,
    on_commit: CommitHook<'a>,
    f: Followed,
    ready: bool,
}

impl Tracker<'_> {
    /// Take one message; `Ok(true)` once the run is complete.
    fn accept(
        &mut self,
        msg: LabMessage,
        on_event: &mut dyn FnMut(RunEvent),
    ) -> Result<bool, String> {
        let steps = &self.spec.steps;
        if !self.ready && !matches!(msg, LabMessage::Ready | LabMessage::Fatal { .. }) {
            return Err("a message before `ready`".into());
        }
        match msg {
            LabMessage::Ready if self.ready => return Err("`ready` twice".into()),
            LabMessage::Ready => {
                self.ready = true;
                on_event(RunEvent::Started { steps: steps.len() });
            }
            LabMessage::StepStarted { index, op, actor } => {
                self.expect_step(index, &op, &actor, self.f.current.is_none())?;
                self.f.current = Some((index, Instant::now()));
                on_event(RunEvent::StepStarted { index, op, actor });
            }
            LabMessage::Snapshot { snapshot } => {
                let at = self.f.current.map(|(i, _)| i);
                let is_snapshot = at.is_some_and(|i| matches!(steps[i], Step::Snapshot { .. }));
                let taken = self.f.snapshots.len()
                    > self.f.steps.iter().filter(|s| s.op == "snapshot").count();
                if !is_snapshot || taken || Some(snapshot.step) != at {
                    return Err("a snapshot no snapshot step asked for".into());
                }
                self.f.snapshots.push(*snapshot);
            }
            LabMessage::Layer { step, tar, skipped } => self.accept_layer(step, &tar, skipped)?,
            LabMessage::StepFinished { mut result } => {
                let started = self.f.current.map(|(i, _)| i);
                if started != Some(result.index) {
                    return Err(format!("step {} finished without starting", result.index));
                }
                self.expect_step(result.index, &result.op, &result.actor, true)?;
                if matches!(steps[result.index], Step::Commit { .. }) {
                    self.finish_commit(&mut result)?;
                }
                self.f.current = None;
                self.f.steps.push((*result).clone());
                on_event(RunEvent::StepFinished { result });
                self.note_limits(Some(self.f.steps.len() - 1));
            }
            LabMessage::Fatal { message } => {
                let mut message = message;
                if message.len() > MAX_FATAL {
                    let cut = (0..=MAX_FATAL).rev().find(|i| message.is_char_boundary(*i));
                    message.truncate(cut.unwrap_or(0));
                }
                self.f.fatal = Some(message);
            }
            LabMessage::Done { notes } => {
                if self.f.steps.len() != steps.len() || self.f.current.is_some() {
                    return Err("`done` before every step ran".into());
                }
                self.f.notes = bounded_notes(notes);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A layer tar: only during a commit step, for that step, once, base64 of at most
    /// [`MAX_LAYER`] bytes.
    fn accept_layer(&mut self, step: usize, tar: &str, skipped: Vec<String>) -> Result<(), String> {
        let at = self.f.current.map(|(i, _)| i);
        let is_commit = at.is_some_and(|i| matches!(self.spec.steps[i], Step::Commit { .. }));
        if !is_commit || Some(step) != at || self.layer.is_some() {
            return Err("a layer no commit step asked for".into());
        }
        if tar.len() > MAX_LAYER.div_ceil(3) * 4 {
            return Err(format!("a layer tar of more than {MAX_LAYER} bytes"));
        }
        let tar = base64::engine::general_purpose::STANDARD
            .decode(tar)
            .map_err(|e| format!("a layer that is not base64 ({e})"))?;
        let skipped = bounded_notes(skipped);
        self.layer = Some(ReceivedLayer { tar, skipped });
        Ok(())
    }

    /// A commit step's result: what the sandbox said of it is replaced by what the engine
    /// reads of its layer (an `ok` needs one).
    fn finish_commit(&mut self, result: &mut StepResult) -> Result<(), String> {
        result.details = None;
        match (self.layer.take(), &result.outcome) {
            (Some(layer), StepOutcome::Ok) => (self.on_commit)(result.index, layer, result),
            (None, StepOutcome::Ok) => {
                return Err("a commit step finished without its layer".into())
            }
            _ => {}
        }
        Ok(())
    }

    /// Step `index` must be the next one, with the spec's op and actor.
    fn expect_step(&self, index: usize, op: &str, actor: &str, fresh: bool) -> Result<(), String> {
        let next = self.f.steps.len();
        let Some(step) = self
            .spec
            .steps
            .get(index)
            .filter(|_| index == next && fresh)
        else {
            return Err(format!("step {index} out of order (expected step {next})"));
        };
        let want_actor = step.actor().unwrap_or("engine");
        if step.op_name() != op || want_actor != actor {
            return Err(format!("step {index} is not `{op}` by {actor}"));
        }
        Ok(())
    }

    /// Record limits that were hit for the first time, during `step`.
    fn note_limits(&mut self, step: Option<usize>) {
        let Some(cgroups) = self.cgroups else { return };
        for which in cgroups.limits_hit() {
            if !self.f.hits.iter().any(|(w, _)| *w == which) {
                self.f.hits.push((which, step));
            }
        }
    }
}

/// The step that was running when the sandbox stopped, as a result that says why it has no
/// outcome of its own.
pub fn interrupted_step(
    spec: &Spec,
    limits: &Limits,
    f: &Followed,
    why: &str,
) -> Option<StepResult> {
    let (index, since) = f.current?;
    let step = spec.steps.get(index)?;
    Some(StepResult {
        index,
        op: step.op_name().to_string(),
        actor: step.actor().unwrap_or("engine").to_string(),
        command: command_of(step, limits),
        syscalls: vec![],
        outcome: StepOutcome::Error(StepError {
            errno: None,
            code: None,
            message: format!("stopped during this step: {why}"),
            explanation: "the sandbox ended while this step ran; its own result was lost".into(),
        }),
        output: None,
        details: None,
        snapshot: None,
        duration_us: since.elapsed().as_micros() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::result::{StepOutcome, StepResult};

    fn spec() -> Spec {
        serde_json::from_value(serde_json::json!({ "steps": [
            { "op": "mkdir", "path": "/a" },
            { "op": "snapshot", "label": "s", "paths": ["/"] } ] }))
        .unwrap()
    }

    fn started(index: usize, op: &str, actor: &str) -> LabMessage {
        LabMessage::StepStarted {
            index,
            op: op.into(),
            actor: actor.into(),
        }
    }

    fn finished(index: usize, op: &str, actor: &str) -> LabMessage {
        LabMessage::StepFinished {
            result: Box::new(StepResult {
                index,
                op: op.into(),
                actor: actor.into(),
                command: String::new(),
                syscalls: vec![],
                outcome: StepOutcome::Ok,
                output: None,
                details: None,
                snapshot: None,
                duration_us: 0,
            }),
        }
    }

    fn snapshot(step: usize) -> LabMessage {
        LabMessage::Snapshot {
            snapshot: Box::new(Snapshot {
                label: "s".into(),
                step,
                views: vec![],
                layers: vec![],
            }),
        }
    }

    /// Feed messages in order; the index of the first refused one and why.
    fn feed(msgs: Vec<LabMessage>) -> Result<bool, (usize, String)> {
        feed_spec(spec(), msgs)
    }

    fn feed_spec(spec: Spec, msgs: Vec<LabMessage>) -> Result<bool, (usize, String)> {
        let mut hook = |_: usize, l: ReceivedLayer, r: &mut StepResult| {
            r.command = format!("{} bytes", l.tar.len());
        };
        let mut t = Tracker {
            spec: &spec,
            cgroups: None,
            layer: None,
            on_commit: &mut hook,
            f: Followed {
                steps: vec![],
                snapshots: vec![],
                ending: Ending::Closed,
                fatal: None,
                current: None,
                hits: vec![],
                notes: vec![],
            },
            ready: false,
        };
        let mut done = false;
        for (i, m) in msgs.into_iter().enumerate() {
            done = t.accept(m, &mut |_| {}).map_err(|e| (i, e))?;
        }
        Ok(done)
    }

    fn honest() -> Vec<LabMessage> {
        vec![
            LabMessage::Ready,
            started(0, "mkdir", "host"),
            finished(0, "mkdir", "host"),
            started(1, "snapshot", "engine"),
            snapshot(1),
            finished(1, "snapshot", "engine"),
            LabMessage::Done { notes: vec![] },
        ]
    }

    #[test]
    fn an_honest_sandbox_completes() {
        assert_eq!(feed(honest()), Ok(true));
    }

    #[test]
    fn every_kind_of_lie_is_refused() {
        let lies: Vec<(Vec<LabMessage>, &str)> = vec![
            (vec![started(0, "mkdir", "host")], "before `ready`"),
            (vec![LabMessage::Ready, LabMessage::Ready], "twice"),
            (
                vec![LabMessage::Ready, started(1, "snapshot", "engine")],
                "out of order",
            ),
            (vec![LabMessage::Ready, started(0, "run", "host")], "is not"),
            (vec![LabMessage::Ready, started(0, "mkdir", "c1")], "is not"),
            (
                vec![LabMessage::Ready, started(0, "mkdir", "host"), snapshot(0)],
                "no snapshot step",
            ),
            (
                vec![LabMessage::Ready, finished(0, "mkdir", "host")],
                "without starting",
            ),
            (
                vec![
                    LabMessage::Ready,
                    started(0, "mkdir", "host"),
                    finished(0, "mkdir", "host"),
                    LabMessage::Done { notes: vec![] },
                ],
                "before every step",
            ),
        ];
        for (msgs, why) in lies {
            let n = msgs.len();
            let refused = feed(msgs).expect_err(why);
            assert_eq!(refused.0, n - 1, "{why}: refused the wrong message");
            assert!(refused.1.contains(why), "{why}: {}", refused.1);
        }
        let mut twice = honest();
        twice.insert(5, snapshot(1));
        assert!(feed(twice).unwrap_err().1.contains("no snapshot step"));
    }

    fn layer(step: usize, tar: &str) -> LabMessage {
        LabMessage::Layer {
            step,
            tar: tar.into(),
            skipped: vec![],
        }
    }

    /// A commit step's layer: only during it, once, base64, bounded; an `ok` needs one.
    #[test]
    fn layers_come_only_for_a_commit_step_once_and_bounded() {
        let commit = || -> Spec {
            serde_json::from_value(serde_json::json!({ "steps": [
                { "op": "mkdir", "path": "/a" },
                { "op": "commit", "container": "web", "name": "x" } ] }))
            .unwrap()
        };
        let start = || {
            vec![
                LabMessage::Ready,
                started(0, "mkdir", "host"),
                finished(0, "mkdir", "host"),
                started(1, "commit", "engine"),
            ]
        };
        let mut honest = start();
        honest.extend([layer(1, "AAAA"), finished(1, "commit", "engine")]);
        assert_eq!(feed_spec(commit(), honest), Ok(false));
        let huge = "A".repeat(MAX_LAYER.div_ceil(3) * 4 + 4);
        let lies: Vec<(Vec<LabMessage>, &str)> = vec![
            (
                vec![
                    LabMessage::Ready,
                    started(0, "mkdir", "host"),
                    layer(0, "AAAA"),
                ],
                "no commit step",
            ),
            ([start(), vec![layer(0, "AAAA")]].concat(), "no commit step"),
            (
                [start(), vec![layer(1, "AAAA"), layer(1, "AAAA")]].concat(),
                "no commit step",
            ),
            (
                [start(), vec![layer(1, "not base64!")]].concat(),
                "not base64",
            ),
            ([start(), vec![layer(1, &huge)]].concat(), "more than"),
            (
                [start(), vec![finished(1, "commit", "engine")]].concat(),
                "without its layer",
            ),
        ];
        for (msgs, why) in lies {
            let n = msgs.len();
            let refused = feed_spec(commit(), msgs).expect_err(why);
            assert_eq!(refused.0, n - 1, "{why}: refused the wrong message");
            assert!(refused.1.contains(why), "{why}: {}", refused.1);
        }
    }
}
