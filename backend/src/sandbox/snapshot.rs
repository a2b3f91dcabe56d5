//! Snapshots, assembled by the lab init: each view's mount table (peer groups renumbered
//! stably across the run) and the trees its actor walked, where overlay entries come from, each
//! layer's own tree, and a size that fits one message.

use std::path::Path;

use rootlab_shared::mountinfo::Renumbering;
use rootlab_shared::result::{LayerTree, MountEntry, Snapshot, View};
use rootlab_shared::spec::Layer;
use rootlab_shared::Limits;

use super::layers::layer_dir;
use super::walk::{self, covering_target, is_opaque_dir};
use super::wire::Observed;

/// The lab init's observer; keeps peer-group numbers stable across the run.
pub struct Observer {
    limits: Limits,
    layers: Vec<String>,
    renumber: Renumbering,
    /// Snapshots taken so far.
    pub taken: usize,
}

impl Observer {
    pub fn new(limits: &Limits, layers: &[Layer]) -> Self {
        Observer {
            limits: limits.clone(),
            layers: layers.iter().map(|l| l.name.clone()).collect(),
            renumber: Renumbering::default(),
            taken: 0,
        }
    }

    /// One view from what its actor observed; `None` when the actor is gone.
    pub fn view(&mut self, actor: &str, seen: Option<Observed>, paths: &[String]) -> View {
        let Some(seen) = seen else {
            let trees = paths
                .iter()
                .map(|p| walk::error_tree(p, "the actor is not running"))
                .collect();
            return View {
                actor: actor.to_string(),
                mounts: vec![],
                mounts_truncated: false,
                trees,
            };
        };
        let mounts = self.renumber.entries(&seen.mountinfo).unwrap_or_default();
        let mut trees = seen.trees;
        for tree in &mut trees {
            for e in &mut tree.entries {
                e.layer = layer_origin(&mounts, &e.path);
            }
        }
        View {
            actor: actor.to_string(),
            mounts,
            mounts_truncated: seen.mountinfo_cut,
            trees,
        }
    }

    /// Each layer's own tree (at least 8 levels deep).
    pub fn layer_trees(&self, depth: u32) -> Vec<LayerTree> {
        self.layers
            .iter()
            .map(|name| {
                let mut tree = walk::tree(&layer_dir(name), "/", depth.max(8), &self.limits, None);
                tree.root = String::new();
                for e in &mut tree.entries {
                    e.path = e.path.trim_start_matches('/').to_string();
                }
                LayerTree {
                    name: name.clone(),
                    tree,
                }
            })
            .collect()
    }
}

/// Cut the biggest trees (and, last, mount tables) of a snapshot in half until it serialises
/// to at most `budget` bytes, marking what was cut.
pub fn fit(snapshot: &mut Snapshot, budget: usize) {
    loop {
        let size = serde_json::to_vec(snapshot).map_or(usize::MAX, |v| v.len());
        if size <= budget {
            return;
        }
        let views = snapshot.views.iter_mut().flat_map(|v| v.trees.iter_mut());
        let layers = snapshot.layers.iter_mut().map(|l| &mut l.tree);
        if walk::halve_biggest(views.chain(layers)) {
            continue;
        }
        let Some(view) = snapshot.views.iter_mut().max_by_key(|v| v.mounts.len()) else {
            return;
        };
        if view.mounts.is_empty() {
            return;
        }
        let keep = view.mounts.len() / 2;
        view.mounts.truncate(keep);
        view.mounts_truncated = true;
    }
}

/// Under an overlay built from layers: the topmost layer holding the path, honouring
/// whiteouts and opaque directories.
fn layer_origin(rows: &[MountEntry], path: &str) -> Option<String> {
    let target = covering_target(rows.iter().map(|m| m.target.as_str()), path)?;
    let mount = rows
        .iter()
        .rev()
        .find(|m| m.target == target)
        .filter(|m| m.fstype == "overlay")?;
    let stack = overlay_layers(&mount.options)?;
    let rel = path[mount.target.len().min(path.len())..].trim_start_matches('/');
    for layer in stack {
        let dir = layer_dir(&layer);
        if rel.is_empty() {
            return Some(layer);
        }
        match std::fs::symlink_metadata(dir.join(rel)) {
            Ok(m) if is_whiteout(&m) => return None,
            Ok(_) => return Some(layer),
            Err(_) if hidden_by_opaque(&dir, rel) => return None,
            Err(_) => continue,
        }
    }
    None
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Is an ancestor of `rel` an opaque directory in this layer (hiding the lower layers)?
fn hidden_by_opaque(layer: &Path, rel: &str) -> bool {
    let mut dir = layer.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    parts[..parts.len().saturating_sub(1)].iter().any(|part| {
        dir.push(part);
        is_opaque_dir(&dir)
    })
}

/// `[upper, lowers...]` layer names from overlay options, when every dir is a `/layers/<name>`.
fn overlay_layers(options: &str) -> Option<Vec<String>> {
    let mut upper = None;
    let mut lowers = Vec::new();
    for opt in options.split(',') {
        if let Some(v) = opt.strip_prefix("upperdir=") {
            upper = Some(layer_name(v)?);
        } else if let Some(v) = opt.strip_prefix("lowerdir=") {
            for l in v.split(':').filter(|l| !l.is_empty()) {
                lowers.push(layer_name(l)?);
            }
        }
    }
    let mut stack: Vec<String> = upper.into_iter().collect();
    stack.extend(lowers);
    (!stack.is_empty()).then_some(stack)
}

fn layer_name(dir: &str) -> Option<String> {
    let name = dir.strip_prefix("/layers/")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::result::{FileKind, Tree, TreeEntry};

    #[test]
    fn overlay_options_name_layers_upper_first() {
        let o = "rw,relatime,lowerdir=/layers/A:/layers/B,upperdir=/layers/C,workdir=/layers/.work-C,userxattr";
        assert_eq!(overlay_layers(o).unwrap(), vec!["C", "A", "B"]);
        assert_eq!(overlay_layers("rw,lowerdir=/var/x"), None);
    }

    #[test]
    fn an_oversized_snapshot_is_cut_to_fit_and_says_so() {
        let entries: Vec<TreeEntry> = (0..5000)
            .map(|i| TreeEntry::new(format!("/d/{i:0>200}"), FileKind::File))
            .collect();
        let tree = Tree {
            root: "/d".into(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        };
        let mut snap = Snapshot {
            label: "big".into(),
            step: 0,
            views: vec![View {
                actor: "host".into(),
                mounts: vec![],
                mounts_truncated: false,
                trees: vec![tree],
            }],
            layers: vec![],
        };
        fit(&mut snap, 200_000);
        assert!(serde_json::to_vec(&snap).unwrap().len() <= 200_000);
        let t = &snap.views[0].trees[0];
        assert!(t.truncated && !t.entries.is_empty() && t.entries.len() < 5000);
    }
}
