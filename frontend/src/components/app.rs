//! The page: the lesson gallery or the composer on the left, the run and its result on the right;
//! or the Images page (`#images`).

use std::rc::Rc;

use yew::prelude::*;

use super::bench::Bench;
use super::composer::Composer;
use super::gallery::Gallery;
use super::images::Images;
use super::issues::Issues;
use super::json_editor::JsonEditor;
use super::lesson::Lesson;
use super::point::PointCard;
use super::quiz::{Quiz, QuizVerdict};
use super::results::Results;
use super::run_bar::RunBar;
use super::share_bar::ShareBar;
use crate::api;
use crate::hooks::{
    apply_link, current_link, push_fragment, reveal, stored_progress, use_history,
    use_images_route, use_link_sync, use_progress_store, use_retry_countdown, use_reveal,
    use_runner, use_server_watch,
};
use crate::model::{curl, fields};
use crate::model::{images, share};
use crate::state::{Action, Pane, Remote, RunPhase, State};

fn location() -> (String, String) {
    let loc = web_sys::window().map(|w| w.location());
    let origin = loc
        .as_ref()
        .and_then(|l| l.origin().ok())
        .unwrap_or_default();
    let page = loc
        .as_ref()
        .map(|l| format!("{}{}", origin, l.pathname().unwrap_or_default()))
        .unwrap_or_default();
    let hash = loc.and_then(|l| l.hash().ok()).unwrap_or_default();
    (page, hash)
}

/// `#bench=10000` opens the tree diff benchmark instead of the playground.
#[function_component]
pub fn App() -> Html {
    let bench = use_state(|| {
        location()
            .1
            .strip_prefix("#bench=")
            .and_then(|n| n.parse::<usize>().ok())
    });
    match *bench {
        Some(entries) => html! { <Bench {entries} /> },
        None => html! { <Playground /> },
    }
}

