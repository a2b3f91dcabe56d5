//! The lesson being run: its title and the text that says what to look at (folded once a result
//! shows, under the card that states the point).

use yew::prelude::*;

use super::glossary::rich;
use crate::api::{lesson_text, PresetSummary};

#[derive(Properties, PartialEq)]
pub struct LessonProps {
    pub preset: Option<PresetSummary>,
    pub pristine: bool,
    /// A result is shown: the card above it says the point, the text is one click away.
    #[prop_or_default]
    pub collapsed: bool,
}

#[function_component]
pub fn Lesson(props: &LessonProps) -> Html {
    let Some(preset) = &props.preset else {
        return html! {};
    };
    let lesson = lesson_text(preset);
    let mut seen = Vec::new();
    html! {
        <details class="lesson" id="lesson" tabindex="-1" open={!props.collapsed}>
            <summary>
                <span class="kicker">{ "Lesson" }</span>{ &preset.title }
                if props.collapsed { <span class="muted more">{ " · the full explanation" }</span> }
                if !props.pristine { <span class="badge">{ "edited" }</span> }
            </summary>
            { for lesson.split("\n\n").map(|para| html! { <p>{ rich(para, "lesson", &mut seen) }</p> }) }
        </details>
    }
}
