//! Predict, then run: the lesson's question above ▶ Run (radio choices; running without a pick
//! skips it), folded to one line once the run graded it, and the graded answer in the card.

use std::rc::Rc;

use rootlab_shared::question::Question;
use yew::prelude::*;

use crate::model::quiz::Graded;

#[derive(Properties, PartialEq)]
pub struct QuizProps {
    pub question: Rc<Question>,
    pub pick: Option<usize>,
    pub on_pick: Callback<Option<usize>>,
    /// The shown result graded this question: fold to one line.
    pub graded: Option<Graded>,
    pub busy: bool,
}

/// `id="quiz"`, focusable: "Predict" on a lesson's card brings it into view.
#[function_component]
pub fn Quiz(props: &QuizProps) -> Html {
    let q = &props.question;
    let choices = html! {
        <div class="choices" role="radiogroup" aria-labelledby="quiz-prompt">
            { for q.choices.iter().enumerate().map(|(i, c)| {
                let pick = props.on_pick.reform(move |_| Some(i));
                html! {
                    <label class={classes!("choice", (props.pick == Some(i)).then_some("picked"))} data-choice={i.to_string()}>
                        <input type="radio" name="quiz" value={i.to_string()} checked={props.pick == Some(i)}
                            disabled={props.busy} onchange={pick} />
                        <span>{ code_spans(&c.text) }</span>
                    </label>
                }
            }) }
        </div>
    };
    let clear = props.on_pick.reform(|_| None);
    let hint = html! {
        <p class="hint quiz-hint">
            if props.pick.is_some() {
                { "Now press ▶ Run: the run grades your answer. " }
                <button type="button" class="link" onclick={clear} disabled={props.busy}>{ "Clear my answer" }</button>
            } else {
                { "Pick one, then ▶ Run: the kernel's result grades it. Or just run it." }
            }
        </p>
    };
    let prompt = html! { <span id="quiz-prompt">{ code_spans(&q.prompt) }</span> };
    match &props.graded {
        None => html! {
            <section class="quiz" id="quiz" tabindex="-1" aria-label="Predict, then run">
                <p class="quiz-q"><span class="kicker">{ "Predict first" }</span>{ prompt }</p>
                { choices }
                { hint }
            </section>
        },
        Some(g) => {
            let (mark, class, what) = match (&g.picked, g.correct) {
                (None, _) => ("?", "skipped", "Not answered"),
                (Some(_), true) => ("✓", "right", "Predicted right"),
                (Some(_), false) => ("✗", "wrong", "Predicted wrong"),
            };
            html! {
                <details class={classes!("quiz", "done", class)} id="quiz" data-verdict={class}>
                    <summary><span class="quiz-mark" aria-hidden="true">{ mark }</span><strong>{ what }</strong>{ " · " }{ prompt }</summary>
                    <p class="hint">{ "Answer again, then ▶ Run to check it once more." }</p>
                    { choices }
                    { hint }
                </details>
            }
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct VerdictProps {
    pub graded: Graded,
}

/// In the card: the pick graded, the right answer, and what the kernel did about each.
#[function_component]
pub fn QuizVerdict(props: &VerdictProps) -> Html {
    let g = &props.graded;
    let Some((picked, picked_actual)) = &g.picked else {
        return html! {};
    };
    let (answer, answer_actual) = &g.answer;
    html! {
        <div class={classes!("verdict", if g.correct { "right" } else { "wrong" })} id="verdict" data-correct={g.correct.to_string()}>
            if g.correct {
                <p><strong class="verdict-word">{ "✓ You predicted right:" }</strong>{ " " }<span class="verdict-pick">{ code_spans(picked) }</span></p>
                <p class="verdict-kernel">{ "The result: " }<code>{ picked_actual }</code></p>
            } else {
                <p><strong class="verdict-word">{ "✗ Not what happened." }</strong>{ " You predicted: " }<span class="verdict-pick">{ code_spans(picked) }</span></p>
                if picked_actual != answer_actual {
                    <p class="verdict-kernel">{ "The result: " }<code>{ picked_actual }</code></p>
                }
                <p><strong>{ "The answer: " }</strong><span class="verdict-answer">{ code_spans(answer) }</span></p>
                <p class="verdict-kernel">{ "The result: " }<code>{ answer_actual }</code></p>
            }
        </div>
    }
}

/// Text with `code` between backticks.
fn code_spans(text: &str) -> Html {
    html! {
        { for text.split('`').enumerate().map(|(i, part)| if i % 2 == 1 {
            html! { <code>{ part }</code> }
        } else {
            html! { { part } }
        }) }
    }
}
