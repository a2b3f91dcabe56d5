//! The lesson gallery: every preset with its title and summary, opened, asked (predict, then run)
//! or run in one click, with a mark for each question answered and the progress to download.

use yew::prelude::*;

use crate::api::PresetSummary;
use crate::model::quiz::{self, Progress};
use crate::state::Remote;

#[derive(Properties, PartialEq)]
pub struct GalleryProps {
    pub presets: Remote<Vec<PresetSummary>>,
    pub selected: Option<String>,
    /// Load the lesson into the composer.
    pub on_open: Callback<String>,
    /// Load it and ask its question.
    pub on_predict: Callback<String>,
    /// Load it and run it.
    pub on_run: Callback<String>,
    pub busy: bool,
    /// Answers to the questions so far.
    pub progress: Progress,
}

#[function_component]
pub fn Gallery(props: &GalleryProps) -> Html {
    let list = match &props.presets {
        Remote::Loading => {
            return html! { <p class="muted" aria-busy="true">{ "Loading lessons…" }</p> }
        }
        Remote::Failed(e) => {
            return html! { <p class="error" role="alert">{ format!("Could not load the lessons: {e}") }</p> }
        }
        Remote::Ready(list) if list.is_empty() => {
            return html! { <p class="muted">{ "The server offers no lessons yet: compose an experiment instead." }</p> }
        }
        Remote::Ready(list) => list,
    };
    let json = quiz::export(&props.progress);
    let href = format!(
        "data:application/json;charset=utf-8,{}",
        js_sys::encode_uri_component(&json)
    );
    html! {
        <>
            <ol class="gallery" aria-label="Lessons">
                { for list.iter().map(|p| card(p, props)) }
            </ol>
            <p class="progress-bar" id="progress">
                <span class="muted">{ format!("Your predictions: {}. ", quiz::summary(&props.progress, list.len())) }</span>
                <a class="button secondary small" id="download-progress" href={href} download="rootlab-progress.json">{ "Download progress" }</a>
            </p>
        </>
    }
}

fn card(preset: &PresetSummary, props: &GalleryProps) -> Html {
    let id = preset.id.clone();
    let selected = props.selected.as_deref() == Some(id.as_str());
    let open = props.on_open.reform({
        let id = id.clone();
        move |_| id.clone()
    });
    let predict = props.on_predict.reform({
        let id = id.clone();
        move |_| id.clone()
    });
    let run = props.on_run.reform({
        let id = id.clone();
        move |_| id.clone()
    });
    html! {
        <li class={classes!("card", selected.then_some("selected"))} data-preset={id.clone()}>
            <h3>
                <span class="num" title={format!("Lesson {}", preset.lesson)}>{ preset.lesson }</span>{ &preset.title }
                { mark(props.progress.get(&id)) }
            </h3>
            <p class="blurb">{ &preset.summary }</p>
            <div class="card-actions">
                <code class="preset-id">{ &id }</code>
                <button type="button" class="secondary" onclick={open}>{ "Open" }</button>
                <button type="button" class="predict" onclick={predict} disabled={props.busy}
                    aria-label={format!("Predict, then run lesson {}", preset.title)}>{ "Predict" }</button>
                <button type="button" class="primary run-preset" onclick={run} disabled={props.busy}
                    aria-label={format!("Run lesson {}", preset.title)}>{ "▶ Run" }</button>
            </div>
        </li>
    }
}

/// ✓ when the latest answer was right, ✗ when it was wrong, nothing before any answer.
fn mark(record: Option<&quiz::Record>) -> Html {
    match record {
        Some(r) if r.last_correct => html! {
            <span class="progress-mark right" data-mark="right" title={format!("Predicted right ({} of {} answers)", r.correct, r.answered)}>
                { "✓" }<span class="sr-only">{ " predicted right" }</span>
            </span>
        },
        Some(r) if r.answered > 0 => html! {
            <span class="progress-mark wrong" data-mark="wrong" title={format!("Last prediction wrong ({} of {} answers right)", r.correct, r.answered)}>
                { "✗" }<span class="sr-only">{ " last prediction wrong" }</span>
            </span>
        },
        _ => html! {},
    }
}
