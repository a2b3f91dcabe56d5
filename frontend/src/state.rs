//! The page's state and every change to it, as an `Action` reduced by `impl Reducible`.

use std::rc::Rc;

use rootlab_shared::events::RunEvent;
use rootlab_shared::question::Question;
use rootlab_shared::result::{RunResult, StepResult};
use rootlab_shared::spec::Spec;
use rootlab_shared::validate::FieldError;
use rootlab_shared::Limits;
use yew::Reducible;

use crate::api::{ApiError, Preset, PresetSummary, RunTicket};
use crate::model::compare::SideRef;
use crate::model::lesson_pair;
use crate::model::point::{self, Point};
use crate::model::quiz::{self, Progress as QuizProgress};
use crate::model::validation;

/// Something fetched from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Remote<T> {
    Loading,
    Ready(T),
    Failed(String),
}

/// Where the current run is.
#[derive(Clone, Debug, PartialEq)]
pub enum RunPhase {
    Idle,
    Running(Progress),
    /// The server said 429: a countdown, then the same run again.
    Waiting {
        seconds_left: u32,
        message: String,
    },
    Failed(String),
    Cancelled,
    Done,
}

/// What the stream has told about a run so far.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Progress {
    pub run_id: Option<RunTicket>,
    pub queued: Option<usize>,
    pub total: Option<usize>,
    pub current: Option<(usize, String, String)>,
    pub finished: Vec<StepResult>,
}

/// Which part of the composer shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Lessons,
    Compose,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub presets: Remote<Vec<PresetSummary>>,
    /// The lesson the spec came from.
    pub preset: Option<PresetSummary>,
    /// The editor still holds that lesson's spec unchanged (a share link can name it by id).
    pub pristine: bool,
    pub pane: Pane,
    /// The JSON editor's text: the source of truth for the experiment.
    pub text: String,
    /// The text parsed, when it has the right shape.
    pub spec: Option<Spec>,
    /// Problems found in the page (shared validation) or by the server.
    pub issues: Vec<FieldError>,
    pub limits: Limits,
    pub run: RunPhase,
    pub result: Option<Rc<RunResult>>,
    /// The spec the shown result ran (the editor may have moved on).
    pub result_spec: Option<Rc<Spec>>,
    pub compare: Option<(SideRef, SideRef)>,
    /// What the shown result should make obvious, when its shape has a point.
    pub point: Option<Point>,
    /// Counts finished runs: the page reveals each new result once.
    pub runs_done: usize,
    /// The last request could not reach the server (the page polls `/healthz` until it answers).
    pub server_down: bool,
    /// That request was a run: run it again when the server is back.
    pub rerun_after_outage: bool,
    /// That request fetched a lesson: (its id, run it too), to fetch again when the server is back.
    pub reopen_after_outage: Option<(String, bool)>,
    /// The open lesson's question, asked before ▶ Run.
    pub question: Option<Rc<Question>>,
    /// The learner's pick among its choices (none: the run skips the question).
    pub pick: Option<usize>,
    /// The shown result graded the question of lesson `.0` (the card shows `.1`).
    pub graded: Option<(String, quiz::Graded)>,
    /// Answers per lesson, kept in localStorage.
    pub quiz: QuizProgress,
}

impl Default for State {
    fn default() -> Self {
        let text = include_str!("../starter.json").to_string();
        let checked = validation::check(&text, &Limits::default());
        State {
            presets: Remote::Loading,
            preset: None,
            pristine: false,
            pane: Pane::Lessons,
            text,
            spec: checked.spec,
            issues: checked.issues,
            limits: Limits::default(),
            run: RunPhase::Idle,
            result: None,
            result_spec: None,
            compare: None,
            point: None,
            runs_done: 0,
            server_down: false,
            rerun_after_outage: false,
            reopen_after_outage: None,
            question: None,
            pick: None,
            graded: None,
            quiz: QuizProgress::new(),
        }
    }
}

