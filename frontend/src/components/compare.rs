//! Compare any two snapshots: pick each side (or a canned pair), then see the file trees and the
//! mount tables side by side with their differences.

use std::rc::Rc;

use rootlab_shared::result::{MountEntry, RunResult};
use rootlab_shared::spec::{Spec, HOST};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::legend::Legend;
use super::mount_diff::MountDiff;
use super::tree_diff::TreeDiff;
use crate::model::compare::{self, SideRef};
use crate::model::legend;
use crate::model::mounts::{self, MountRow};
use crate::model::tree;

#[derive(Properties, PartialEq)]
pub struct CompareProps {
    pub result: Rc<RunResult>,
    pub spec: Option<Rc<Spec>>,
    pub pair: Option<(SideRef, SideRef)>,
    pub on_compare: Callback<(SideRef, SideRef)>,
}

#[function_component]
pub fn Compare(props: &CompareProps) -> Html {
    let choices = compare::choices(&props.result);
    let Some((left, right)) = props.pair.clone() else {
        return html! { <p class="muted">{ "This run took no snapshot: add a snapshot step to see file trees and mount tables." }</p> };
    };
    let label = |side: &SideRef| {
        choices
            .iter()
            .find(|(s, _)| s == side)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let rows = {
        let result = props.result.clone();
        use_memo(
            (left.clone(), right.clone(), Rc::as_ptr(&result) as usize),
            move |(l, r, _)| match (compare::resolve(&result, l), compare::resolve(&result, r)) {
                (Some(a), Some(b)) => tree::diff(&a, &b),
                _ => Vec::new(),
            },
        )
    };
    let rows = Rc::new((*rows).clone());
    let (left_mounts, right_mounts) = mount_rows(props, &left, &right);
    let mount_refs: Vec<&MountRow> = left_mounts
        .iter()
        .chain(right_mounts.iter())
        .flatten()
        .collect();
    let present = legend::marks(&rows, &mount_refs);
    let verdict = nothing_leaked(props, &left, &right, &mount_refs);
    html! {
        <section class="compare" aria-labelledby="compare-h">
            <div class="section-head">
                <h2 id="compare-h">{ "Compare" }</h2>
                { quick(props, &left, &right) }
            </div>
            <div class="pickers">
                { picker("left", "Left", &choices, &left, props.on_compare.reform({ let right = right.clone(); move |l| (l, right.clone()) })) }
                { picker("right", "Right", &choices, &right, props.on_compare.reform({ let left = left.clone(); move |r| (left.clone(), r) })) }
            </div>
            if left == right {
                <p class="muted same-sides">{ "The same side is picked twice: it is shown once. Pick another side above to compare." }</p>
            }
            <Legend {present} />
            <h3>{ "File trees" }</h3>
            <TreeDiff rows={rows} left={label(&left)} right={label(&right)} single={left == right} />
            if left_mounts.is_some() || right_mounts.is_some() {
                <h3>{ "Mount tables" }</h3>
                <MountDiff left_label={label(&left)} right_label={label(&right)} left={left_mounts}
                    right={if left == right { None } else { right_mounts }} single={left == right} {verdict} />
            }
        </section>
    }
}

fn quick(props: &CompareProps, left: &SideRef, right: &SideRef) -> Html {
    html! {
        <div class="quick" role="group" aria-label="Canned comparisons">
            { for compare::quick_pairs(&props.result).into_iter().map(|(name, a, b)| {
                let active = &a == left && &b == right;
                let onclick = props.on_compare.reform(move |_| (a.clone(), b.clone()));
                html! { <button type="button" class={classes!("chip", active.then_some("active"))} aria-pressed={active.to_string()} {onclick}>{ name }</button> }
            }) }
        </div>
    }
}

fn picker(
    id: &str,
    label: &str,
    choices: &[(SideRef, String)],
    current: &SideRef,
    on_pick: Callback<SideRef>,
) -> Html {
    let onchange = Callback::from(move |e: Event| {
        if let Some(side) =
            SideRef::from_key(&e.target_unchecked_into::<HtmlSelectElement>().value())
        {
            on_pick.emit(side);
        }
    });
    let id = format!("side-{id}");
    html! {
        <div class="picker">
            <label for={id.clone()}>{ label }</label>
            <select id={id} {onchange}>
                { for choices.iter().map(|(side, text)| html! { <option value={side.key()} selected={side == current}>{ text }</option> }) }
            </select>
        </div>
    }
}

/// Both mount tables, each marked against the other; host tables also get their leaks.
fn mount_rows(
    props: &CompareProps,
    left: &SideRef,
    right: &SideRef,
) -> (Option<Vec<MountRow>>, Option<Vec<MountRow>>) {
    let l = compare::mounts(&props.result, left);
    let r = compare::mounts(&props.result, right);
    let (mut lr, mut rr) = match (l, r) {
        (Some((_, a)), Some((_, b))) => {
            let (x, y) = mounts::diff_tables(a, b);
            (Some(x), Some(y))
        }
        (Some((_, a)), None) => (Some(mounts::diff(a, a).0), None),
        (None, Some((_, b))) => (None, Some(mounts::diff(b, b).0)),
        (None, None) => (None, None),
    };
    if let Some(spec) = &props.spec {
        for (side_ref, side, rows) in [(left, l, lr.as_mut()), (right, r, rr.as_mut())] {
            if let (Some((HOST, table)), Some(rows)) = (side, rows) {
                let before = first_host_table(&props.result, side_ref.snapshot());
                let leaks = mounts::leaks(&spec.steps, &props.result.steps, table, before);
                mounts::mark_leaks(rows, &leaks, table);
            }
        }
    }
    (lr, rr)
}

/// The green verdict: the host's table at two moments, a container mounted in between, and no
/// row of it leaked.
fn nothing_leaked(
    props: &CompareProps,
    left: &SideRef,
    right: &SideRef,
    rows: &[&MountRow],
) -> Option<AttrValue> {
    let spec = props.spec.as_ref()?;
    let host = |s: &SideRef| matches!(s, SideRef::View { actor, .. } if actor == HOST);
    if !host(left)
        || !host(right)
        || left.snapshot() == right.snapshot()
        || rows.iter().any(|r| r.leak.is_some())
    {
        return None;
    }
    let (first, last) = (
        left.snapshot().min(right.snapshot()),
        left.snapshot().max(right.snapshot()),
    );
    let (from, to) = (
        props.result.snapshots[first].step,
        props.result.snapshots[last].step,
    );
    let made = mounts::container_mounts(&spec.steps, &props.result.steps);
    let between: Vec<String> = made
        .iter()
        .filter(|(_, _, r, _)| r.index > from && r.index < to)
        .map(|(target, actor, ..)| format!("{actor}'s mount on {target}"))
        .collect();
    (!between.is_empty()).then(|| {
        AttrValue::from(format!(
            "Nothing leaked: {} did not reach the host's table.",
            crate::model::point::and_list(&between)
        ))
    })
}

/// The host's table in the first snapshot before `snapshot`, if one was taken.
fn first_host_table(result: &RunResult, snapshot: usize) -> Option<&[MountEntry]> {
    result.snapshots[..snapshot.min(result.snapshots.len())]
        .iter()
        .find_map(|s| s.views.iter().find(|v| v.actor == HOST))
        .map(|v| v.mounts.as_slice())
}
