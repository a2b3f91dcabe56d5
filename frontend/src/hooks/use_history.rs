//! Back, Forward and a link pasted into an open tab: on `popstate` and `hashchange`, the page
//! opens what the address bar now names (a lesson by id or a spec), and runs it if the link says so.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::api;
use crate::hooks::current_link;
use crate::model::share::{self, Link, Shared};
use crate::state::{Action, Pane, State};

/// Opens what `link` names; `done` runs once it is in the state (a lesson is fetched first).
pub fn apply_link(
    link: Link,
    dispatcher: UseReducerDispatcher<State>,
    start: Callback<String>,
    done: impl FnOnce() + 'static,
) {
    match link.shared {
        Shared::Preset(id) => wasm_bindgen_futures::spawn_local(async move {
            match api::preset(&id).await {
                Ok(preset) => {
                    let text = serde_json::to_string_pretty(&preset.spec).unwrap_or_default();
                    dispatcher.dispatch(Action::OpenPreset(preset));
                    if link.run {
                        start.emit(text);
                    }
                }
                Err(error) => dispatcher.dispatch(Action::PresetFailed {
                    id,
                    run: link.run,
                    error,
                }),
            }
            done();
        }),
        Shared::Spec(text) => {
            dispatcher.dispatch(Action::Edit(text.clone()));
            dispatcher.dispatch(Action::ShowPane(Pane::Compose));
            if link.run {
                start.emit(text);
            }
            done();
        }
    }
}

fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

#[hook]
pub fn use_history(state: &UseReducerHandle<State>, start: Callback<String>) {
    // What the page shows now, read by the listener (which outlives this render).
    let shown: Rc<RefCell<Link>> = use_mut_ref(|| current_link(state, false));
    *shown.borrow_mut() = current_link(state, false);
    let dispatcher = state.dispatcher();
    use_effect_with((), move |_| {
        let on_change = Closure::<dyn Fn()>::new(move || {
            let Some(link) = share::from_fragment(&location_hash()) else {
                return;
            };
            if link.shared != shown.borrow().shared || link.run {
                apply_link(link, dispatcher.clone(), start.clone(), || {});
            }
        });
        let window = web_sys::window();
        if let Some(w) = &window {
            for event in ["popstate", "hashchange"] {
                let _ =
                    w.add_event_listener_with_callback(event, on_change.as_ref().unchecked_ref());
            }
        }
        move || {
            if let Some(w) = window {
                for event in ["popstate", "hashchange"] {
                    let _ = w.remove_event_listener_with_callback(
                        event,
                        on_change.as_ref().unchecked_ref(),
                    );
                }
            }
        }
    });
}
