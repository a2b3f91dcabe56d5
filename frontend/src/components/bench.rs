//! A debug page (`#bench=<n>`) that diffs and renders two synthetic n-entry trees, fully open, and
//! records how long it took in `#bench-result` (read by e2e/browser/budgets.mjs).

use std::cell::Cell;
use std::rc::Rc;

use rootlab_shared::result::{FileKind, Tree, TreeEntry};
use wasm_bindgen::prelude::*;
use yew::prelude::*;

use super::tree_diff::TreeDiff;
use crate::model::tree::{self, Row, Side};

#[derive(Properties, PartialEq)]
pub struct BenchProps {
    pub entries: usize,
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

fn entry(path: String, kind: FileKind, size: u64) -> TreeEntry {
    TreeEntry {
        size,
        ..TreeEntry::new(path, kind)
    }
}

/// `n` entries in directories of 100; the right side changes, drops and adds about 1% each.
fn synthetic(n: usize, right: bool) -> Side {
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let (dir, file) = (i / 100, i % 100);
        if file == 0 {
            entries.push(entry(format!("/d{dir:03}"), FileKind::Dir, 0));
            continue;
        }
        if right && i % 97 == 0 {
            continue;
        }
        let size = if right && i % 89 == 0 { 2 } else { 1 };
        entries.push(entry(
            format!("/d{dir:03}/f{file:02}"),
            FileKind::File,
            size,
        ));
        if right && i % 101 == 0 {
            entries.push(entry(format!("/d{dir:03}/new{file:02}"), FileKind::File, 1));
        }
    }
    Side {
        depth: None,
        tree: Rc::new(Tree {
            root: "/".into(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        }),
        mounts: Rc::new(vec![]),
    }
}

#[function_component]
pub fn Bench(props: &BenchProps) -> Html {
    let rows = use_state(|| None::<Rc<Vec<Row>>>);
    let started = use_mut_ref(|| Cell::new(0.0));
    let diffed = use_mut_ref(|| Cell::new(0.0));
    {
        let (rows, started, diffed, n) =
            (rows.clone(), started.clone(), diffed.clone(), props.entries);
        use_effect_with((), move |_| {
            let (left, right) = (synthetic(n, false), synthetic(n, true));
            started.borrow().set(now());
            let result = tree::diff(&left, &right);
            diffed.borrow().set(now());
            rows.set(Some(Rc::new(result)));
        });
    }
    {
        let ready = rows.is_some();
        use_effect_with(ready, move |ready| {
            if *ready {
                let t0 = started.borrow().get();
                let diff_ms = diffed.borrow().get() - t0;
                let dom_ms = now() - t0;
                record("diffMs", diff_ms);
                record("domMs", dom_ms);
                // Two animation frames later the browser has laid out and painted the rows.
                let painted = Closure::once_into_js(move || {
                    let again = Closure::once_into_js(move || {
                        record("paintMs", now() - t0);
                        record("done", 1.0);
                    });
                    let _ =
                        web_sys::window().map(|w| w.request_animation_frame(again.unchecked_ref()));
                });
                let _ =
                    web_sys::window().map(|w| w.request_animation_frame(painted.unchecked_ref()));
            }
        });
    }
    html! {
        <main class="bench">
            <h1>{ format!("Tree diff benchmark: {} entries per side", props.entries) }</h1>
            <output id="bench-result">{ "measuring…" }</output>
            if let Some(rows) = (*rows).clone() {
                <TreeDiff {rows} left="synthetic left" right="synthetic right" expand_all=true />
            }
        </main>
    }
}

fn record(key: &str, value: f64) {
    let el = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("bench-result"));
    if let Some(el) = el {
        let _ = el.set_attribute(
            &format!("data-{}", key.to_lowercase()),
            &format!("{value:.1}"),
        );
        if key == "done" {
            let text = ["diffms", "domms", "paintms"]
                .map(|k| {
                    format!(
                        "{k}={}",
                        el.get_attribute(&format!("data-{k}")).unwrap_or_default()
                    )
                })
                .join(" ");
            el.set_text_content(Some(&text));
        }
    }
}
