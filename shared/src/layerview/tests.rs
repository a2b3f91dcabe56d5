//! The layer view's rules, each with a case where it applies and one where it must not.

use super::*;

fn entry(path: &str, kind: LayerEntryKind, size: u64) -> LayerEntry {
    LayerEntry {
        path: path.into(),
        kind,
        size,
        mode: if kind == LayerEntryKind::Dir {
            0o755
        } else {
            0o644
        },
        target: None,
        opaque: false,
    }
}

fn file(path: &str, size: u64) -> LayerEntry {
    entry(path, LayerEntryKind::File, size)
}

fn dir(path: &str) -> LayerEntry {
    entry(path, LayerEntryKind::Dir, 0)
}

fn whiteout(path: &str) -> LayerEntry {
    entry(path, LayerEntryKind::Whiteout, 0)
}

fn opaque(path: &str) -> LayerEntry {
    LayerEntry {
        opaque: true,
        ..dir(path)
    }
}

fn info(i: usize, entries: usize) -> LayerInfo {
    LayerInfo {
        diff_id: format!("sha256:{i:064}"),
        digest: None,
        blob_size: None,
        size: 0,
        entries,
        created_by: Some(format!("step {i}")),
    }
}

fn view(layers: Vec<Vec<LayerEntry>>) -> LayerView {
    let layers: Vec<_> = layers
        .into_iter()
        .enumerate()
        .map(|(i, e)| (info(i, e.len()), e))
        .collect();
    layer_view(&layers, None)
}

fn paths(list: &[ChangedPath]) -> Vec<&str> {
    list.iter().map(|c| c.path.as_str()).collect()
}

fn merged(v: &LayerView) -> Vec<(&str, usize)> {
    v.merged
        .iter()
        .map(|m| (m.path.as_str(), m.layer))
        .collect()
}

#[test]
fn a_whiteout_hides_the_file_below_and_wastes_its_bytes() {
    let v = view(vec![
        vec![file("a", 100), file("b", 10)],
        vec![whiteout("a")],
    ]);
    assert_eq!(merged(&v), vec![("b", 0)]);
    assert_eq!(paths(&v.layers[1].deleted), vec!["a"]);
    assert_eq!(v.layers[1].deleted[0].kind, LayerEntryKind::File);
    assert_eq!(v.layers[1].deleted[0].size, 100);
    assert_eq!((v.total_bytes, v.wasted_bytes), (110, 100));
    assert_eq!(v.layers[0].wasted_bytes, 100);
    assert_eq!(v.wasted.len(), 1);
    assert_eq!((v.wasted[0].copies, v.wasted[0].bytes), (1, 100));
}

#[test]
fn a_whiteout_hides_a_whole_directory_and_nothing_beside_it() {
    let v = view(vec![
        vec![
            dir("d"),
            file("d/x", 1),
            dir("d/y"),
            file("d/y/z", 2),
            file("d-x", 4),
            file("dz", 8),
            dir("e"),
            file("e/d", 16),
        ],
        vec![whiteout("d")],
    ]);
    assert_eq!(
        merged(&v),
        vec![("d-x", 0), ("dz", 0), ("e", 0), ("e/d", 0)]
    );
    assert_eq!(
        paths(&v.layers[1].deleted),
        vec!["d", "d/x", "d/y", "d/y/z"]
    );
    assert_eq!(v.wasted_bytes, 3);
}

#[test]
fn a_whiteout_applies_to_lower_layers_only() {
    // The same layer deletes and ships `a`: the new `a` stays, the old one is replaced.
    let v = view(vec![vec![file("a", 5)], vec![whiteout("a"), file("a", 7)]]);
    assert_eq!(merged(&v), vec![("a", 1)]);
    assert_eq!(paths(&v.layers[1].modified), vec!["a"]);
    assert!(v.layers[1].deleted.is_empty());
    assert_eq!(v.wasted_bytes, 5);
}

#[test]
fn a_whiteout_over_nothing_is_listed_and_wastes_nothing() {
    let v = view(vec![vec![file("a", 5)], vec![whiteout("ghost")]]);
    assert_eq!(merged(&v), vec![("a", 0)]);
    assert_eq!(paths(&v.layers[1].deleted), vec!["ghost"]);
    assert_eq!(v.layers[1].deleted[0].kind, LayerEntryKind::Whiteout);
    assert_eq!((v.wasted_bytes, v.efficiency), (0, 1.0));
}

#[test]
fn an_opaque_directory_hides_what_is_below_it_and_keeps_itself() {
    let v = view(vec![
        vec![
            dir("d"),
            file("d/x", 3),
            dir("d/sub"),
            file("d/sub/y", 4),
            dir("d2"),
            file("d2/x", 5),
        ],
        vec![opaque("d"), file("d/new", 6)],
    ]);
    assert_eq!(
        merged(&v),
        vec![("d", 1), ("d/new", 1), ("d2", 0), ("d2/x", 0)]
    );
    let top = &v.layers[1];
    assert_eq!(top.opaque, vec!["d"]);
    assert_eq!(paths(&top.deleted), vec!["d/sub", "d/sub/y", "d/x"]);
    assert_eq!(paths(&top.added), vec!["d/new"]);
    assert!(
        top.modified.is_empty(),
        "the same directory, opaque: not modified"
    );
    assert_eq!(v.wasted_bytes, 7);
}

