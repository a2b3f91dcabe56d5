//! Keeps the URL fragment in step with the experiment, so the address bar is always a share link:
//! opening another lesson is a new history entry (Back returns to the one before), editing
//! replaces the current one (typing must not flood the back button).

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

/// Another entry, or the same one rewritten: a lesson is a place, an edit is not.
fn is_new_place(from: Option<Link>, to: &Link) -> bool {
    match (from.map(|l| l.shared), &to.shared) {
        (Some(Shared::Preset(a)), Shared::Preset(b)) => &a != b,
        (_, Shared::Preset(_)) => true,
        (Some(Shared::Preset(_)), Shared::Spec(_)) => false,
        _ => false,
    }
}

#[hook]
pub fn use_link_sync(state: &UseReducerHandle<State>, enabled: bool) {
    let link = enabled.then(|| current_link(state, false));
    use_effect_with(link, |link| {
        let (Some(link), Some(window)) = (link, web_sys::window()) else {
            return;
        };
        let fragment = format!("#{}", share::to_fragment(link));
        let here = window.location().hash().unwrap_or_default();
        if here == fragment {
            return;
        }
        let Ok(history) = window.history() else {
            return;
        };
        let null = wasm_bindgen::JsValue::NULL;
        let _ = if is_new_place(share::from_fragment(&here), link) {
            history.push_state_with_url(&null, "", Some(&fragment))
        } else {
            history.replace_state_with_url(&null, "", Some(&fragment))
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(id: &str) -> Link {
        Link {
            shared: Shared::Preset(id.into()),
            run: false,
        }
    }

    #[test]
    fn lessons_are_history_entries_and_edits_are_not() {
        let spec = Link {
            shared: Shared::Spec("{}".into()),
            run: false,
        };
        assert!(is_new_place(Some(preset("a")), &preset("b")));
        assert!(!is_new_place(Some(preset("a")), &preset("a")));
        assert!(is_new_place(None, &preset("a")));
        assert!(!is_new_place(Some(preset("a")), &spec), "editing a lesson");
        assert!(!is_new_place(Some(spec.clone()), &spec));
    }
}