#[function_component]
fn Playground() -> Html {
    let state = use_reducer(|| State {
        quiz: stored_progress(),
        ..State::default()
    });
    use_progress_store(&state.quiz);
    let runner = use_runner(&state);
    use_retry_countdown(&state, runner.start.clone());
    let retry = use_server_watch(&state, runner.start.clone());
    use_history(&state, runner.start.clone());
    let link_ready = use_state(|| false);
    let route = use_images_route();
    // The address bar names the Images page while it shows.
    use_link_sync(&state, *link_ready && route.is_none());
    use_initial_load(&state, runner.start.clone(), link_ready.setter());
    use_gallery_timing(matches!(state.presets, Remote::Ready(_)));
    use_reveal(
        (state.runs_done > 0).then_some(state.runs_done),
        &["point", "results"],
    );

    let dispatcher = state.dispatcher();
    let on_edit = Callback::from({
        let d = dispatcher.clone();
        move |text: String| d.dispatch(Action::Edit(text))
    });
    let on_open = open_preset(dispatcher.clone(), Then::Compose);
    let on_predict = open_preset(dispatcher.clone(), Then::Predict);
    let on_run_preset = open_preset(dispatcher.clone(), Then::Run(runner.start.clone()));
    let on_pick = Callback::from({
        let d = dispatcher.clone();
        move |pick| d.dispatch(Action::Pick(pick))
    });
    let on_run = runner.start.reform({
        let text = state.text.clone();
        move |_| text.clone()
    });
    let on_compare = Callback::from({
        let d = dispatcher.clone();
        move |(a, b)| d.dispatch(Action::Compare(a, b))
    });
    let back = format!("#{}", share::to_fragment(&current_link(&state, false)));
    let show = |pane: Pane| {
        let (d, route, back) = (dispatcher.clone(), route.clone(), back.clone());
        Callback::from(move |_| {
            if route.is_some() {
                push_fragment(&back);
                route.set(None);
            }
            d.dispatch(Action::ShowPane(pane))
        })
    };
    let go_images = {
        let route = route.clone();
        Callback::from(move |name: Option<String>| {
            push_fragment(&images::fragment(name.as_deref()));
            route.set(Some(name));
        })
    };
    let (page, _) = location();
    let origin = page
        .rsplit_once('/')
        .map(|(o, _)| o.to_string())
        .unwrap_or_default();
    let link = format!("{page}#{}", share::to_fragment(&current_link(&state, true)));
    let issues = Rc::new(state.issues.clone());
    let broken = state.spec.is_none();
    let on_images = route.is_some();
    let compose = state.pane == Pane::Compose && !on_images;
    let lessons = state.pane == Pane::Lessons && !on_images;
    html! {
        <div class="app">
            <header class="topbar">
                <h1>{ logo() }{ "rootlab" }</h1>
                <p class="tagline">{ "mount namespaces, propagation, chroot/pivot_root and overlay layers on a real kernel" }</p>
                <nav class="tabs" aria-label="Views">
                    <button type="button" id="tab-lessons" class={classes!("tab", lessons.then_some("active"))} aria-pressed={lessons.to_string()} onclick={show(Pane::Lessons)}>{ "Lessons" }</button>
                    <button type="button" id="tab-compose" class={classes!("tab", compose.then_some("active"))} aria-pressed={compose.to_string()} onclick={show(Pane::Compose)}>
                        { "Compose" }
                        if !issues.is_empty() { <span class="badge err-count" title="problems in the spec">{ issues.len() }</span> }
                    </button>
                    <button type="button" id="tab-images" class={classes!("tab", on_images.then_some("active"))} aria-pressed={on_images.to_string()} onclick={go_images.reform(|_| None)}>{ "Images" }</button>
                </nav>
                <ShareBar link={link} curl={curl::run_command(&origin, &state.text)} spec={state.text.clone()} />
            </header>
            if let Some(name) = (*route).clone() {
                <Images {name} on_pick={go_images.reform(Some)} />
            } else {
            <main class={classes!("layout", compose.then_some("composing"))} data-presets={presets_state(&state.presets)}>
                <aside class="left" aria-label={if compose { "Composer" } else { "Lessons" }}>
                    if compose {
                        <div class="compose-grid">
                            <div class="form-col"><Composer text={state.text.clone()} issues={issues.clone()} on_edit={on_edit.clone()} /></div>
                            <div class="json-col">
                                <JsonEditor text={state.text.clone()} on_edit={on_edit} {broken} />
                                <Issues issues={issues.clone()} />
                            </div>
                        </div>
                    } else {
                        <Gallery presets={state.presets.clone()} selected={state.preset.as_ref().map(|p| p.id.clone())}
                            on_open={on_open} {on_predict} on_run={on_run_preset} busy={state.busy()} progress={state.quiz.clone()} />
                    }
                </aside>
                <section class="right" aria-label="Run and result">
                    if state.server_down {
                        <div class="server-down" role="alert">
                            <strong>{ "The server is not reachable." }</strong>
                            { " Checking again every 3 seconds… " }
                            <button type="button" id="retry" class="small" onclick={retry.reform(|_| ())}>{ "Retry now" }</button>
                        </div>
                    }
                    if let Some(question) = state.open_question() {
                        <Quiz {question} pick={state.pick} on_pick={on_pick} busy={state.busy()} graded={fresh_graded(&state)} />
                    }
                    <RunBar phase={state.run.clone()} blocked={!issues.is_empty()} {on_run} on_cancel={runner.cancel.clone()} />
                    if !issues.is_empty() && !compose {
                        <p class="error inline-issues" role="alert">
                            { format!("The spec has {} problem(s), first: {}: {}. ", issues.len(), fields::human(&issues[0].field), issues[0].message) }
                            <button type="button" class="link" onclick={show(Pane::Compose)}>{ "Open the composer" }</button>
                        </p>
                    }
                    if let Some(why) = stale(&state) {
                        <p class="stale-banner" role="status">{ why }</p>
                    }
                    if let (Some(point), Some(_)) = (state.point.clone(), state.result.as_ref()) {
                        <div class={classes!(stale(&state).is_some().then_some("stale"))}>
                            <PointCard {point} on_explain={state.preset.is_some().then(|| Callback::from(|_| open_lesson()))}
                                verdict={state.graded.clone().map(|(_, graded)| html! { <QuizVerdict {graded} /> }).unwrap_or_default()} />
                        </div>
                    }
                    <Lesson preset={state.preset.clone()} pristine={state.pristine} collapsed={lesson_folded(&state)} />
                    if let Some(result) = state.result.clone() {
                        <div class={classes!(stale(&state).is_some().then_some("stale"))}>
                            <Results {result} spec={state.result_spec.clone()} pair={state.compare.clone()} {on_compare} />
                        </div>
                    } else {
                        <div class="empty">
                            <p>{ "Pick a lesson from the list and press " }<strong>{ "▶ Run" }</strong>{ ", or compose your own experiment." }</p>
                            <p class="muted">{ "Each run happens in a real, disposable namespace sandbox on this server's kernel; the result shows file trees and mount tables from each point of view." }</p>
                        </div>
                    }
                </section>
            </main>
            }
        </div>
    }
}

/// Why the result below is not the experiment above, if it is not: its spec was another one, or
/// the last run failed and this is the one before.
fn stale(state: &State) -> Option<String> {
    state.result.as_ref()?;
    if matches!(state.run, RunPhase::Failed(_)) {
        return Some(
            "The last run failed (see above): the result below is from the run before it.".into(),
        );
    }
    if matches!(state.run, RunPhase::Running(_) | RunPhase::Waiting { .. }) {
        return Some("Running: the result below is from the previous run.".into());
    }
    let title = |spec: Option<&rootlab_shared::spec::Spec>| {
        spec.map(|s| s.title.clone()).unwrap_or_default()
    };
    (state.result_spec.as_deref() != state.spec.as_ref()).then(|| {
        format!(
            "The result below is from an earlier experiment (“{}”), not the one now open: press ▶ Run to see this one.",
            title(state.result_spec.as_deref())
        )
    })
}