#[test]
fn an_opaque_directory_keeps_its_own_layers_entries() {
    let v = view(vec![vec![dir("d")], vec![file("d/a", 1), opaque("d")]]);
    assert_eq!(merged(&v), vec![("d", 1), ("d/a", 1)]);
    assert!(v.layers[1].deleted.is_empty());
}

#[test]
fn a_file_over_a_directory_hides_its_subtree() {
    let v = view(vec![
        vec![dir("d"), file("d/x", 9), file("keep", 1)],
        vec![file("d", 2)],
    ]);
    assert_eq!(merged(&v), vec![("d", 1), ("keep", 0)]);
    assert_eq!(v.merged[0].kind, LayerEntryKind::File);
    assert_eq!(paths(&v.layers[1].modified), vec!["d"]);
    assert_eq!(paths(&v.layers[1].deleted), vec!["d/x"]);
    assert_eq!(v.wasted_bytes, 9);
}

#[test]
fn a_directory_over_a_file_replaces_it() {
    let v = view(vec![vec![file("f", 50)], vec![dir("f"), file("f/a", 1)]]);
    assert_eq!(merged(&v), vec![("f", 1), ("f/a", 1)]);
    assert_eq!(paths(&v.layers[1].modified), vec!["f"]);
    assert_eq!(paths(&v.layers[1].added), vec!["f/a"]);
    assert!(v.layers[1].deleted.is_empty());
    assert_eq!(v.wasted_bytes, 50);
}

#[test]
fn re_shipped_files_are_modified_and_re_listed_directories_are_not() {
    let mut chmod = dir("etc");
    chmod.mode = 0o700;
    let v = view(vec![
        vec![dir("etc"), file("etc/a", 10), dir("usr")],
        vec![dir("etc"), file("etc/a", 10), dir("usr"), file("usr/b", 1)],
        vec![chmod],
    ]);
    assert_eq!(paths(&v.layers[1].modified), vec!["etc/a"]);
    assert_eq!(paths(&v.layers[1].added), vec!["usr/b"]);
    assert_eq!(paths(&v.layers[2].modified), vec!["etc"]);
    assert_eq!(v.wasted.len(), 1);
    assert_eq!((v.wasted[0].copies, v.wasted[0].bytes), (2, 10));
    assert_eq!(
        merged(&v)[0],
        ("etc", 2),
        "a directory comes from its topmost layer"
    );
}

#[test]
fn missing_parents_are_made_and_replace_a_file_in_the_way() {
    let v = view(vec![
        vec![file("a", 4)],
        vec![file("a/b/c", 1), file("x/y", 2)],
    ]);
    assert_eq!(
        merged(&v),
        vec![("a", 1), ("a/b", 1), ("a/b/c", 1), ("x", 1), ("x/y", 1)]
    );
    assert_eq!(paths(&v.layers[1].modified), vec!["a"]);
    assert_eq!(paths(&v.layers[1].added), vec!["a/b", "a/b/c", "x", "x/y"]);
    let dirs = v.merged.iter().filter(|m| m.kind == LayerEntryKind::Dir);
    assert_eq!(dirs.count(), 3);
}

#[test]
fn tar_paths_are_normalized() {
    let v = view(vec![
        vec![dir("./etc/"), file("./etc/hosts", 1)],
        vec![whiteout("/etc/hosts"), dir("."), dir("./")],
    ]);
    assert_eq!(merged(&v), vec![("etc", 0)]);
    assert_eq!(paths(&v.layers[1].deleted), vec!["etc/hosts"]);
}

#[test]
fn the_writable_layer_is_the_top_row() {
    let layers = vec![(info(0, 2), vec![file("a", 3), file("b", 4)])];
    let upper = [whiteout("a"), file("c", 5)];
    let v = layer_view(&layers, Some(&upper));
    assert_eq!(v.layers.len(), 2);
    let top = &v.layers[1];
    assert!(top.upper && !v.layers[0].upper);
    assert_eq!((top.index, top.entries, top.size), (1, 2, 5));
    assert_eq!(top.created_by, None);
    assert_eq!(merged(&v), vec![("b", 0), ("c", 1)]);
    assert_eq!(paths(&top.deleted), vec!["a"]);
    let without = layer_view(&layers, None);
    assert_eq!(merged(&without), vec![("a", 0), ("b", 0)]);
}

#[test]
fn efficiency_is_the_visible_share_of_shipped_bytes() {
    // 100 shipped, replaced by 300: 100 of 400 wasted. dive would say 100 / 400 = 0.25.
    let v = view(vec![vec![file("a", 100)], vec![file("a", 300)]]);
    assert_eq!((v.total_bytes, v.wasted_bytes), (400, 100));
    assert!((v.efficiency - 0.75).abs() < 1e-9);
    assert_eq!(
        view(vec![vec![dir("d")]]).efficiency,
        1.0,
        "no bytes: nothing wasted"
    );
    assert_eq!(view(vec![]).layers.len(), 0);
}

