//! The lesson being run: its title and the text that says what to look at.

use yew::prelude::*;

use crate::api::{lesson_text, PresetSummary};

#[derive(Properties, PartialEq)]
pub struct LessonProps {
    pub preset: Option<PresetSummary>,
    pub pristine: bool,
}

#[function_component]
pub fn Lesson(props: &LessonProps) -> Html {
    let Some(preset) = &props.preset else {
        return html! {};
    };
    let lesson = lesson_text(preset);
    html! {
        <details class="lesson" open=true>
            <summary>
                <span class="kicker">{ "Lesson" }</span>{ &preset.title }
                if !props.pristine { <span class="badge">{ "edited" }</span> }
            </summary>
            { for lesson.split("\n\n").map(|para| html! { <p>{ with_code(para) }</p> }) }
        </details>
    }
}

/// Text between backticks reads as code, as the lesson files write it.
fn with_code(text: &str) -> Html {
    html! {
        { for text.split('`').enumerate().map(|(i, part)| if i % 2 == 1 { html! { <code>{ part }</code> } } else { html! { { part } } }) }
    }
}
