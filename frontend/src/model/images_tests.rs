//! The Images page's models on the real image of `tests/fixtures/` (made by `make_image.sh`), and
//! the check that its layer view fixture is `layer_view`'s own output.

use rootlab_shared::image::{LayerEntry, LayerInfo};
use rootlab_shared::layerview::layer_view;

use super::*;

const LAYERS: &str = include_str!("../../tests/fixtures/busybox-layers.json");
const VIEW_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/busybox-layerview.json"
);

fn fixture() -> LayerView {
    let layers: Vec<(LayerInfo, Vec<LayerEntry>)> = serde_json::from_str(LAYERS).unwrap();
    layer_view(&layers, None)
}

/// The browser test serves `busybox-layerview.json`: it must be what `layer_view` makes of the
/// image's layers. `UPDATE_FIXTURES=1 cargo test -p rootlab-frontend layer_view_fixture` writes it.
#[test]
fn layer_view_fixture_is_the_functions_output() {
    let view = fixture();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let text = serde_json::to_string_pretty(&view).unwrap() + "\n";
        std::fs::write(VIEW_PATH, text).unwrap();
    }
    let stored = std::fs::read_to_string(VIEW_PATH).expect("run with UPDATE_FIXTURES=1 once");
    let stored: LayerView = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        stored, view,
        "busybox-layerview.json is stale: UPDATE_FIXTURES=1"
    );
}

#[test]
fn the_real_image_has_a_whiteout_and_an_opaque_directory() {
    let v = fixture();
    assert_eq!(v.layers.len(), 3);
    let deleted: Vec<_> = v.layers[1]
        .deleted
        .iter()
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(deleted, vec!["var/cache/apt/pkgcache.bin"]);
    assert_eq!(v.layers[2].opaque, vec!["opt/app"]);
    assert_eq!(v.wasted[0].path, "var/cache/apt/pkgcache.bin");
    assert!(v.efficiency > 0.8 && v.efficiency < 0.9, "{}", v.efficiency);
}

fn shown(rows: &[Row]) -> Vec<(&str, Change)> {
    rows.iter().map(|r| (r.rel.as_str(), r.change)).collect()
}

#[test]
fn a_layers_changes_are_a_tree_with_its_parents() {
    let v = fixture();
    let rows = change_rows(&v.layers[1]);
    assert_eq!(
        shown(&rows),
        vec![
            ("etc", Change::Same),
            ("etc/motd", Change::Changed),
            ("var", Change::Same),
            ("var/cache", Change::Same),
            ("var/cache/apt", Change::Same),
            ("var/cache/apt/pkgcache.bin", Change::Removed),
        ]
    );
    let gone = rows[5].left.as_ref().unwrap();
    assert!(gone.whiteout, "the whiteout's own target");
    assert!(rows[2].changes_below && rows[0].changes_below);
    assert_eq!(rows[5].depth, 3);
}

#[test]
fn what_an_opaque_directory_hides_is_deleted_not_whited_out() {
    let v = fixture();
    let rows = change_rows(&v.layers[2]);
    let app = rows.iter().find(|r| r.rel == "opt/app").unwrap();
    assert!(app.left.as_ref().unwrap().opaque);
    let data = rows.iter().find(|r| r.rel == "opt/app/data").unwrap();
    assert_eq!(data.change, Change::Removed);
    assert!(!data.left.as_ref().unwrap().whiteout);
    let config = rows.iter().find(|r| r.rel == "opt/app/config").unwrap();
    assert_eq!(config.change, Change::Changed);
}

#[test]
fn an_opaque_directory_with_no_other_change_gets_its_own_row() {
    let layer = LayerRow {
        index: 1,
        created_by: None,
        size: 0,
        entries: 2,
        wasted_bytes: 0,
        upper: false,
        added: vec![],
        modified: vec![],
        deleted: vec![],
        opaque: vec!["a/b".into()],
    };
    let rows = change_rows(&layer);
    assert_eq!(
        shown(&rows),
        vec![("a", Change::Same), ("a/b", Change::Changed)]
    );
    assert!(rows[1].left.as_ref().unwrap().opaque);
}

#[test]
fn the_merged_tree_names_each_entrys_layer_and_counts_below_directories() {
    let v = fixture();
    let rows = merged_rows(&v);
    let find = |p: &str| rows.iter().find(|r| r.rel == p).unwrap();
    let layer = |p: &str| find(p).left.as_ref().unwrap().layer.clone().unwrap();
    assert_eq!(layer("bin/busybox"), "0");
    assert_eq!(layer("etc/motd"), "1");
    assert_eq!(layer("opt/app/config"), "2");
    assert_eq!(find("bin").below, 5);
    assert_eq!(find("opt").below, 2);
    assert_eq!(
        find("bin/sh").left.as_ref().unwrap().link_target.as_deref(),
        Some("busybox")
    );
    assert!(rows.iter().all(|r| r.rel != "opt/app/data"));
}

#[test]
fn routes_and_fragments_round_trip() {
    assert_eq!(route("#images"), Some(None));
    assert_eq!(route("#images/"), Some(None));
    assert_eq!(route("#preset=abc"), None);
    assert_eq!(route("#imagesx"), None);
    assert_eq!(route(""), None);
    let name = "127.0.0.1:5000/library/nginx:1.27";
    let f = fragment(Some(name));
    assert_eq!(f, "#images/127.0.0.1%3A5000%2Flibrary%2Fnginx%3A1.27");
    assert_eq!(route(&f), Some(Some(name.to_string())));
    assert_eq!(route("#images/%zz"), None);
    assert_eq!(fragment(None), "#images");
}

#[test]
fn bytes_and_steps_read_well() {
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(1023), "1023 B");
    assert_eq!(bytes(300_000), "293 KB");
    assert_eq!(bytes(1_982_256), "1.9 MB");
    assert_eq!(
        short_step(Some("/bin/sh -c #(nop)  CMD [\"sh\"]"), 40),
        "CMD [\"sh\"]"
    );
    assert_eq!(short_step(Some("RUN a\n  && b"), 40), "RUN a && b");
    assert_eq!(short_step(Some("RUN abcdef"), 5), "RUN …");
    assert_eq!(short_step(None, 40), "(no history)");
    assert_eq!(
        (count(1, "layer"), count(3, "layer")),
        ("1 layer".into(), "3 layers".into())
    );
}
