//! One form field bound to a JSON path of the spec, with the validation problems it owns.

use std::rc::Rc;

use rootlab_shared::validate::FieldError;
use serde_json::Value;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::model::form::{self, Kind};
use crate::model::{fields, help};

#[derive(Properties, PartialEq)]
pub struct FieldProps {
    /// JSON path, e.g. `steps[2].target`.
    pub path: String,
    pub label: AttrValue,
    pub kind: Kind,
    pub value: Option<Value>,
    pub issues: Rc<Vec<FieldError>>,
    /// Who may act, for `Kind::Actor`.
    #[prop_or_default]
    pub actors: Rc<Vec<String>>,
    /// `(path, new value or None to remove)`.
    pub on_set: Callback<(String, Option<Value>)>,
}

#[function_component]
pub fn Field(props: &FieldProps) -> Html {
    let id = fields::dom_id(&props.path);
    let errors: Vec<&FieldError> = props
        .issues
        .iter()
        .filter(|e| fields::owns(&props.path, &e.field))
        .collect();
    let invalid = !errors.is_empty();
    let err_id = format!("{id}-err");
    // What was typed, kept while it still means the spec's value: re-displaying the parsed value
    // would eat a half-typed quote or a trailing space under the caret.
    let typed = use_state(|| None::<String>);
    let control = control(props, &id, invalid, &err_id, &typed);
    html! {
        <div class={classes!("field", invalid.then_some("invalid"), matches!(props.kind, Kind::LongText).then_some("wide"))}>
            <span class="label-row">
                <label for={id.clone()}>{ &props.label }{ hint(props.kind, &props.path) }</label>
                if let Some(text) = help::for_path(&props.path) {
                    <button type="button" class="help-btn" popovertarget={format!("{id}-help")} aria-label={format!("Help: {}", props.label)}>{ "?" }</button>
                    <span popover="auto" id={format!("{id}-help")} class="term-pop" role="note"><strong>{ &props.label }</strong>{ ": " }{ text }</span>
                }
            </span>
            { control }
            if invalid {
                <p class="field-error" id={err_id}>{ for errors.iter().map(|e| html! { <span>{ &e.message }</span> }) }</p>
            }
        </div>
    }
}

fn hint(kind: Kind, path: &str) -> Html {
    let text = match kind {
        Kind::Mode => " (octal)",
        // An expectation's step: required, counted like `steps[i]`.
        Kind::Number if path.ends_with(".step") => " (from 0)",
        Kind::List => " (space-separated)",
        Kind::OptText | Kind::Number => " (optional)",
        _ => "",
    };
    html! { <span class="hint">{ text }</span> }
}

fn setter(props: &FieldProps, kind: Kind) -> Callback<String> {
    let path = props.path.clone();
    props
        .on_set
        .reform(move |text: String| (path.clone(), form::parse_input(kind, &text)))
}

fn control(
    props: &FieldProps,
    id: &str,
    invalid: bool,
    err_id: &str,
    typed: &UseStateHandle<Option<String>>,
) -> Html {
    let kind = props.kind;
    let text = match &**typed {
        Some(t) if form::parse_input(kind, t) == props.value => t.clone(),
        _ => form::display(kind, props.value.as_ref()),
    };
    let set = {
        let (typed, set) = (typed.clone(), setter(props, kind));
        Callback::from(move |value: String| {
            typed.set(Some(value.clone()));
            set.emit(value);
        })
    };
    let described = invalid.then(|| err_id.to_string());
    let invalid_attr = invalid.then_some("true");
    match kind {
        Kind::LongText => {
            let oninput = set
                .reform(|e: InputEvent| e.target_unchecked_into::<HtmlTextAreaElement>().value());
            html! { <textarea id={id.to_string()} rows="2" value={text} {oninput} aria-invalid={invalid_attr} aria-describedby={described} /> }
        }
        Kind::Bool => {
            let checked = props
                .value
                .as_ref()
                .and_then(Value::as_bool)
                .unwrap_or(default_bool(&props.path));
            let onchange = set.reform(|e: Event| {
                e.target_unchecked_into::<HtmlInputElement>()
                    .checked()
                    .to_string()
            });
            html! { <input type="checkbox" id={id.to_string()} {checked} {onchange} aria-invalid={invalid_attr} /> }
        }
        Kind::Actor | Kind::Choice(_) => select(props, id, &text, set, invalid_attr),
        Kind::Multi(options) => multi(props, id, options),
        _ => {
            let oninput =
                set.reform(|e: InputEvent| e.target_unchecked_into::<HtmlInputElement>().value());
            let mode = if matches!(kind, Kind::Number) {
                "numeric"
            } else {
                "text"
            };
            html! { <input type="text" inputmode={mode} id={id.to_string()} value={text} {oninput} spellcheck="false"
            aria-invalid={invalid_attr} aria-describedby={described} /> }
        }
    }
}

/// `recursive` and an expectation's `present` default to true in the spec; every other flag to
/// false.
fn default_bool(path: &str) -> bool {
    path.ends_with(".recursive") || path.ends_with(".present")
}

fn select(
    props: &FieldProps,
    id: &str,
    current: &str,
    set: Callback<String>,
    invalid: Option<&'static str>,
) -> Html {
    let mut options: Vec<String> = match props.kind {
        Kind::Choice(list) => list.iter().map(|s| s.to_string()).collect(),
        _ => (*props.actors).clone(),
    };
    // An absent key takes the spec's default, which is the first choice of every list.
    let current = match (current.is_empty(), options.first()) {
        (true, Some(first)) => first.clone(),
        _ => current.to_string(),
    };
    if !options.contains(&current) {
        options.push(current.clone());
    }
    let onchange = set.reform(|e: Event| e.target_unchecked_into::<HtmlSelectElement>().value());
    html! {
        <select id={id.to_string()} {onchange} aria-invalid={invalid}>
            { for options.iter().map(|o| html! { <option value={o.clone()} selected={*o == current}>{ o }</option> }) }
        </select>
    }
}

fn multi(props: &FieldProps, id: &str, options: &'static [&'static str]) -> Html {
    let chosen: Vec<String> = props
        .value
        .as_ref()
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    html! {
        <span class="multi" id={id.to_string()} tabindex="-1">
            { for options.iter().map(|o| {
                let on = chosen.iter().any(|c| c == o);
                let mut next = chosen.clone();
                if on { next.retain(|c| c != o) } else { next.push(o.to_string()) }
                let path = props.path.clone();
                let onchange = props.on_set.reform(move |_| (path.clone(), Some(Value::from(next.clone()))));
                html! { <label class="check"><input type="checkbox" checked={on} {onchange} />{ *o }</label> }
            }) }
        </span>
    }
}
