//! The list of every validation problem, each a button that moves focus to the field that holds it
//! (or, for a JSON syntax error, to its line and column in the editor).

use std::rc::Rc;

use rootlab_shared::validate::FieldError;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::json_editor::jump_to;
use crate::model::{fields, json_pos};

#[derive(Properties, PartialEq)]
pub struct IssuesProps {
    pub issues: Rc<Vec<FieldError>>,
}

#[function_component]
pub fn Issues(props: &IssuesProps) -> Html {
    if props.issues.is_empty() {
        return html! { <p class="valid" role="status">{ "✓ Valid: the same checks the server runs passed." }</p> };
    }
    html! {
        <div class="issues" role="alert">
            <p><strong>{ format!("{} problem{} to fix before running:", props.issues.len(), if props.issues.len() == 1 { "" } else { "s" }) }</strong></p>
            <ul>
                { for props.issues.iter().map(issue) }
            </ul>
        </div>
    }
}

fn issue(e: &FieldError) -> Html {
    if let Some((line, col)) = json_pos::line_col(&e.message) {
        let onclick = Callback::from(move |_| jump_to(line, col));
        return html! {
            <li class="issue" data-field={e.field.clone()} data-line={line.to_string()}>
                <button type="button" class="link" {onclick}>{ format!("line {line}, column {col}") }</button>
                { ": " }{ &e.message }
            </li>
        };
    }
    let path = e.field.clone();
    let onclick = Callback::from(move |_| focus_field(&path));
    html! {
        <li class="issue" data-field={e.field.clone()}>
            <button type="button" class="link" {onclick}>{ fields::human(&e.field) }</button>
            { ": " }{ &e.message }
        </li>
    }
}

/// Focus the most specific form element that exists for the path.
pub fn focus_field(path: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    for candidate in fields::ancestors(path) {
        if let Some(el) = document.get_element_by_id(&fields::dom_id(&candidate)) {
            el.scroll_into_view();
            if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
            return;
        }
    }
}
