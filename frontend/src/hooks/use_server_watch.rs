//! While the server is unreachable, ask `/healthz` every few seconds; when it answers, say so,
//! reload what failed and, after a failed run (or lesson), run (or open) it again. Retry asks at
//! once.

use gloo_timers::callback::Interval;
use yew::prelude::*;

use crate::api;
use crate::hooks::apply_link;
use crate::model::share::{Link, Shared};
use crate::state::{Action, State};

const EVERY_MS: u32 = 3_000;

/// Returns the Retry callback (check now).
#[hook]
pub fn use_server_watch(state: &UseReducerHandle<State>, start: Callback<String>) -> Callback<()> {
    let check = {
        let dispatcher = state.dispatcher();
        let (rerun, text) = (state.rerun_after_outage, state.text.clone());
        let reopen = state.reopen_after_outage.clone();
        Callback::from(move |_| {
            let (dispatcher, start, text) = (dispatcher.clone(), start.clone(), text.clone());
            let reopen = reopen.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(limits) = api::limits().await else {
                    return;
                };
                dispatcher.dispatch(Action::LimitsLoaded(limits));
                dispatcher.dispatch(Action::ServerBack);
                dispatcher.dispatch(Action::PresetsLoaded(api::presets().await));
                if let Some((id, run)) = reopen {
                    let link = Link {
                        shared: Shared::Preset(id),
                        run,
                    };
                    apply_link(link, dispatcher, start, || {});
                } else if rerun {
                    start.emit(text);
                }
            });
        })
    };
    let down = state.server_down;
    let poll = check.clone();
    use_effect_with(down, move |down| {
        let timer = down.then(|| Interval::new(EVERY_MS, move || poll.emit(())));
        move || drop(timer)
    });
    check
}
