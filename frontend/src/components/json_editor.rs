//! The raw JSON editor beside the form, validated on every keystroke, with line numbers; a
//! problem's "line 3, column 5" jumps here.

use wasm_bindgen::JsCast;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::model::json_pos;

#[derive(Properties, PartialEq)]
pub struct JsonEditorProps {
    pub text: AttrValue,
    pub on_edit: Callback<String>,
    /// The document does not parse (its error is listed under the editor).
    pub broken: bool,
}

#[function_component]
pub fn JsonEditor(props: &JsonEditorProps) -> Html {
    let gutter = use_node_ref();
    let oninput = props
        .on_edit
        .reform(|e: InputEvent| e.target_unchecked_into::<HtmlTextAreaElement>().value());
    let onscroll = {
        let gutter = gutter.clone();
        Callback::from(move |e: Event| {
            let top = e.target_unchecked_into::<web_sys::Element>().scroll_top();
            if let Some(g) = gutter.cast::<web_sys::Element>() {
                g.set_scroll_top(top);
            }
        })
    };
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
            <div class="json-wrap">
                <pre class="gutter" ref={gutter} aria-hidden="true">{ json_pos::line_numbers(&props.text) }</pre>
                <textarea id="f-json" class={classes!(props.broken.then_some("invalid"))} value={props.text.clone()} {oninput} {onscroll}
                    spellcheck="false" autocomplete="off" wrap="off" aria-invalid={props.broken.then_some("true")} />
            </div>
        </div>
    }
}

/// Puts the caret at (line, column) of the editor, selects the character there and scrolls it
/// into view.
pub fn jump_to(line: usize, col: usize) {
    let editor = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("f-json"))
        .and_then(|e| e.dyn_into::<HtmlTextAreaElement>().ok());
    let Some(editor) = editor else {
        return;
    };
    let text = editor.value();
    let at = json_pos::utf16_offset(&text, line, col);
    let _ = editor.focus();
    let _ = editor.set_selection_range(at, at + 1);
    let lines = text.split('\n').count().max(1) as i32;
    let line_px = editor.scroll_height() / lines;
    editor.set_scroll_top((line as i32 - 3).max(0) * line_px);
    editor.scroll_into_view();
}
