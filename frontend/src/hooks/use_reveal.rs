//! When a run ends, bring its first part into view and move focus there, so a phone shows the
//! result (not the gallery card that was tapped) and a keyboard user reads on from it.

use wasm_bindgen::JsCast;
use web_sys::{FocusOptions, HtmlElement, ScrollIntoViewOptions, ScrollLogicalPosition};
use yew::prelude::*;

/// Reveals the first of `ids` on the page each time `key` changes to `Some`.
#[hook]
pub fn use_reveal(key: Option<usize>, ids: &'static [&'static str]) {
    use_effect_with(key, move |key| {
        if key.is_some() {
            reveal(ids);
        }
    });
}

/// Scrolls the element in (only as far as needed) and focuses it without a second scroll.
pub fn reveal(ids: &[&str]) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(el) = ids.iter().find_map(|id| document.get_element_by_id(id)) else {
        return;
    };
    let scroll = ScrollIntoViewOptions::new();
    scroll.set_block(ScrollLogicalPosition::Nearest);
    el.scroll_into_view_with_scroll_into_view_options(&scroll);
    if let Ok(el) = el.dyn_into::<HtmlElement>() {
        let focus = FocusOptions::new();
        focus.set_prevent_scroll(true);
        let _ = el.focus_with_options(&focus);
    }
}
