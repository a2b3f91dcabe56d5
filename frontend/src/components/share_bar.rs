//! Share: the link that reproduces the experiment, the equivalent `curl` command and the spec JSON,
//! each copied in one click (and shown, for browsers that refuse the clipboard).

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ShareBarProps {
    pub link: AttrValue,
    pub curl: AttrValue,
    pub spec: AttrValue,
}

#[function_component]
pub fn ShareBar(props: &ShareBarProps) -> Html {
    let copied = use_state(|| None::<&'static str>);
    let copy = |what: &'static str, text: AttrValue| {
        let copied = copied.clone();
        Callback::from(move |_| {
            copy_text(&text);
            copied.set(Some(what));
        })
    };
    html! {
        <details class="share">
            <summary>{ "Share" }</summary>
            <div class="share-body">
                <div class="share-row">
                    <button type="button" id="copy-link" onclick={copy("link", props.link.clone())}>{ "Copy link" }</button>
                    <button type="button" id="copy-curl" onclick={copy("curl", props.curl.clone())}>{ "Copy curl" }</button>
                    <button type="button" id="copy-spec" onclick={copy("spec", props.spec.clone())}>{ "Copy spec JSON" }</button>
                    <span role="status" class="ok">{ copied.map(|w| format!("Copied the {w}.")).unwrap_or_default() }</span>
                </div>
                <label for="share-link">{ "Link (opens and runs this experiment)" }</label>
                <input id="share-link" readonly=true value={props.link.clone()} />
                <label for="share-curl">{ "curl" }</label>
                <textarea id="share-curl" readonly=true rows="3" value={props.curl.clone()} />
            </div>
        </details>
    }
}

fn copy_text(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}
