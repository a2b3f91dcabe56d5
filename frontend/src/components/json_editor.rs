//! The raw JSON editor beside the form, validated on every keystroke.

use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct JsonEditorProps {
    pub text: AttrValue,
    pub on_edit: Callback<String>,
    /// The document does not parse (its error is listed under the editor).
    pub broken: bool,
}

#[function_component]
pub fn JsonEditor(props: &JsonEditorProps) -> Html {
    let oninput = props
        .on_edit
        .reform(|e: InputEvent| e.target_unchecked_into::<HtmlTextAreaElement>().value());
    let format = {
        let text = props.text.clone();
        props.on_edit.reform(move |_| {
            serde_json::from_str::<serde_json::Value>(&text)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| text.to_string())
        })
    };
    html! {
        <div class="json-editor">
            <div class="pane-head">
                <label for="f-json">{ "Spec JSON" }</label>
                <button type="button" class="secondary small" onclick={format} disabled={props.broken}>{ "Format" }</button>
            </div>
            <textarea id="f-json" class={classes!(props.broken.then_some("invalid"))} value={props.text.clone()} {oninput}
                spellcheck="false" autocomplete="off" aria-invalid={props.broken.then_some("true")} />
        </div>
    }
}
