//! The step timeline: each op with its shell command and system calls, the kernel's answer (or the
//! errno and why), its output in a terminal, and a link to the snapshot taken after it.

use std::rc::Rc;

use rootlab_shared::image::{LayerEntry, LayerEntryKind};
use rootlab_shared::result::{Committed, RunResult, StepDetails, StepOutcome, StepResult};
use yew::prelude::*;

use super::terminal::Terminal;
use crate::model::compare;

#[derive(Properties, PartialEq)]
pub struct TimelineProps {
    pub result: Rc<RunResult>,
    /// Show snapshot `n` in the comparison.
    pub on_snapshot: Callback<usize>,
}

#[function_component]
pub fn Timeline(props: &TimelineProps) -> Html {
    html! {
        <section class="timeline" aria-labelledby="timeline-h">
            <h2 id="timeline-h">{ "Steps" }</h2>
            <ol>
                { for props.result.steps.iter().map(|s| step(s, &props.result, &props.on_snapshot)) }
            </ol>
        </section>
    }
}

fn step(s: &StepResult, result: &RunResult, on_snapshot: &Callback<usize>) -> Html {
    let (class, verdict) = match &s.outcome {
        StepOutcome::Ok => ("ok", "ok".to_string()),
        StepOutcome::Error(e) => ("err", e.errno.clone().unwrap_or_else(|| "error".into())),
        StepOutcome::Skipped { .. } => ("skipped", "skipped".to_string()),
    };
    let snapshot = compare::snapshot_after(result, s.index)
        .filter(|n| compare::pair_for_snapshot(result, *n).is_some());
    html! {
        <li class={classes!("tl-step", class)} id={format!("step-{}", s.index + 1)} data-op={s.op.clone()}>
            <div class="tl-head">
                <span class="num">{ s.index + 1 }</span>
                if s.actor == "engine" {
                    <span class="actor" title="taken by rootlab itself, outside every container">{ "rootlab" }</span>
                } else {
                    <span class="actor">{ &s.actor }</span>
                }
                <code class="op">{ &s.op }</code>
                <code class="command">{ &s.command }</code>
                <span class={classes!("verdict", class)}>{ verdict }</span>
                <span class="muted dur">{ format!("{:.1} ms", s.duration_us as f64 / 1000.0) }</span>
                if let Some(n) = snapshot {
                    <button type="button" class="link" onclick={on_snapshot.reform(move |_| n)}
                        title={format!("Compare the snapshot after step {}", s.index + 1)}>
                        { format!("snapshot “{}” →", result.snapshots[n].label) }
                    </button>
                }
            </div>
            { outcome(&s.outcome) }
            if !s.syscalls.is_empty() {
                <details class="syscalls"><summary>{ format!("{} system call{}", s.syscalls.len(), if s.syscalls.len() == 1 { "" } else { "s" }) }</summary>
                    <pre>{ s.syscalls.join("\n") }</pre>
                </details>
            }
            if let Some(output) = &s.output { <Terminal output={output.clone()} actor={Some(AttrValue::from(s.actor.clone()))} /> }
            { s.details.as_ref().map(details).unwrap_or_default() }
        </li>
    }
}

fn outcome(o: &StepOutcome) -> Html {
    match o {
        StepOutcome::Ok => html! {},
        StepOutcome::Error(e) => html! {
            <div class="step-error">
                <p><strong>{ &e.message }</strong>{ e.code.map(|c| format!(" (errno {c})")).unwrap_or_default() }</p>
                <p class="why">{ &e.explanation }</p>
            </div>
        },
        StepOutcome::Skipped { reason } => {
            html! { <p class="muted">{ format!("Not run: {reason}") }</p> }
        }
    }
}

fn details(d: &StepDetails) -> Html {
    match d {
        StepDetails::BuildRootfs { copied, ldd } => html! {
            <details class="rootfs-details" open=true>
                <summary>{ format!("{} files copied into the rootfs", copied.len()) }</summary>
                <table class="copied">
                    <thead><tr><th scope="col">{ "copied" }</th><th scope="col">{ "to" }</th><th scope="col">{ "why" }</th></tr></thead>
                    <tbody>{ for copied.iter().map(|c| html! { <tr><td><code>{ &c.source }</code></td><td><code>{ &c.dest }</code></td><td>{ why(&c.reason) }</td></tr> }) }</tbody>
                </table>
                { for ldd.iter().map(|o| html! { <Terminal output={o.clone()} /> }) }
            </details>
        },
        StepDetails::Escape {
            escaped,
            root_listing,
            trace,
        } => html! {
            <div class={classes!("escape", if *escaped { "escaped" } else { "contained" })}>
                <p><strong>{ if *escaped { "Escaped: the process climbed out of its root." } else { "Contained: there was nothing to climb back to." } }</strong></p>
                <p>{ "ls / afterwards: " }<code>{ root_listing.join("  ") }</code></p>
                <ol class="trace">{ for trace.iter().map(|t| html! { <li><code>{ t }</code></li> }) }</ol>
            </div>
        },
        StepDetails::Started { pid } => html! {
            <p class="muted">{ format!("Started in the background{}", pid.map_or(String::new(), |p| format!(" as pid {p}"))) }</p>
        },
        StepDetails::Waited {
            ended,
            still_running,
        } => html! {
            <div class="waited">
                { for ended.iter().map(|o| html! { <Terminal output={o.clone()} /> }) }
                { for still_running.iter().map(|p| html! { <p class="muted">{ format!("Still running: {}", p.argv.join(" ")) }</p> }) }
            </div>
        },
        StepDetails::Committed(c) => committed(c),
    }
}

/// The committed layer, entry by entry: `A` added or changed, `D` deleted, `O` opaque.
fn committed(c: &Committed) -> Html {
    let row = |e: &LayerEntry| {
        let mark = match e.kind {
            LayerEntryKind::Whiteout => "D",
            LayerEntryKind::Dir if e.opaque => "O",
            _ => "A",
        };
        let target = e
            .target
            .as_ref()
            .map_or(String::new(), |t| format!(" -> {t}"));
        html! { <li><code>{ format!("{mark} {}{target}", e.path) }</code></li> }
    };
    let stored = match (&c.image, &c.note) {
        (Some(img), _) => format!("Stored as {} ({} layers)", img.name, img.layers),
        (None, note) => note.clone().unwrap_or_default(),
    };
    let parent = c.parent.to_string();
    let entries = c.entries.clone();
    let show_on_top = Callback::from(move |_: MouseEvent| {
        crate::model::images::set_upper(&parent, entries.clone());
        crate::hooks::go_to_fragment(&crate::model::images::fragment(Some(&parent)));
    });
    html! {
        <details class="committed" open=true>
            <summary>{ format!("layer {} · {} entries", c.diff_id, c.entries.len()) }</summary>
            <button type="button" class="show-upper" onclick={show_on_top}>
                { format!("See it as the top layer over {}'s layers", c.parent) }
            </button>
            <ul class="layer-entries">{ for c.entries.iter().map(row) }</ul>
            { for c.skipped.iter().map(|s| html! { <p class="muted">{ format!("Skipped {s}") }</p> }) }
            <p>{ stored }</p>
        </details>
    }
}

fn why(reason: &str) -> String {
    if reason == "program" {
        "the program itself".into()
    } else {
        format!("ldd {reason} lists it")
    }
}
