//! rootlab's playground in the browser: lesson gallery, experiment composer, runs and comparisons.
//! Pure view models live in `model` (unit-tested on the host); `components` render them.

pub mod api;
pub mod components;
pub mod hooks;
pub mod model;
pub mod state;

/// Mounts the app on the page.
pub fn start() {
    yew::Renderer::<components::app::App>::new().render();
}
