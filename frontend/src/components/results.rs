//! The result of a run: how it ended, its graded expectations, the comparison, and the step
//! timeline.

use std::rc::Rc;

use rootlab_shared::result::{RunResult, RunStatus};
use rootlab_shared::spec::Spec;
use yew::prelude::*;

use super::compare::Compare;
use super::expectations::{graded_of, Expectations};
use super::timeline::Timeline;
use crate::model::compare::{self, SideRef};

#[derive(Properties, PartialEq)]
pub struct ResultsProps {
    pub result: Rc<RunResult>,
    pub spec: Option<Rc<Spec>>,
    pub pair: Option<(SideRef, SideRef)>,
    pub on_compare: Callback<(SideRef, SideRef)>,
}

#[function_component]
pub fn Results(props: &ResultsProps) -> Html {
    let r = &props.result;
    let refused = r
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, rootlab_shared::result::StepOutcome::Error(_)))
        .count();
    let on_snapshot = {
        let (result, on_compare) = (r.clone(), props.on_compare.clone());
        Callback::from(move |n: usize| {
            if let Some(pair) = compare::pair_for_snapshot(&result, n) {
                on_compare.emit(pair);
            }
        })
    };
    html! {
        <div class="results" id="results">
            <div class={classes!("result-head", status_class(r.status))}>
                <h2>{ if r.title.is_empty() { "Result".to_string() } else { r.title.clone() } }</h2>
                <p class="facts">
                    <span class="status" data-status={format!("{:?}", r.status).to_lowercase()}>{ status_text(r.status) }</span>
                    { format!(" · {} steps, {} refused by the kernel · {:.1} ms · kernel ", r.steps.len(), refused, r.duration_us as f64 / 1000.0) }
                    <code class="kernel">{ &r.kernel_release }</code>
                    { " (every container shares it) · image " }<code>{ &r.image.name }</code>
                </p>
                if let Some(m) = &r.message { <p class="message" role="alert">{ m }</p> }
            </div>
            <Expectations graded={graded_of(r, props.spec.as_deref())} />
            <Compare result={r.clone()} spec={props.spec.clone()} pair={props.pair.clone()} on_compare={props.on_compare.clone()} />
            <Timeline result={r.clone()} {on_snapshot} />
            <details class="limits">
                <summary>{ "Limits in force and how the kernel enforced them" }</summary>
                <ul>{ for r.limits.enforcement.iter().map(|e| html! { <li><code>{ &e.limit }</code>{ ": " }{ &e.mechanism }</li> }) }</ul>
            </details>
        </div>
    }
}

fn status_class(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Completed => "completed",
        RunStatus::LimitExceeded | RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

fn status_text(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Completed => "completed",
        RunStatus::LimitExceeded => "stopped by a limit",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Failed => "sandbox failed",
    }
}
