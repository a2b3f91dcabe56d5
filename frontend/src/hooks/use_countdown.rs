//! After a 429 the page counts the server's Retry-After down, second by second, then runs again.

use gloo_timers::callback::Timeout;
use yew::prelude::*;

use crate::state::{Action, RunPhase, State};

#[hook]
pub fn use_retry_countdown(state: &UseReducerHandle<State>, start: Callback<String>) {
    let seconds = match &state.run {
        RunPhase::Waiting { seconds_left, .. } => Some(*seconds_left),
        _ => None,
    };
    let dispatcher = state.dispatcher();
    let text = state.text.clone();
    use_effect_with(seconds, move |seconds| {
        let timer = seconds.map(|left| {
            Timeout::new(1_000, move || {
                if left <= 1 {
                    start.emit(text);
                } else {
                    dispatcher.dispatch(Action::Tick);
                }
            })
        });
        move || drop(timer)
    });
}