#[test]
fn wasted_files_are_sorted_by_bytes_then_path() {
    let v = view(vec![
        vec![
            file("small", 1),
            file("big", 50),
            file("b2", 50),
            file("kept", 9),
        ],
        vec![
            whiteout("small"),
            whiteout("big"),
            whiteout("b2"),
            file("kept", 9),
        ],
        vec![file("kept", 9)],
    ]);
    let order: Vec<_> = v
        .wasted
        .iter()
        .map(|w| (w.path.as_str(), w.copies, w.bytes))
        .collect();
    assert_eq!(
        order,
        vec![
            ("b2", 1, 50),
            ("big", 1, 50),
            ("kept", 3, 18),
            ("small", 1, 1)
        ]
    );
    assert_eq!(
        v.layers.iter().map(|l| l.wasted_bytes).collect::<Vec<_>>(),
        vec![110, 9, 0]
    );
}

#[test]
fn symlinks_keep_their_target_and_the_row_its_step() {
    let mut link = entry("bin/sh", LayerEntryKind::Symlink, 0);
    link.target = Some("busybox".into());
    let v = view(vec![vec![dir("bin"), link]]);
    assert_eq!(v.merged[1].target.as_deref(), Some("busybox"));
    assert_eq!(v.layers[0].created_by.as_deref(), Some("step 0"));
    assert_eq!(v.layers[0].entries, 2);
}

#[test]
fn tree_order_puts_a_directory_before_its_siblings_with_dashes() {
    let mut p = vec!["a-c", "a/b", "a", "a/b/c", "a.d", "b"];
    p.sort_by(|x, y| tree_order(x, y));
    assert_eq!(p, vec!["a", "a/b", "a/b/c", "a-c", "a.d", "b"]);
}

#[test]
fn the_view_round_trips_through_json() {
    let v = view(vec![vec![file("a", 1)], vec![whiteout("a"), opaque("d")]]);
    let text = serde_json::to_string(&v).unwrap();
    assert_eq!(serde_json::from_str::<LayerView>(&text).unwrap(), v);
    assert!(!text.contains("\"upper\""), "false is left out");
}

/// 10,000 files in 5 layers: a base of 100 directories of 80 files, 1,000 files added in
/// `n/`, 400 re-shipped, 5 directories deleted, one made opaque and 600 more files in `m/`.
#[test]
fn a_synthetic_10000_file_image_counts_right() {
    let name = |d: usize, f: usize| format!("d{d:02}/f{f:02}");
    let base: Vec<_> = (0..100)
        .flat_map(|d| {
            let files = (0..80).map(move |f| file(&name(d, f), 100));
            std::iter::once(dir(&format!("d{d:02}"))).chain(files)
        })
        .collect();
    let added: Vec<_> = (0..1000)
        .map(|i| file(&format!("n/s{}/f{i:03}", i % 10), 100))
        .collect();
    let reshipped: Vec<_> = (0..400).map(|i| file(&name(i / 80, i % 80), 200)).collect();
    let deleted: Vec<_> = (95..100).map(|d| whiteout(&format!("d{d:02}"))).collect();
    let mut top = vec![opaque("d90"), file("d90/new", 100), dir("m")];
    top.extend((0..600).map(|i| file(&format!("m/f{i:03}"), 100)));
    let v = view(vec![base, added, reshipped, deleted, top]);

    let files = |l: &[ChangedPath]| l.iter().filter(|c| c.kind == LayerEntryKind::File).count();
    let rows = &v.layers;
    assert_eq!((files(&rows[1].added), rows[1].added.len()), (1000, 1011));
    assert_eq!((rows[2].modified.len(), rows[2].added.len()), (400, 0));
    assert_eq!(rows[3].deleted.len(), 5 * 81);
    assert_eq!(files(&rows[3].deleted), 400);
    assert_eq!((rows[4].opaque.len(), files(&rows[4].deleted)), (1, 80));
    assert_eq!(rows[4].added.len(), 1 + 1 + 600);

    let merged_files = v
        .merged
        .iter()
        .filter(|m| m.kind == LayerEntryKind::File)
        .count();
    assert_eq!(merged_files, 95 * 80 - 80 + 1 + 1000 + 600);
    assert_eq!(v.merged.len() - merged_files, 95 + 11 + 1);
    let shipped_files = 8000 + 1000 + 400 + 601;
    assert_eq!(shipped_files, 10_001);
    assert_eq!(
        v.total_bytes,
        8000 * 100 + 1000 * 100 + 400 * 200 + 601 * 100
    );
    assert_eq!(v.wasted_bytes, (400 + 400 + 80) * 100);
    assert_eq!(v.wasted.len(), 880);
    assert_eq!(v.wasted[0].bytes, 100);
    let from_layer_2 = v.merged.iter().filter(|m| m.layer == 2).count();
    assert_eq!(from_layer_2, 400);
    assert!(v
        .merged
        .windows(2)
        .all(|w| tree_order(&w[0].path, &w[1].path).is_lt()));
}
