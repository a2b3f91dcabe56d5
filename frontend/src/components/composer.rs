//! The experiment form: title, host (image, root propagation, files), layers (entries), steps
//! (add, remove, reorder, per-op fields) and expectations (what the run should show). It edits the spec's JSON, so the editor beside it
//! and the validator always see the same document.

use std::rc::Rc;

use rootlab_shared::validate::FieldError;
use serde_json::Value;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::field::Field;
use crate::model::expect_form;
use crate::model::fields;
use crate::model::form::{self, Kind};

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub text: AttrValue,
    pub issues: Rc<Vec<FieldError>>,
    pub on_edit: Callback<String>,
}

/// What the form does to the document.
enum Edit {
    Set(String, Option<Value>),
    Push(String, Value),
    SwapDown(String, usize),
}

#[function_component]
pub fn Composer(props: &ComposerProps) -> Html {
    let new_op = use_state(|| "tmpfs".to_string());
    let new_kind = use_state(|| "outcome".to_string());
    let Ok(doc) = serde_json::from_str::<Value>(&props.text) else {
        return html! { <p class="error" role="alert">{ "The JSON does not parse, so the form cannot show it: fix it in the editor (the error says where)." }</p> };
    };
    let doc = Rc::new(doc);
    let apply = {
        let doc = doc.clone();
        props.on_edit.reform(move |edit: Edit| {
            let mut next = (*doc).clone();
            match edit {
                Edit::Set(path, value) => form::set(&mut next, &path, value),
                Edit::Push(path, item) => form::push(&mut next, &path, item),
                Edit::SwapDown(path, i) => form::swap_down(&mut next, &path, i),
            }
            serde_json::to_string_pretty(&next).unwrap_or_default()
        })
    };
    let ctx = Ctx {
        doc: doc.clone(),
        issues: props.issues.clone(),
        apply,
    };
    html! {
        <form class="composer" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())} aria-label="Experiment form">
            <div class="form-row start-row">
                { ctx.field("title", "Title", Kind::Text, &[]) }
                <button type="button" id="start-blank" class="secondary small" onclick={props.on_edit.reform(|_| BLANK.to_string())}>{ "Start blank" }</button>
            </div>
            <fieldset class="host">
                <legend>{ "Host" }</legend>
                <div class="form-row">
                    { ctx.field("host.image", "Image", Kind::Text, &[]) }
                    { ctx.field("host.root_propagation", "Propagation of /", Kind::Choice(form::PROPAGATIONS), &[]) }
                </div>
                if root_shared(&doc) {
                    <p class="warn" id="root-shared-warn" role="note">
                        { "⚠ / is shared (as systemd makes it, and the default): a mount a container makes comes back to the host unless that container first runs make_propagation private or slave on /." }
                    </p>
                }
                { ctx.entries("host.files", "Host file", "/tmp/file") }
            </fieldset>
            { ctx.layers() }
            { ctx.steps(&new_op) }
            { ctx.expectations(&new_kind) }
        </form>
    }
}

/// An experiment with nothing in it yet: a host and no step.
const BLANK: &str = "{\n  \"version\": 1,\n  \"title\": \"my experiment\",\n  \"host\": { \"image\": \"tools\", \"root_propagation\": \"private\" },\n  \"steps\": []\n}";

/// The host's / is shared: said or left to the default.
fn root_shared(doc: &Value) -> bool {
    matches!(
        form::get(doc, "host.root_propagation").and_then(Value::as_str),
        None | Some("shared")
    )
}

struct Ctx {
    doc: Rc<Value>,
    issues: Rc<Vec<FieldError>>,
    apply: Callback<Edit>,
}

impl Ctx {
    fn field(&self, path: &str, label: &str, kind: Kind, actors: &[String]) -> Html {
        let on_set = self.apply.reform(|(p, v)| Edit::Set(p, v));
        html! {
            <Field path={path.to_string()} label={label.to_string()} {kind} value={form::get(&self.doc, path).cloned()}
                issues={self.issues.clone()} actors={Rc::new(actors.to_vec())} {on_set} />
        }
    }

