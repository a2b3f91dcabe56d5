//! The legend that explains each colour and mark of the comparisons: only those in view.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LegendProps {
    /// The marks the comparison shows (`added`, `ghost`, `layer`...), in any order.
    pub present: Vec<&'static str>,
}

/// (class, name, what it means), in the order the legend lists them.
const ITEMS: [(&str, &str, &str); 9] = [
    ("added", "added", "only on the right"),
    ("removed", "removed", "only on the left"),
    (
        "changed",
        "changed",
        "on both, different (content, mode, owner, layer, mount)",
    ),
    (
        "hidden",
        "covered by a mount",
        "still on disk: a mount on the right sits on top of it",
    ),
    (
        "not-captured",
        "not captured",
        "the other snapshot did not look this deep: unknown there, not removed",
    ),
    (
        "ghost",
        "whiteout",
        "a deletion marker in a layer: hides the path below",
    ),
    (
        "opaque",
        "opaque dir",
        "hides everything lower layers hold there",
    ),
    (
        "leak",
        "leaked mount",
        "a container's mount that reached the host",
    ),
    ("layer", "A", "overlay layer the entry comes from"),
];

#[function_component]
pub fn Legend(props: &LegendProps) -> Html {
    let shown: Vec<_> = ITEMS
        .iter()
        .filter(|(class, ..)| props.present.contains(class))
        .collect();
    if shown.is_empty() {
        return html! {};
    }
    html! {
        <ul class="legend" aria-label="Legend">
            { for shown.into_iter().map(|(class, name, what)| {
                let mark = if *class == "layer" {
                    html! { <span class="badge layer">{ *name }</span> }
                } else {
                    html! { <span class={classes!("swatch", *class)}>{ *name }</span> }
                };
                html! { <li data-mark={*class}>{ mark }<span class="what">{ *what }</span></li> }
            }) }
        </ul>
    }
}
