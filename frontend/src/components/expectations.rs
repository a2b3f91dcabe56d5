//! The spec's expectations graded against the result: each held or FAILED, with what the kernel
//! did. The server grades them into the result; a result without them is graded here.

use rootlab_shared::expect::{grade, Graded};
use rootlab_shared::result::RunResult;
use rootlab_shared::spec::Spec;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ExpectationsProps {
    pub graded: Vec<Graded>,
}

/// The graded expectations of a run: the server's, else graded here from the spec it ran.
pub fn graded_of(result: &RunResult, spec: Option<&Spec>) -> Vec<Graded> {
    match spec {
        Some(s) if result.expectations.is_empty() && !s.expect.is_empty() => {
            grade(&s.expect, result)
        }
        _ => result.expectations.clone(),
    }
}

#[function_component]
pub fn Expectations(props: &ExpectationsProps) -> Html {
    let g = &props.graded;
    if g.is_empty() {
        return html! {};
    }
    let failed = g.iter().filter(|e| !e.passed).count();
    let head = match failed {
        0 => format!("Expectations: all {} held", g.len()),
        n => format!("Expectations: {n} of {} FAILED", g.len()),
    };
    html! {
        <section class="expectations" id="expectations" aria-labelledby="expectations-h" data-failed={failed.to_string()}>
            <h3 id="expectations-h">{ head }</h3>
            <ul>
                { for g.iter().map(|e| html! {
                    <li class={if e.passed { "held" } else { "failed" }} data-index={e.index.to_string()}>
                        <span class="exp-verdict">{ if e.passed { "held" } else { "FAILED" } }</span>
                        { " " }<code>{ &e.expected }</code>
                        <span class="exp-actual">{ " · the result: " }<code>{ &e.actual }</code></span>
                    </li>
                }) }
            </ul>
        </section>
    }
}
