//! The lesson gallery: every preset with its title and summary, opened or run in one click.

use yew::prelude::*;

use crate::api::PresetSummary;
use crate::state::Remote;

#[derive(Properties, PartialEq)]
pub struct GalleryProps {
    pub presets: Remote<Vec<PresetSummary>>,
    pub selected: Option<String>,
    /// Load the lesson into the composer.
    pub on_open: Callback<String>,
    /// Load it and run it.
    pub on_run: Callback<String>,
    pub busy: bool,
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
    html! {
        <ol class="gallery" aria-label="Lessons">
            { for list.iter().map(|p| card(p, props)) }
        </ol>
    }
}

fn card(preset: &PresetSummary, props: &GalleryProps) -> Html {
    let id = preset.id.clone();
    let selected = props.selected.as_deref() == Some(id.as_str());
    let open = props.on_open.reform({
        let id = id.clone();
        move |_| id.clone()
    });
    let run = props.on_run.reform({
        let id = id.clone();
        move |_| id.clone()
    });
    html! {
        <li class={classes!("card", selected.then_some("selected"))} data-preset={id.clone()}>
            <h3><span class="num" title={format!("Lesson {}", preset.lesson)}>{ preset.lesson }</span>{ &preset.title }</h3>
            <p class="blurb">{ &preset.summary }</p>
            <div class="card-actions">
                <code class="preset-id">{ &id }</code>
                <button type="button" class="secondary" onclick={open}>{ "Open" }</button>
                <button type="button" class="primary run-preset" onclick={run} disabled={props.busy}
                    aria-label={format!("Run lesson {}", preset.title)}>{ "▶ Run" }</button>
            </div>
        </li>
    }
}
