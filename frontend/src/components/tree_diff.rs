//! Two file trees side by side as one collapsible tree: rows aligned by path, differences coloured,
//! overlay origin per entry, whiteouts as ghost entries, opaque directories and mount points marked.

use std::collections::HashSet;
use std::rc::Rc;

use rootlab_shared::result::{FileKind, TreeEntry};
use yew::prelude::*;

use crate::model::tree::{self, Change, Row};

#[derive(Properties, PartialEq)]
pub struct TreeDiffProps {
    pub rows: Rc<Vec<Row>>,
    pub left: AttrValue,
    pub right: AttrValue,
    /// Start with every directory open (the benchmark, and small trees).
    #[prop_or_default]
    pub expand_all: bool,
    /// Both sides are the same: one column.
    #[prop_or_default]
    pub single: bool,
    /// The summary names only the kinds of change that occur (a layer's changes, a merged view).
    #[prop_or_default]
    pub only_nonzero: bool,
}

/// Small trees open fully; in big ones only directories with a difference below start open.
const OPEN_ALL_BELOW: usize = 80;
/// Past this many visible rows only the rows in view are in the DOM (a 10,000-entry tree would
/// take seconds to lay out); below it every row is, for find-in-page and simple tests.
const VIRTUAL_ABOVE: usize = 400;
/// Every row is this tall (CSS `.tree td` says the same), so a scroll offset maps to a row.
const ROW_PX: f64 = 22.0;
/// Rows in view in the scrolled box (`.tree-scroll` max-height), plus some drawn beyond it.
const VIEW_ROWS: usize = 28;
const OVERSCAN: usize = 10;

