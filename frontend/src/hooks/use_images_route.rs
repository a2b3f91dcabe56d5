//! The Images page's place in the address bar (`#images`, `#images/<name>`): read at start, on
//! Back, Forward and an edited fragment; a new place is pushed with [`push_fragment`].

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

use crate::model::images;

fn hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// `None`: the playground; `Some(None)`: the image list; `Some(Some(name))`: an image.
#[hook]
pub fn use_images_route() -> UseStateHandle<Option<Option<String>>> {
    let route = use_state(|| images::route(&hash()));
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let on_change = Closure::<dyn Fn()>::new(move || route.set(images::route(&hash())));
            let window = web_sys::window();
            for event in ["popstate", "hashchange"] {
                if let Some(w) = &window {
                    let _ = w.add_event_listener_with_callback(
                        event,
                        on_change.as_ref().unchecked_ref(),
                    );
                }
            }
            move || {
                for event in ["popstate", "hashchange"] {
                    if let Some(w) = &window {
                        let f = on_change.as_ref().unchecked_ref();
                        let _ = w.remove_event_listener_with_callback(event, f);
                    }
                }
            }
        });
    }
    route
}

/// A new history entry at `fragment` (no `hashchange` follows: the caller sets the route).
pub fn push_fragment(fragment: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(fragment));
    }
}

/// Go to `fragment` from anywhere in the app: a new history entry whose `hashchange` every
/// [`use_images_route`] sees.
pub fn go_to_fragment(fragment: &str) {
    if let Some(location) = web_sys::window().map(|w| w.location()) {
        let _ = location.set_hash(fragment.trim_start_matches('#'));
    }
}