/// The graded answer, when the result shown is the open lesson's latest run.
fn fresh_graded(state: &State) -> Option<crate::model::quiz::Graded> {
    let (id, graded) = state.graded.clone()?;
    let open = state.preset.as_ref().map(|p| p.id.as_str());
    (open == Some(id.as_str()) && stale(state).is_none()).then_some(graded)
}

/// The lesson's text folds under a fresh result (the card says the point), and while its question
/// waits for a prediction (the text gives the answer away).
fn lesson_folded(state: &State) -> bool {
    let fresh = state.result.is_some() && stale(state).is_none();
    fresh || (state.open_question().is_some() && fresh_graded(state).is_none())
}

/// What opening a lesson leads to.
#[derive(Clone)]
enum Then {
    /// Show it in the composer.
    Compose,
    /// Stay on the lessons and bring its question into view.
    Predict,
    /// Run it at once (its question is skipped).
    Run(Callback<String>),
}

/// Opens the lesson's full explanation and brings it into view.
fn open_lesson() {
    let lesson = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("lesson"));
    if let Some(lesson) = lesson {
        let _ = lesson.set_attribute("open", "");
        reveal(&["lesson"]);
    }
}

/// Loads a lesson, then shows it in the composer, asks its question, or runs it.
fn open_preset(dispatcher: UseReducerDispatcher<State>, then: Then) -> Callback<String> {
    Callback::from(move |id: String| {
        let (dispatcher, then) = (dispatcher.clone(), then.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match api::preset(&id).await {
                Ok(preset) => {
                    let text = serde_json::to_string_pretty(&preset.spec).unwrap_or_default();
                    dispatcher.dispatch(Action::OpenPreset(preset));
                    match then {
                        Then::Run(run) => run.emit(text),
                        Then::Compose => dispatcher.dispatch(Action::ShowPane(Pane::Compose)),
                        // After the render that shows the question.
                        Then::Predict => {
                            gloo_timers::callback::Timeout::new(0, || reveal(&["quiz"])).forget();
                        }
                    }
                }
                Err(error) => dispatcher.dispatch(Action::PresetFailed {
                    id,
                    run: matches!(then, Then::Run(_)),
                    error,
                }),
            }
        });
    })
}

/// On first render: the gallery, the server's limits, and the experiment a pasted link carries.
#[hook]
fn use_initial_load(
    state: &UseReducerHandle<State>,
    start: Callback<String>,
    link_ready: UseStateSetter<bool>,
) {
    let dispatcher = state.dispatcher();
    use_effect_with((), move |_| {
        let d = dispatcher.clone();
        wasm_bindgen_futures::spawn_local(async move {
            d.dispatch(Action::PresetsLoaded(api::presets().await))
        });
        let d = dispatcher.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(limits) = api::limits().await {
                d.dispatch(Action::LimitsLoaded(limits));
            }
        });
        match share::from_fragment(&location().1) {
            Some(link) => apply_link(link, dispatcher, start, move || link_ready.set(true)),
            None => link_ready.set(true),
        }
    });
}

/// Records when the gallery first rendered (`data-gallery-ms` on `<html>`), for the budget script.
#[hook]
fn use_gallery_timing(ready: bool) {
    use_effect_with(ready, |ready| {
        let window = web_sys::window();
        let now = window
            .as_ref()
            .and_then(|w| w.performance())
            .map(|p| p.now());
        let root = window
            .and_then(|w| w.document())
            .and_then(|d| d.document_element());
        if let (true, Some(now), Some(root)) = (*ready, now, root) {
            if !root.has_attribute("data-gallery-ms") {
                let _ = root.set_attribute("data-gallery-ms", &format!("{now:.1}"));
            }
        }
    });
}

/// Stacked layers over a root: drawn, so no font has to carry a glyph for it.
fn logo() -> Html {
    html! {
        <svg class="logo" width="22" height="22" viewBox="0 0 22 22" aria-hidden="true">
            <rect x="2" y="3" width="18" height="4" rx="1" fill="currentColor" opacity="0.45" />
            <rect x="2" y="9" width="18" height="4" rx="1" fill="currentColor" opacity="0.7" />
            <rect x="2" y="15" width="18" height="4" rx="1" fill="currentColor" />
        </svg>
    }
}

/// `data-presets` on `<main>`: lets tests and scripts wait for the gallery without guessing.
fn presets_state<T>(presets: &Remote<T>) -> &'static str {
    match presets {
        Remote::Loading => "loading",
        Remote::Ready(_) => "ready",
        Remote::Failed(_) => "failed",
    }
}