#[function_component]
pub fn TreeDiff(props: &TreeDiffProps) -> Html {
    let toggled = use_state(HashSet::<String>::new);
    let scroll_top = use_state(|| 0.0f64);
    {
        let toggled = toggled.clone();
        use_effect_with(props.rows.clone(), move |_| toggled.set(HashSet::new()));
    }
    let open_all = props.expand_all || props.rows.len() <= OPEN_ALL_BELOW;
    let collapsed = |row: &Row| {
        (!open_all && !row.changes_below && row.change == Change::Same)
            != toggled.contains(&row.rel)
    };
    let visible = if open_all && toggled.is_empty() {
        props.rows.iter().collect()
    } else {
        tree::visible(&props.rows, &collapsed)
    };
    let toggle = {
        let toggled = toggled.clone();
        Callback::from(move |rel: String| {
            let mut next = (*toggled).clone();
            if !next.remove(&rel) {
                next.insert(rel);
            }
            toggled.set(next);
        })
    };
    let summary = tree::summary(&props.rows);
    let total = visible.len();
    let virtual_rows = total > VIRTUAL_ABOVE;
    let (first, last) = if virtual_rows {
        window(*scroll_top, total)
    } else {
        (0, total)
    };
    let onscroll = {
        let scroll_top = scroll_top.clone();
        Callback::from(move |e: Event| {
            scroll_top.set(e.target_unchecked_into::<web_sys::Element>().scroll_top() as f64)
        })
    };
    let spacer = |rows: usize| html! { <tr class="spacer" aria-hidden="true" style={format!("height:{}px", rows as f64 * ROW_PX)}><td colspan="2" /></tr> };
    html! {
        <div class="tree-diff">
            <p class="diff-summary">
                { for summary.iter().filter(|(c, n)| *n > 0 || (*c != Change::NotCaptured && !props.only_nonzero)).map(|(c, n)| html! { <span class={classes!("count", c.css())}>{ format!("{n} {}", label(*c)) }</span> }) }
                { format!(" · {} entries", props.rows.len()) }
                if virtual_rows { { format!(" · {total} rows open, scroll the tree to see them all") } }
            </p>
            <div class={classes!("tree-scroll", virtual_rows.then_some("virtual"))} onscroll={virtual_rows.then_some(onscroll)}
                tabindex={virtual_rows.then_some("0")} aria-label={virtual_rows.then_some("File tree comparison, scrollable")}>
                <table class="tree">
                    <thead><tr><th scope="col">{ &props.left }</th>if !props.single { <th scope="col">{ &props.right }</th> }</tr></thead>
                    <tbody>
                        if props.rows.is_empty() {
                            <tr class="row empty-dir"><td><span class="ev-empty">{ "(empty directory)" }</span></td>
                                if !props.single { <td><span class="ev-empty">{ "(empty directory)" }</span></td> }</tr>
                        }
                        if first > 0 { { spacer(first) } }
                        { for visible[first..last].iter().map(|row| row_html(row, collapsed(row), &toggle, props.single)) }
                        if last < total { { spacer(total - last) } }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The rows to draw for a scroll offset: those in view and `OVERSCAN` more on each side.
fn window(scroll_top: f64, total: usize) -> (usize, usize) {
    let top = (scroll_top / ROW_PX).floor().max(0.0) as usize;
    let first = top.saturating_sub(OVERSCAN).min(total);
    (first, (top + VIEW_ROWS + OVERSCAN).min(total))
}

fn label(c: Change) -> &'static str {
    match c {
        Change::Same => "same",
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Changed => "changed",
        Change::Hidden => "covered by a mount",
        Change::NotCaptured => "not captured",
    }
}

fn row_html(row: &Row, collapsed: bool, toggle: &Callback<String>, single: bool) -> Html {
    let title = describe(row);
    html! {
        <tr class={classes!("row", row.change.css(), row.changes_below.then_some("has-changes"))} data-path={row.rel.clone()} title={title}>
            <td>{ cell(row, row.left.as_ref(), collapsed, Some(toggle)) }</td>
            if !single { <td>{ cell(row, row.right.as_ref(), collapsed, None) }</td> }
        </tr>
    }
}

fn cell(
    row: &Row,
    entry: Option<&TreeEntry>,
    collapsed: bool,
    toggle: Option<&Callback<String>>,
) -> Html {
    let indent = format!("padding-left:{}rem", row.depth as f32 * 1.1);
    let twisty = match toggle {
        Some(toggle) if row.is_dir => {
            let rel = row.rel.clone();
            let onclick = toggle.reform(move |_| rel.clone());
            html! { <button type="button" class="twisty" {onclick} aria-expanded={(!collapsed).to_string()}
            aria-label={format!("{} {}", if collapsed { "Expand" } else { "Collapse" }, row.rel)}>{ if collapsed { "▸" } else { "▾" } }</button> }
        }
        _ => html! { <span class="twisty-space" /> },
    };
    let Some(e) = entry else {
        return html! { <span class="entry absent" style={indent}>{ twisty }<span class="name">{ &row.name }</span></span> };
    };
    html! {
        <span class={classes!("entry", e.whiteout.then_some("ghost"), e.opaque.then_some("opaque"))} style={indent}>
            { twisty }
            <span class="name">{ name(row, e) }</span>
            if row.below > 0 { <span class="below">{ format!("{} {}", row.below, if row.below == 1 { "entry" } else { "entries" }) }</span> }
            if let Some(layer) = &e.layer { <span class="badge layer" title={format!("comes from layer {layer}")}>{ layer }</span> }
            if e.whiteout { <span class="badge ghost-badge" title="overlayfs whiteout: a 0:0 character device">{ "whiteout" }</span> }
            if e.opaque { <span class="badge opaque-badge" title="user.overlay.opaque=y">{ "opaque" }</span> }
            if e.mount_point { <span class="badge mount-badge" title="a mount point in this view">{ "mount" }</span> }
            if let Some(p) = &e.preview { <span class="preview">{ p.lines().next().unwrap_or("") }</span> }
        </span>
    }
}

fn name(row: &Row, e: &TreeEntry) -> String {
    match (&e.kind, &e.link_target) {
        (FileKind::Dir, _) => format!("{}/", row.name),
        (FileKind::Symlink, Some(t)) => format!("{} → {t}", row.name),
        _ => row.name.clone(),
    }
}

/// The hover text: what differs, in words.
fn describe(row: &Row) -> String {
    match row.change {
        Change::Hidden => format!("still there, covered by the mount on {}", row.note),
        Change::NotCaptured => {
            "not captured: the other snapshot did not walk this deep".to_string()
        }
        Change::Changed => format!("changed: {}", row.note),
        c => label(c).to_string(),
    }
}
