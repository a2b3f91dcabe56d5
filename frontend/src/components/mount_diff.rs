//! Two mount tables side by side as findmnt trees (TARGET and PROPAGATION first, so a narrow
//! screen keeps them in view; FSTYPE, SOURCE, OPTIONS scroll),
//! differing rows highlighted and a mount that leaked from a container to the host called out.

use rootlab_shared::result::MountEntry;
use yew::prelude::*;

use super::glossary::propagation_header;
use crate::model::mounts::{self, MountRow};

#[derive(Properties, PartialEq)]
pub struct MountDiffProps {
    pub left_label: AttrValue,
    pub right_label: AttrValue,
    /// `None` for a side without a mount table (a layer's own tree).
    pub left: Option<Vec<MountRow>>,
    pub right: Option<Vec<MountRow>>,
    /// The green "nothing leaked" verdict, when a container mounted and the host's table shows none.
    #[prop_or_default]
    pub verdict: Option<AttrValue>,
    /// Both sides are the same: show the left table alone.
    #[prop_or_default]
    pub single: bool,
}

#[function_component]
pub fn MountDiff(props: &MountDiffProps) -> Html {
    let rows = props
        .left
        .iter()
        .flatten()
        .chain(props.right.iter().flatten());
    let leaks: Vec<&String> = rows.filter_map(|r| r.leak.as_ref()).collect();
    let mut seen = Vec::new();
    html! {
        <div class="mount-diff">
            { for leaks.into_iter().filter(|l| { let new = !seen.contains(l); seen.push(*l); new }).map(|l| html! {
                <p class="leak-callout" role="alert"><strong>{ "⚠ " }</strong>{ l }</p>
            }) }
            if let Some(v) = &props.verdict { <p class="noleak-callout" role="status"><strong>{ "✔ " }</strong>{ v }</p> }
            <div class="side-by-side">
                { table(&props.left_label, "left", props.left.as_deref()) }
                if !props.single { { table(&props.right_label, "right", props.right.as_deref()) } }
            </div>
        </div>
    }
}

fn table(label: &str, side: &str, rows: Option<&[MountRow]>) -> Html {
    let Some(rows) = rows else {
        return html! { <div class="mount-table"><h4>{ label }</h4><p class="muted">{ "A layer is a plain directory: it has no mount table of its own." }</p></div> };
    };
    if rows.is_empty() {
        return html! { <div class="mount-table"><h4>{ label }</h4><p class="muted">{ "No mount is visible from this root: every mount point lies outside it." }</p></div> };
    }
    html! {
        <div class="mount-table" tabindex="0" role="region" aria-label={format!("Mount table: {label}")}>
            <h4>{ label }</h4>
            <table class="findmnt">
                <thead><tr>
                    <th scope="col">{ "TARGET" }</th><th scope="col">{ propagation_header(&format!("mt-{}", side)) }</th><th scope="col">{ "FSTYPE" }</th>
                    <th scope="col">{ "SOURCE" }</th><th scope="col">{ "OPTIONS" }</th>
                </tr></thead>
                <tbody>
                    { for rows.iter().map(row) }
                </tbody>
            </table>
        </div>
    }
}

fn row(r: &MountRow) -> Html {
    let change = r.change.css();
    let m = &r.entry;
    let tree = if r.depth == 0 {
        String::new()
    } else {
        format!("{}└─", "  ".repeat(r.depth - 1))
    };
    html! {
        <tr class={classes!(change, r.leak.is_some().then_some("leak"))} data-target={m.target.clone()} title={r.leak.clone()}>
            <td class="target" title={m.target.clone()}><span class="tree-lines">{ tree }</span>{ &m.target }
                if r.leak.is_some() { <span class="badge leak-badge">{ "leaked" }</span> }</td>
            <td class="propagation">{ mounts::propagation_label(m) }</td>
            <td>{ &m.fstype }</td>
            <td class="source" title={mounts::source_label(m)}>{ mounts::source_label(m) }</td>
            <td class="options" title={options_title(m)}>{ m.textbook_options() }
                if !m.added_options.is_empty() { <span class="added-options">{ format!(" +{}", m.added_options.join(",")) }</span> }</td>
        </tr>
    }
}

/// The whole OPTIONS cell on hover, with the sandbox's own options named as such.
fn options_title(m: &MountEntry) -> String {
    if m.added_options.is_empty() {
        return m.options.clone();
    }
    format!(
        "{} (+{}: set by the sandbox's limits and user namespace, not by the lesson)",
        m.textbook_options(),
        m.added_options.join(",")
    )
}
