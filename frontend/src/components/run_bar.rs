//! Run and Cancel, and what the run is doing: queued, step by step, waiting out a 429, failed.

use yew::prelude::*;

use rootlab_shared::result::StepOutcome;

use crate::state::{Progress, RunPhase};

#[derive(Properties, PartialEq)]
pub struct RunBarProps {
    pub phase: RunPhase,
    /// The spec has problems: running is pointless.
    pub blocked: bool,
    pub on_run: Callback<()>,
    pub on_cancel: Callback<()>,
}

#[function_component]
pub fn RunBar(props: &RunBarProps) -> Html {
    let busy = matches!(props.phase, RunPhase::Running(_) | RunPhase::Waiting { .. });
    let run = props.on_run.reform(|_| ());
    let cancel = props.on_cancel.reform(|_| ());
    html! {
        <div class="run-bar">
            <button type="button" id="run" class="primary big" onclick={run} disabled={busy || props.blocked}
                title={props.blocked.then_some("Fix the problems listed in the composer first")}>{ "▶ Run experiment" }</button>
            if busy {
                <button type="button" id="cancel" class="danger" onclick={cancel}>{ "■ Cancel" }</button>
            }
            <div class="run-status" role="status" aria-live="polite">{ status(&props.phase) }</div>
            if let RunPhase::Running(p) = &props.phase { { live_steps(p) } }
        </div>
    }
}

/// The steps the stream has reported so far, one line each, while the run goes on.
fn live_steps(p: &Progress) -> Html {
    if p.finished.is_empty() {
        return html! {};
    }
    html! {
        <ol class="live-steps" aria-label="Steps done so far">
            { for p.finished.iter().map(|s| {
                let verdict = match &s.outcome {
                    StepOutcome::Ok => "ok".to_string(),
                    StepOutcome::Error(e) => e.errno.clone().unwrap_or_else(|| "error".into()),
                    StepOutcome::Skipped { .. } => "skipped".to_string(),
                };
                html! { <li><span class="num">{ s.index + 1 }</span><code>{ &s.command }</code>{ " " }<strong>{ verdict }</strong></li> }
            }) }
        </ol>
    }
}

fn status(phase: &RunPhase) -> Html {
    match phase {
        RunPhase::Idle => html! { <span class="muted">{ "Not run yet." }</span> },
        RunPhase::Running(p) => running(p),
        RunPhase::Waiting {
            seconds_left,
            message,
        } => html! {
            <span class="waiting" data-state="waiting">
                <strong>{ message }</strong>
                { format!(" Your run is not lost: trying again in {seconds_left} s…") }
            </span>
        },
        RunPhase::Failed(message) => {
            html! { <span class="error" data-state="failed">{ message }</span> }
        }
        RunPhase::Cancelled => {
            html! { <span class="muted" data-state="cancelled">{ "Cancelled: the sandbox was killed." }</span> }
        }
        RunPhase::Done => html! { <span class="ok" data-state="done">{ "Done." }</span> },
    }
}

fn running(p: &Progress) -> Html {
    if let Some(position) = p.queued {
        return html! { <span data-state="queued">{ format!("Queued: {} run(s) ahead…", position) }</span> };
    }
    let total = p.total.unwrap_or(0);
    let done = p.finished.len();
    let current = p
        .current
        .as_ref()
        .map(|(i, op, actor)| format!("step {} of {total}: {op} in {actor}", i + 1))
        .unwrap_or_else(|| "starting the sandbox".into());
    html! {
        <span class="running" data-state="running">
            <progress max={total.max(1).to_string()} value={done.to_string()} aria-label="Steps done" />
            { format!(" Running {current}…") }
        </span>
    }
}