    fn list(&self, path: &str) -> Vec<Value> {
        form::get(&self.doc, path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Problems reported at the item itself (`steps[2]`), shown on its card.
    fn own_issues(&self, path: &str) -> Html {
        let own: Vec<&FieldError> = self.issues.iter().filter(|e| e.field == path).collect();
        html! { for own.iter().map(|e| html! { <p class="field-error">{ &e.message }</p> }) }
    }

    fn item_buttons(&self, list: &str, i: usize, len: usize, what: &str) -> Html {
        let up = self.apply.reform({
            let list = list.to_string();
            move |_| Edit::SwapDown(list.clone(), i.saturating_sub(1))
        });
        let down = self.apply.reform({
            let list = list.to_string();
            move |_| Edit::SwapDown(list.clone(), i)
        });
        let remove = self.apply.reform({
            let path = format!("{list}[{i}]");
            move |_| Edit::Set(path.clone(), None)
        });
        html! {
            <span class="item-buttons">
                <button type="button" class="icon" onclick={up} disabled={i == 0} aria-label={format!("Move {what} {} up", i + 1)} title="Move up">{ "↑" }</button>
                <button type="button" class="icon" onclick={down} disabled={i + 1 >= len} aria-label={format!("Move {what} {} down", i + 1)} title="Move down">{ "↓" }</button>
                <button type="button" class="icon danger" onclick={remove} aria-label={format!("Remove {what} {}", i + 1)} title="Remove">{ "✕" }</button>
            </span>
        }
    }

    fn entries(&self, path: &str, what: &str, example: &str) -> Html {
        let items = self.list(path);
        let add = self.apply.reform({
            let (path, example) = (path.to_string(), example.to_string());
            move |_| Edit::Push(path.clone(), form::entry_template("file", &example))
        });
        html! {
            <div class="entries">
                { for items.iter().enumerate().map(|(i, e)| self.entry(path, i, items.len(), e, what)) }
                <button type="button" class="secondary small" onclick={add}>{ format!("+ {what}") }</button>
            </div>
        }
    }

    fn entry(&self, list: &str, i: usize, len: usize, entry: &Value, what: &str) -> Html {
        let path = format!("{list}[{i}]");
        let kind = entry.get("type").and_then(Value::as_str).unwrap_or("file");
        html! {
            <div class="entry-card" id={fields::dom_id(&path)} tabindex="-1">
                { self.field(&format!("{path}.type"), "Type", Kind::Choice(form::ENTRY_TYPES), &[]) }
                { for form::entry_fields(kind).iter().map(|(key, k)| self.field(&format!("{path}.{key}"), key, *k, &[])) }
                { self.item_buttons(list, i, len, what) }
                { self.own_issues(&path) }
            </div>
        }
    }

    fn layers(&self) -> Html {
        let layers = self.list("layers");
        let add = self.apply.reform({
            let n = layers.len();
            move |_| {
                Edit::Push(
                    "layers".into(),
                    serde_json::json!({ "name": format!("L{}", n + 1), "entries": [] }),
                )
            }
        });
        html! {
            <fieldset class="layers">
                <legend>{ "Layers " }<span class="hint">{ "(directories at /layers/<name>, for overlays and binds)" }</span></legend>
                { for layers.iter().enumerate().map(|(i, _)| {
                    let path = format!("layers[{i}]");
                    html! {
                        <div class="layer card-lite" id={fields::dom_id(&path)} tabindex="-1">
                            <div class="form-row">
                                { self.field(&format!("{path}.name"), "Name", Kind::Text, &[]) }
                                { self.item_buttons("layers", i, layers.len(), "layer") }
                            </div>
                            { self.own_issues(&path) }
                            { self.entries(&format!("{path}.entries"), "entry", "file") }
                        </div>
                    }
                }) }
                <button type="button" class="secondary small" onclick={add}>{ "+ Layer" }</button>
            </fieldset>
        }
    }

    fn steps(&self, new_op: &UseStateHandle<String>) -> Html {
        let steps = self.list("steps");
        let pick = {
            let new_op = new_op.clone();
            Callback::from(move |e: Event| {
                new_op.set(e.target_unchecked_into::<HtmlSelectElement>().value())
            })
        };
        let add = self.apply.reform({
            let (op, actor) = (
                (**new_op).clone(),
                form::actors_before(&self.doc, steps.len())
                    .last()
                    .cloned()
                    .unwrap_or_default(),
            );
            move |_| Edit::Push("steps".into(), form::step_template(&op, &actor))
        });
        html! {
            <fieldset class="steps">
                <legend>{ "Steps" }</legend>
                <ol>
                    { for steps.iter().enumerate().map(|(i, s)| self.step(i, steps.len(), s)) }
                </ol>
                <div class="form-row add-step">
                    <label for="new-op">{ "New step" }</label>
                    <select id="new-op" onchange={pick}>
                        { for form::OPS.iter().map(|op| html! { <option value={*op} selected={**new_op == *op}>{ *op }</option> }) }
                    </select>
                    <button type="button" class="secondary small" onclick={add}>{ "+ Add step" }</button>
                </div>
            </fieldset>
        }
    }

    fn expectations(&self, new_kind: &UseStateHandle<String>) -> Html {
        let items = self.list("expect");
        let pick = {
            let new_kind = new_kind.clone();
            Callback::from(move |e: Event| {
                new_kind.set(e.target_unchecked_into::<HtmlSelectElement>().value())
            })
        };
        let add = self.apply.reform({
            let item = expect_form::expect_template(new_kind, &self.doc);
            move |_| Edit::Push("expect".into(), item.clone())
        });
        let actors = form::actors_before(&self.doc, self.list("steps").len());
        html! {
            <fieldset class="expect" id="expect-form">
                <legend>{ "Expectations " }<span class="hint">{ "(what you predict; the result grades each)" }</span></legend>
                <ol>
                    { for items.iter().enumerate().map(|(i, e)| {
                        let path = format!("expect[{i}]");
                        let kind = e.get("kind").and_then(Value::as_str).unwrap_or("?");
                        html! {
                            <li class="step-card expect-card" id={fields::dom_id(&path)} tabindex="-1">
                                <div class="step-head">
                                    <span class="num">{ i + 1 }</span><code class="op">{ kind }</code>
                                    { self.item_buttons("expect", i, items.len(), "expectation") }
                                </div>
                                { self.own_issues(&path) }
                                <div class="step-fields">
                                    { for expect_form::expect_fields(kind).iter().map(|(key, k)| self.field(&format!("{path}.{key}"), key, *k, &actors)) }
                                </div>
                            </li>
                        }
                    }) }
                </ol>
                <div class="form-row add-step">
                    <label for="new-expect">{ "New expectation" }</label>
                    <select id="new-expect" onchange={pick}>
                        { for expect_form::EXPECT_KINDS.iter().map(|k| html! { <option value={*k} selected={**new_kind == *k}>{ *k }</option> }) }
                    </select>
                    <button type="button" class="secondary small" id="add-expect" onclick={add}>{ "+ Add expectation" }</button>
                </div>
            </fieldset>
        }
    }

    fn step(&self, i: usize, len: usize, step: &Value) -> Html {
        let path = format!("steps[{i}]");
        let op = step.get("op").and_then(Value::as_str).unwrap_or("?");
        let actors = form::actors_before(&self.doc, i);
        html! {
            <li class="step-card" id={fields::dom_id(&path)} tabindex="-1">
                <div class="step-head">
                    <span class="num">{ i + 1 }</span><code class="op">{ op }</code>
                    { self.item_buttons("steps", i, len, "step") }
                </div>
                { self.own_issues(&path) }
                { self.own_issues(&format!("{path}.op")) }
                <div class="step-fields">
                    { for form::step_fields(op).iter().map(|(key, kind)| self.field(&format!("{path}.{key}"), key, *kind, &actors)) }
                </div>
            </li>
        }
    }
}
