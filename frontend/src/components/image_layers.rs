//! One image's layers, dive-style: efficiency and wasted bytes, the layers (topmost first, as
//! `docker history` lists them), the picked layer's changes as a tree, the wasted files, and the
//! merged view with each entry's source layer.

use std::rc::Rc;

use rootlab_shared::layerview::{LayerRow, LayerView};
use yew::prelude::*;

use super::tree_diff::TreeDiff;
use crate::model::images::{bytes, change_rows, count, merged_rows, short_step};

#[derive(Properties, PartialEq)]
pub struct ImageLayersProps {
    pub name: AttrValue,
    pub view: Rc<LayerView>,
}

/// Wasted files listed before "and N more".
const WASTED_SHOWN: usize = 50;

#[function_component]
pub fn ImageLayers(props: &ImageLayersProps) -> Html {
    let view = &props.view;
    let top = view.layers.len().saturating_sub(1);
    let picked = use_state(|| top);
    {
        let picked = picked.clone();
        use_effect_with(props.view.clone(), move |_| picked.set(top));
    }
    let index = (*picked).min(top);
    let changes = use_memo((props.view.clone(), index), |(v, i)| {
        v.layers.get(*i).map(change_rows).unwrap_or_default()
    });
    let merged = use_memo(props.view.clone(), |v| merged_rows(v));
    let on_pick = Callback::from(move |i: usize| picked.set(i));
    html! {
        <div class="image-layers">
            <h2 class="image-title">{ &props.name }</h2>
            { summary(view) }
            { layer_table(view, index, &on_pick) }
            if let Some(layer) = view.layers.get(index) {
                <section class="layer-changes" id="layer-changes" aria-labelledby="layer-changes-title" data-layer={index.to_string()}>
                    <h3 id="layer-changes-title">{ format!("{}: what it changes", layer_name(layer)) }</h3>
                    <p class="layer-step"><code>{ layer.created_by.as_deref().unwrap_or(if layer.upper { "(what the container wrote; a commit makes it a layer)" } else { "(no history recorded)" }) }</code></p>
                    <TreeDiff rows={changes} left={format!("Changes of {}", layer_name(layer).to_lowercase())} right="" single=true only_nonzero=true />
                </section>
            }
            { wasted(view) }
            <section class="merged-view" aria-labelledby="merged-title">
                <h3 id="merged-title">{ "Merged view: what a container sees" }</h3>
                <TreeDiff rows={merged} left="Path, with the layer it comes from" right="" single=true only_nonzero=true />
            </section>
        </div>
    }
}

fn layer_name(layer: &LayerRow) -> String {
    if layer.upper {
        "The container's writable layer".into()
    } else {
        format!("Layer {}", layer.index)
    }
}

fn summary(view: &LayerView) -> Html {
    html! {
        <p class="lv-summary">
            <span class="lv-efficiency" data-efficiency={format!("{:.4}", view.efficiency)}
                title="The share of the bytes the layers ship that the final view shows: 1 − wasted / shipped">
                <strong>{ format!("{:.1}%", view.efficiency * 100.0) }</strong>{ " efficiency" }
            </span>
            <span class="lv-wasted" data-wasted={view.wasted_bytes.to_string()}>
                <strong>{ bytes(view.wasted_bytes) }</strong>{ format!(" wasted of {} shipped", bytes(view.total_bytes)) }
            </span>
            <span class="muted">{ format!("{} · {} in the final view", count(view.layers.len(), "layer"), count(view.merged.len(), "path")) }</span>
        </p>
    }
}

fn layer_table(view: &LayerView, picked: usize, on_pick: &Callback<usize>) -> Html {
    html! {
        <table class="layer-table">
            <caption class="sr-only">{ "Layers, topmost first: pick one to see what it changes" }</caption>
            <thead><tr>
                <th scope="col">{ "#" }</th><th scope="col">{ "Size" }</th><th scope="col">{ "Changes" }</th>
                <th scope="col" class="lt-wasted">{ "Wasted" }</th><th scope="col">{ "Step" }</th>
            </tr></thead>
            <tbody>
                { for view.layers.iter().rev().map(|l| layer_row(l, l.index == picked, on_pick)) }
            </tbody>
        </table>
    }
}

fn layer_row(layer: &LayerRow, on: bool, on_pick: &Callback<usize>) -> Html {
    let i = layer.index;
    let step = layer.created_by.clone().unwrap_or_default();
    let count = |class: &'static str, sign: &str, n: usize, what: &str| {
        html! { <span class={classes!("count", class)} title={format!("{n} {what}")}>{ format!("{sign}{n}") }</span> }
    };
    html! {
        <tr class={classes!("layer-row", on.then_some("selected"), layer.upper.then_some("upper"))} data-layer={i.to_string()}
            onclick={on_pick.reform(move |_| i)}>
            <td><button type="button" class="layer-pick" aria-pressed={on.to_string()} aria-label={format!("{}: show what it changes", layer_name(layer))}>
                { if layer.upper { "W".to_string() } else { i.to_string() } }
            </button></td>
            <td class="lt-num">{ bytes(layer.size) }</td>
            <td class="lt-counts">
                { count("added", "+", layer.added.len(), "added") }
                { count("changed", "~", layer.modified.len(), "modified") }
                { count("removed", "−", layer.deleted.len(), "deleted") }
                if !layer.opaque.is_empty() { <span class="badge opaque-badge" title="opaque directories">{ format!("opaque {}", layer.opaque.len()) }</span> }
            </td>
            <td class="lt-num lt-wasted">{ bytes(layer.wasted_bytes) }</td>
            <td class="lt-step" title={step}>{ short_step(layer.created_by.as_deref(), 60) }</td>
        </tr>
    }
}

fn wasted(view: &LayerView) -> Html {
    if view.wasted.is_empty() {
        return html! { <p class="muted">{ "No wasted bytes: every file a layer ships is in the final view." }</p> };
    }
    let more = view.wasted.len().saturating_sub(WASTED_SHOWN);
    html! {
        <details class="wasted-files">
            <summary>{ format!("Wasted files: {} ({})", view.wasted.len(), bytes(view.wasted_bytes)) }</summary>
            <table class="wasted-table">
                <thead><tr><th scope="col">{ "Path" }</th><th scope="col">{ "Copies" }</th><th scope="col">{ "Wasted" }</th></tr></thead>
                <tbody>
                    { for view.wasted.iter().take(WASTED_SHOWN).map(|w| html! {
                        <tr data-path={w.path.clone()}><td class="path">{ &w.path }</td><td class="lt-num">{ w.copies }</td><td class="lt-num">{ bytes(w.bytes) }</td></tr>
                    }) }
                </tbody>
            </table>
            if more > 0 { <p class="muted">{ format!("and {more} more") }</p> }
        </details>
    }
}
