//! Runs an experiment through the streaming API and feeds its progress into the state; keeps the
//! abort handle so Cancel can stop it.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::AbortController;
use yew::prelude::*;

use crate::api;
use crate::state::{Action, RunPhase, State};

/// Start (with the spec's JSON text) and cancel.
#[derive(Clone, PartialEq)]
pub struct Runner {
    pub start: Callback<String>,
    pub cancel: Callback<()>,
}

#[hook]
pub fn use_runner(state: &UseReducerHandle<State>) -> Runner {
    let controller: Rc<RefCell<Option<AbortController>>> = use_mut_ref(|| None);
    let start = {
        let dispatcher = state.dispatcher();
        let controller = controller.clone();
        Callback::from(move |text: String| {
            let Ok(abort) = AbortController::new() else {
                return;
            };
            let signal = abort.signal();
            if let Some(previous) = controller.borrow_mut().replace(abort) {
                previous.abort();
            }
            dispatcher.dispatch(Action::RunStarted);
            let dispatcher = dispatcher.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let (on_id, on_event) = (dispatcher.clone(), dispatcher.clone());
                let outcome = api::run_stream(
                    text,
                    &signal,
                    move |id| on_id.dispatch(Action::RunId(id)),
                    move |event| on_event.dispatch(Action::Event(event)),
                )
                .await;
                dispatcher.dispatch(Action::RunEnded(outcome));
            });
        })
    };
    let cancel = {
        let run_id = match &state.run {
            RunPhase::Running(p) => p.run_id.clone(),
            _ => None,
        };
        let waiting = matches!(state.run, RunPhase::Waiting { .. });
        let dispatcher = state.dispatcher();
        Callback::from(move |_| {
            if let Some(run) = run_id.clone() {
                // The DELETE kills the worker at once; aborting the stream alone would too, later.
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = api::cancel(&run).await;
                });
            }
            if let Some(abort) = controller.borrow_mut().take() {
                abort.abort();
            }
            if waiting {
                dispatcher.dispatch(Action::RunEnded(Err(api::ApiError::Cancelled)));
            }
        })
    };
    Runner { start, cancel }
}
