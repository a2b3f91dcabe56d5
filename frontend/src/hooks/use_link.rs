//! Keeps the URL fragment in step with the experiment, so the address bar is always a share link.

use yew::prelude::*;

use crate::model::share::{self, Link, Shared};
use crate::state::State;

/// The link for the current experiment (a lesson by id while it is unchanged, else the spec).
pub fn current_link(state: &State, run: bool) -> Link {
    let shared = match (&state.preset, state.pristine) {
        (Some(p), true) => Shared::Preset(p.id.clone()),
        _ => Shared::Spec(state.text.clone()),
    };
    Link { shared, run }
}

#[hook]
pub fn use_link_sync(state: &UseReducerHandle<State>, enabled: bool) {
    let fragment = enabled.then(|| share::to_fragment(&current_link(state, false)));
    use_effect_with(fragment, |fragment| {
        if let (Some(fragment), Some(window)) = (fragment, web_sys::window()) {
            if let Ok(history) = window.history() {
                // replaceState: editing must not flood the back button with entries.
                let _ = history.replace_state_with_url(
                    &wasm_bindgen::JsValue::NULL,
                    "",
                    Some(&format!("#{fragment}")),
                );
            }
        }
    });
}
