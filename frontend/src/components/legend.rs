//! The legend that explains each colour and mark of the comparisons.

use yew::prelude::*;

#[function_component]
pub fn Legend() -> Html {
    let items = [
        ("added", "added", "only on the right"),
        ("removed", "removed", "only on the left"),
        (
            "changed",
            "changed",
            "on both, different (content, mode, owner, layer, mount)",
        ),
        (
            "hidden",
            "hidden by a mount",
            "still on disk, covered by a mount on the right",
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
    ];
    html! {
        <ul class="legend" aria-label="Legend">
            { for items.iter().map(|(class, name, what)| html! {
                <li><span class={classes!("swatch", *class)}>{ *name }</span><span class="what">{ *what }</span></li>
            }) }
            <li><span class="badge layer">{ "A" }</span><span class="what">{ "overlay layer the entry comes from" }</span></li>
        </ul>
    }
}