pub enum Action {
    PresetsLoaded(Result<Vec<PresetSummary>, ApiError>),
    LimitsLoaded(Limits),
    OpenPreset(Preset),
    /// The editor or the form produced new text.
    Edit(String),
    ShowPane(Pane),
    RunStarted,
    RunId(RunTicket),
    Event(RunEvent),
    RunEnded(Result<RunResult, ApiError>),
    /// One second of a 429 countdown passed.
    Tick,
    Compare(SideRef, SideRef),
    /// The learner picked a choice of the question (or cleared the pick).
    Pick(Option<usize>),
    /// `/healthz` answered again after a request could not reach the server.
    ServerBack,
    /// Fetching lesson `id` (to run it when `run`) failed.
    PresetFailed {
        id: String,
        run: bool,
        error: ApiError,
    },
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::PresetsLoaded(Ok(list)) => s.presets = Remote::Ready(list),
            Action::PresetsLoaded(Err(e)) => {
                s.server_down |= matches!(e, ApiError::Network(_));
                s.presets = Remote::Failed(e.message());
            }
            Action::LimitsLoaded(limits) => {
                s.limits = limits;
                s.revalidate();
            }
            Action::OpenPreset(preset) => {
                s.text = serde_json::to_string_pretty(&preset.spec).unwrap_or_default();
                s.preset = Some(PresetSummary::from(&preset));
                s.question = preset.question.clone().map(Rc::new);
                s.pick = None;
                s.pristine = true;
                s.revalidate();
            }
            Action::Edit(text) => {
                s.pristine = s.pristine && text == s.text;
                s.text = text;
                s.revalidate();
            }
            Action::ShowPane(pane) => s.pane = pane,
            Action::RunStarted => s.run = RunPhase::Running(Progress::default()),
            Action::RunId(id) => s.progress(|p| p.run_id = Some(id)),
            Action::Event(event) => s.progress(|p| apply_event(p, event)),
            Action::RunEnded(outcome) => s.end_run(outcome),
            Action::Tick => {
                if let RunPhase::Waiting { seconds_left, .. } = &mut s.run {
                    *seconds_left = seconds_left.saturating_sub(1);
                }
            }
            Action::Compare(a, b) => s.compare = Some((a, b)),
            Action::Pick(pick) => s.pick = pick,
            Action::ServerBack => {
                s.server_down = false;
                if s.rerun_after_outage || s.reopen_after_outage.is_some() {
                    s.rerun_after_outage = false;
                    s.reopen_after_outage = None;
                    s.run = RunPhase::Idle;
                }
            }
            Action::PresetFailed { id, run, error } => {
                if matches!(error, ApiError::Network(_)) {
                    s.server_down = true;
                    s.reopen_after_outage = Some((id, run));
                    s.run = RunPhase::Failed(
                        "The server is not reachable: the lesson could not be loaded. It loads by itself when the server is back.".into(),
                    );
                } else {
                    s.end_run(Err(error));
                }
            }
        }
        Rc::new(s)
    }
}

fn apply_event(p: &mut Progress, event: RunEvent) {
    match event {
        RunEvent::Queued { position } => p.queued = Some(position),
        RunEvent::Started { steps } => {
            p.queued = None;
            p.total = Some(steps);
        }
        RunEvent::StepStarted { index, op, actor } => p.current = Some((index, op, actor)),
        RunEvent::StepFinished { result } => p.finished.push(*result),
        RunEvent::Finished { .. } => {}
    }
}

impl State {
    fn revalidate(&mut self) {
        let checked = validation::check(&self.text, &self.limits);
        self.spec = checked.spec;
        self.issues = checked.issues;
    }

    fn progress(&mut self, f: impl FnOnce(&mut Progress)) {
        if let RunPhase::Running(p) = &mut self.run {
            f(p);
        }
    }

    fn end_run(&mut self, outcome: Result<RunResult, ApiError>) {
        match outcome {
            Ok(result) => {
                self.result_spec = self.spec.clone().map(Rc::new);
                self.compare = lesson_pair::default_pair(&result, self.result_spec.as_deref());
                self.point = point::point(&result, self.result_spec.as_deref());
                self.graded = self.grade(&result);
                self.result = Some(Rc::new(result));
                self.runs_done += 1;
                self.run = RunPhase::Done;
            }
            Err(ApiError::Cancelled) => self.run = RunPhase::Cancelled,
            Err(ApiError::Network(_)) => {
                self.server_down = true;
                self.rerun_after_outage = true;
                self.run = RunPhase::Failed(
                    "The server is not reachable: the run did not finish. It runs again by itself when the server is back.".into(),
                );
            }
            Err(ApiError::Busy {
                retry_after,
                code,
                message,
            }) => {
                let why = match code.as_str() {
                    "rate_limited" => "Too many runs from this browser at once",
                    _ => "Every sandbox on the server is busy and its queue is full",
                };
                let message = format!("{why} (HTTP 429: {}).", message.trim_end_matches('.'));
                self.run = RunPhase::Waiting {
                    seconds_left: retry_after.max(1),
                    message,
                };
            }
            Err(ApiError::Invalid { message, fields }) => {
                self.issues = fields;
                self.run = RunPhase::Failed(format!("The server refused the spec: {message}"));
            }
            Err(e) => self.run = RunPhase::Failed(e.message()),
        }
    }

    /// Grades the open lesson's question on its result (only when the lesson ran unchanged) and
    /// counts the answer; the pick is used up, so running again without a new pick skips.
    fn grade(&mut self, result: &RunResult) -> Option<(String, quiz::Graded)> {
        let (question, preset) = (self.question.clone()?, self.preset.clone()?);
        if !self.pristine {
            return None;
        }
        let verdict = question.verdict(self.pick.take(), result);
        if verdict.picked.is_some() {
            quiz::record(&mut self.quiz, &preset.id, verdict.correct);
        }
        Some((preset.id, quiz::graded(&question, &verdict)))
    }

    /// The question to ask now: the open lesson's, while its spec is unchanged.
    pub fn open_question(&self) -> Option<Rc<Question>> {
        self.question.clone().filter(|_| self.pristine)
    }

    /// Is a run in flight (or about to be retried)?
    pub fn busy(&self) -> bool {
        matches!(self.run, RunPhase::Running(_) | RunPhase::Waiting { .. })
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
