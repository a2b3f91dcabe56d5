//! The lesson being run: its title and the text that says what to look at.

use yew::prelude::*;

use crate::api::PresetSummary;

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
    let lesson = preset.lesson();
    html! {
        <details class="lesson" open=true>
            <summary>
                <span class="kicker">{ "Lesson" }</span>{ &preset.title }
                if !props.pristine { <span class="badge">{ "edited" }</span> }
            </summary>
            { for lesson.split("\n\n").map(|para| html! { <p>{ para }</p> }) }
        </details>
    }
}
