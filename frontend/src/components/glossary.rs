//! Text with `code` spans and glossary terms: the first use of each term is a button that opens
//! its meaning in a popover (the browser's own `popover`, so Escape and clicks outside close it).

use yew::prelude::*;

use crate::model::glossary::{pieces, Piece};

/// `text` rendered: between backticks as code, terms in the rest explained at first use (terms
/// in `seen` already were). `block` makes the popovers' ids unique on the page.
pub fn rich(text: &str, block: &str, seen: &mut Vec<&'static str>) -> Html {
    let parts: Vec<Html> = text
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                html! { <code>{ part }</code> }
            } else {
                terms(part, block, seen)
            }
        })
        .collect();
    html! { <>{ for parts }</> }
}

fn terms(text: &str, block: &str, seen: &mut Vec<&'static str>) -> Html {
    let parts: Vec<Html> = pieces(text, seen)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => html! { { t } },
            Piece::Term { text, key, meaning } => {
                let id = format!("g-{block}-{}", key.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
                html! {
                    <>
                        <button type="button" class="term" popovertarget={id.clone()} aria-label={format!("{text}: what it means")}>{ text }</button>
                        <span popover="auto" id={id} class="term-pop" role="note">
                            <strong>{ key.trim_end_matches(':') }</strong>{ ": " }{ meaning }
                        </span>
                    </>
                }
            }
        })
        .collect();
    html! { <>{ for parts }</> }
}

/// A column header that explains PROPAGATION's `shared:N` and `master:N` (`id` unique on the page).
pub fn propagation_header(id: &str) -> Html {
    let pop = format!("g-{id}-propagation");
    html! {
        <>
            <button type="button" class="term" popovertarget={pop.clone()} aria-label="PROPAGATION: what it means">{ "PROPAGATION" }</button>
            <span popover="auto" id={pop} class="term-pop" role="note">
                <strong>{ "PROPAGATION" }</strong>
                { ": shared:N, the mount is in peer group N and mount events under it are replayed in every other member; master:N, it receives group N's events but sends none back (a slave); private, events travel neither way." }
            </span>
        </>
    }
}
