//! Exports for run.mjs: `build` makes the synthetic image (once), `layer_view` computes its view,
//! `btree_baseline` inserts every path of it into a `BTreeMap` (the baseline the figure is
//! compared with, measured in the same run).

use std::cell::RefCell;
use std::collections::BTreeMap;

use rootlab_shared::image::{LayerEntry, LayerEntryKind, LayerInfo};

type Layers = Vec<(LayerInfo, Vec<LayerEntry>)>;

thread_local! {
    static IMAGE: RefCell<Layers> = const { RefCell::new(Vec::new()) };
}

fn entry(path: String, kind: LayerEntryKind, size: u64) -> LayerEntry {
    LayerEntry {
        path,
        kind,
        size,
        mode: 0o644,
        target: None,
        opaque: false,
    }
}

/// 100 directories of 80 files, 1,000 files added, 400 re-shipped, 5 directories deleted, one
/// made opaque and 600 more files: 10,001 files.
fn image() -> Layers {
    use LayerEntryKind::*;
    let name = |d: usize, f: usize| format!("usr/lib/d{d:02}/f{f:02}.so");
    let mut base = vec![entry("usr".into(), Dir, 0), entry("usr/lib".into(), Dir, 0)];
    for d in 0..100 {
        base.push(entry(format!("usr/lib/d{d:02}"), Dir, 0));
        base.extend((0..80).map(|f| entry(name(d, f), File, 100)));
    }
    let added = (0..1000).map(|i| entry(format!("n/s{}/f{i:03}", i % 10), File, 100));
    let reshipped = (0..400).map(|i| entry(name(i / 80, i % 80), File, 200));
    let deleted = (95..100).map(|d| entry(format!("usr/lib/d{d:02}"), Whiteout, 0));
    let mut top = vec![LayerEntry {
        opaque: true,
        ..entry("usr/lib/d90".into(), Dir, 0)
    }];
    top.extend((0..600).map(|i| entry(format!("m/f{i:03}"), File, 100)));
    let layers = [
        base,
        added.collect(),
        reshipped.collect(),
        deleted.collect(),
        top,
    ];
    layers.into_iter().map(|l| (info(l.len()), l)).collect()
}

fn info(entries: usize) -> LayerInfo {
    LayerInfo {
        diff_id: String::new(),
        digest: None,
        blob_size: None,
        size: 0,
        entries,
        created_by: None,
    }
}

#[no_mangle]
pub extern "C" fn build() -> usize {
    IMAGE.with(|i| *i.borrow_mut() = image());
    IMAGE.with(|i| i.borrow().iter().map(|(_, l)| l.len()).sum())
}

#[no_mangle]
pub extern "C" fn layer_view() -> usize {
    IMAGE.with(|i| {
        rootlab_shared::layerview::layer_view(&i.borrow(), None)
            .merged
            .len()
    })
}

#[no_mangle]
pub extern "C" fn btree_baseline() -> usize {
    IMAGE.with(|i| {
        let layers = i.borrow();
        let mut map = BTreeMap::new();
        for e in layers.iter().flat_map(|(_, l)| l.iter()) {
            map.insert(e.path.as_str(), e.size);
        }
        map.len()
    })
}
