//! The "what you should see" card under ▶ Run: the lesson's point in one sentence and the
//! evidence cut from the result, with the full explanation one click away.

use rootlab_shared::result::MountEntry;
use yew::prelude::*;

use super::glossary::{propagation_header, rich};

use crate::model::mounts::{propagation_label, source_label};
use crate::model::point::entries as count_entries;
use crate::model::point::{
    Attempt, EntryLine, Escape, Evidence, Listing, MountLine, MountMark, OutputLine, Point, Refusal,
};

#[derive(Properties, PartialEq)]
pub struct PointCardProps {
    pub point: Point,
    /// Open the lesson's full explanation.
    pub on_explain: Option<Callback<()>>,
    /// The learner's prediction graded on this result, shown first.
    #[prop_or_default]
    pub verdict: Html,
}

/// `id="point"`, focusable: the page moves focus and scroll here when a run ends.
#[function_component]
pub fn PointCard(props: &PointCardProps) -> Html {
    let p = &props.point;
    html! {
        <section id="point" class={classes!("point", p.tone.css())} tabindex="-1" aria-labelledby="point-h">
            <h2 id="point-h" class="kicker">{ "What you should see" }</h2>
            { props.verdict.clone() }
            <p class="point-sentence">{ rich(&p.sentence, "point", &mut Vec::new()) }</p>
            <div class="evidence" data-kind={p.evidence.kind()}>{ evidence(&p.evidence) }</div>
            if let Some(explain) = &props.on_explain {
                <button type="button" class="link why-link" onclick={explain.reform(|_| ())}>{ "Why? The full explanation" }</button>
            }
        </section>
    }
}

fn evidence(e: &Evidence) -> Html {
    match e {
        Evidence::Escapes(list) => {
            html! { <div class="ev-pair">{ for list.iter().map(escape) }</div> }
        }
        Evidence::Refused(r) => refused(r),
        Evidence::Mounts(lines) => mounts(lines),
        Evidence::Entries { title, items } => entries(title, items),
        Evidence::Outputs(lines) => {
            html! { <div class="ev-pair">{ for lines.iter().map(output) }</div> }
        }
        Evidence::Listings(list) => {
            html! { <div class="ev-pair">{ for list.iter().map(listing) }</div> }
        }
        Evidence::Attempts {
            attempts,
            mounts: rows,
        } => html! {
            <>
                <ol class="ev-attempts">{ for attempts.iter().map(attempt) }</ol>
                if !rows.is_empty() { { mounts(rows) } }
            </>
        },
    }
}

/// A step as tried: refused (with its errno) or done, and why or what it left.
fn attempt(a: &Attempt) -> Html {
    let (class, verdict) = match &a.errno {
        Some(errno) => ("refused", errno.clone()),
        None => ("done", "OK".to_string()),
    };
    html! {
        <li class={classes!("ev-box", "attempt", class)} data-actor={a.actor.clone()}>
            <p class="ev-head"><span class="actor">{ &a.actor }</span>{ " $ " }<code>{ &a.command }</code></p>
            <p><strong class="ev-verdict">{ verdict }</strong>
                if !a.note.is_empty() { { " " }<span class="ev-note">{ &a.note }</span> }
            </p>
        </li>
    }
}

fn escape(e: &Escape) -> Html {
    let (class, verdict) = if e.escaped {
        ("escaped", "Escaped")
    } else {
        ("contained", "Contained")
    };
    html! {
        <div class={classes!("ev-box", class)} data-actor={e.actor.clone()}>
            <p class="ev-head"><strong class="ev-verdict">{ verdict }</strong>{ format!(" · {} after {}", e.actor, e.how) }</p>
            <p class="ev-label">{ "ls / afterwards" }</p>
            <code class="ev-listing">{ e.listing.join("  ") }</code>
        </div>
    }
}

fn refused(r: &Refusal) -> Html {
    html! {
        <div class="ev-box refused">
            <p class="ev-head"><code>{ &r.command }</code>{ format!(" in {}", r.actor) }</p>
            <p><strong class="ev-verdict">{ &r.errno }</strong>{ " " }<code>{ &r.message }</code></p>
        </div>
    }
}

fn mounts(lines: &[MountLine]) -> Html {
    html! {
        <div class="ev-scroll" tabindex="0" role="region" aria-label="Mount table rows">
            <table class="ev-mounts">
                <thead><tr>
                    <th scope="col">{ "table" }</th><th scope="col">{ "TARGET" }</th><th scope="col">{ propagation_header("point") }</th>
                    <th scope="col">{ "FSTYPE" }</th><th scope="col" class="ev-source">{ "SOURCE" }</th>
                </tr></thead>
                <tbody>{ for lines.iter().map(mount_line) }</tbody>
            </table>
        </div>
    }
}

fn mount_line(l: &MountLine) -> Html {
    let (class, mark) = match l.mark {
        MountMark::Leaked => (
            "leak",
            html! { <span class="badge leak-badge">{ "leaked" }</span> },
        ),
        MountMark::Present => ("present", html! {}),
        MountMark::Absent => ("absent", html! {}),
    };
    let cells = match &l.row {
        Some(m) => row_cells(m),
        None => {
            html! { <td colspan="3" class="ev-none">{ format!("no mount on {}", l.target) }</td> }
        }
    };
    html! {
        <tr class={class} data-target={l.target.clone()}>
            <th scope="row" class="ev-table">{ &l.table }</th>
            <td class="target"><code>{ &l.target }</code>{ mark }</td>
            { cells }
        </tr>
    }
}

fn row_cells(m: &MountEntry) -> Html {
    html! {
        <>
            <td><code>{ propagation_label(m) }</code></td>
            <td><code>{ &m.fstype }</code></td>
            <td class="ev-source"><code>{ source_label(m) }</code></td>
        </>
    }
}

fn entries(title: &str, items: &[EntryLine]) -> Html {
    html! {
        <div class="ev-entries">
            <p class="ev-label">{ title }</p>
            <ul>
                { for items.iter().map(|i| html! {
                    <li data-path={i.path.clone()} class={classes!((i.note == "whiteout").then_some("ghost"), (i.note == "opaque").then_some("opaque"))}>
                        <code class="name">{ &i.path }</code>
                        if let Some(layer) = &i.layer { <span class="badge layer" title={format!("comes from layer {layer}")}>{ layer }</span> }
                        if !i.note.is_empty() { <span class="badge note">{ &i.note }</span> }
                        if let Some(p) = &i.preview { <span class="preview">{ p.lines().next().unwrap_or("") }</span> }
                    </li>
                }) }
            </ul>
        </div>
    }
}

fn output(o: &OutputLine) -> Html {
    html! {
        <div class="ev-box output" data-actor={o.actor.clone()}>
            <p class="ev-head"><span class="actor">{ &o.actor }</span>{ " $ " }<code>{ &o.command }</code></p>
            <pre class="ev-stdout">{ &o.stdout }</pre>
        </div>
    }
}

fn listing(l: &Listing) -> Html {
    html! {
        <div class="ev-box listing" data-actor={l.actor.clone()}>
            <p class="ev-head"><span class="actor">{ &l.actor }</span>{ format!(" · ls {} · {}", l.root, count_entries(l.names.len())) }</p>
            if l.names.is_empty() {
                <p class="ev-empty">{ "(empty directory)" }</p>
            } else {
                <ul class="ev-names">{ for l.names.iter().map(|n| html! { <li><code title={n.clone()}>{ n }</code></li> }) }</ul>
            }
        </div>
    }
}
