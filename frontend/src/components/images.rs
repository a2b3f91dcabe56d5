//! The Images page: the stored images, and the picked one's layers (`image_layers`).

use std::cell::RefCell;
use std::rc::Rc;

use rootlab_shared::image::ImageSummary;
use rootlab_shared::layerview::LayerView;
use yew::prelude::*;

use super::image_layers::ImageLayers;
use crate::api::{self, ApiError};
use crate::model::images::{self, bytes, count};
use crate::state::Remote;

#[derive(Properties, PartialEq)]
pub struct ImagesProps {
    /// The image picked (`#images/<name>`).
    pub name: Option<String>,
    pub on_pick: Callback<String>,
}

fn remote<T>(got: Result<T, ApiError>) -> Remote<Rc<T>> {
    match got {
        Ok(v) => Remote::Ready(Rc::new(v)),
        Err(e) => Remote::Failed(e.message()),
    }
}

#[function_component]
pub fn Images(props: &ImagesProps) -> Html {
    let list = use_state(|| Remote::Loading);
    {
        let list = list.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move { list.set(remote(api::images().await)) });
        });
    }
    let view = use_layer_view(props.name.clone());
    let state = match (&*list, &view) {
        (Remote::Ready(_), None | Some((_, Remote::Ready(_)))) => "ready",
        (Remote::Failed(_), _) | (_, Some((_, Remote::Failed(_)))) => "failed",
        _ => "loading",
    };
    html! {
        <main class="images-page" data-images={state}>
            <nav class="image-list" aria-label="Stored images">
                <h2>{ "Images" }</h2>
                { image_list(&list, props.name.as_deref(), &props.on_pick) }
            </nav>
            <section class="image-view" aria-label="Image layers">
                { match view {
                    None => html! { <div class="empty"><p>{ "Pick an image to see its layers: what each one adds, changes and deletes, where each file of the final view comes from, and the bytes shipped for nothing." }</p></div> },
                    Some((name, Remote::Loading)) => html! { <p class="muted" role="status">{ format!("Loading the layers of {name}…") }</p> },
                    Some((name, Remote::Failed(why))) => html! { <p class="error" role="alert">{ format!("The layers of {name} could not be loaded: {why}") }</p> },
                    Some((name, Remote::Ready(view))) => html! { <ImageLayers {name} {view} /> },
                } }
            </section>
        </main>
    }
}

/// The picked image's layer view, fetched each time the name changes (a late answer for an
/// image no longer picked is dropped).
#[hook]
fn use_layer_view(name: Option<String>) -> Option<(AttrValue, Remote<Rc<LayerView>>)> {
    let view = use_state(|| None);
    let current = use_mut_ref(|| None::<String>);
    {
        let view = view.clone();
        use_effect_with(name, move |name| {
            *current.borrow_mut() = name.clone();
            view.set(name.clone().map(|n| (AttrValue::from(n), Remote::Loading)));
            if let Some(name) = name.clone() {
                wasm_bindgen_futures::spawn_local(fetch(name, view, current));
            }
        });
    }
    (*view).clone()
}

async fn fetch(
    name: String,
    view: UseStateHandle<Option<(AttrValue, Remote<Rc<LayerView>>)>>,
    current: Rc<RefCell<Option<String>>>,
) {
    let got = match images::upper_for(&name) {
        Some(upper) => remote(api::image_layers_with_upper(&name, &upper).await),
        None => remote(api::image_layers(&name).await),
    };
    if current.borrow().as_deref() == Some(name.as_str()) {
        view.set(Some((name.into(), got)));
    }
}

fn image_list(
    list: &Remote<Rc<Vec<ImageSummary>>>,
    picked: Option<&str>,
    on_pick: &Callback<String>,
) -> Html {
    match list {
        Remote::Loading => html! { <p class="muted" role="status">{ "Loading the images…" }</p> },
        Remote::Failed(why) => {
            html! { <p class="error" role="alert">{ format!("The images could not be listed: {why}") }</p> }
        }
        Remote::Ready(images) if images.is_empty() => {
            html! { <p class="muted">{ "No image is stored yet." }</p> }
        }
        Remote::Ready(images) => html! {
            <ul class="image-picks">
                { for images.iter().map(|image| {
                    let on = picked == Some(image.name.as_str());
                    let name = image.name.clone();
                    html! { <li>
                        <button type="button" class={classes!("image-pick", on.then_some("selected"))} data-image={image.name.clone()}
                            aria-current={on.then_some("true")} onclick={on_pick.reform(move |_| name.clone())}>
                            <span class="image-name">{ &image.name }</span>
                            <span class="image-meta">{ format!("{} · {} · {}", count(image.layers, "layer"), bytes(image.size), image.source) }</span>
                        </button>
                    </li> }
                }) }
            </ul>
        },
    }
}
