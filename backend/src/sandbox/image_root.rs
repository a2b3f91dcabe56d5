//! Overlays over an image's layers: the lab root's lower layers, and the root of each container
//! started from an image (`docker run` shape: the image's layers read-only under a fresh writable
//! layer), mounted by the lab init before the pivot.
//!
//! The layers are store directories outside the sandbox. They are named only here, through
//! symlinks in the lab tmpfs that the pivot detaches: afterwards the overlays hold them, and no
//! path inside the sandbox leads to them, so no program can write into a layer another run shares.
//! Paths are given relative to the lab tmpfs, because the kernel shows overlay options as given:
//! the learner's mount table reads `lowerdir=c-web/1:c-web/0,upperdir=layers/web.upper,...`, never
//! a host path.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rootlab_shared::spec::{Propagation, Step};

use super::sys::{self, MsFlags};

/// A container started from an image: its name and the image's layers, bottom first.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerImage {
    pub name: String,
    pub layers: Vec<PathBuf>,
}

/// A stored image's layer a spec names in `layers` (`from`): bound read-only at
/// `/layers/<name>`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExposedLayer {
    pub name: String,
    pub dir: PathBuf,
}

/// In the jail, before the sandbox's own namespaces: a user and mount namespace of its own in
/// which each exposed layer is bound read-only onto itself. The sandbox's namespaces, made next
/// below these, inherit those mounts locked (`MNT_LOCK_READONLY`, mount_namespaces(7)): neither
/// they nor any bind of them can be made writable from inside, so the sandbox's root, which owns
/// the files, still cannot change a layer other runs share.
pub fn stage_exposed(layers: &[ExposedLayer]) -> Result<(), String> {
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    sys::mount(None, Path::new("/"), None, private, None)
        .map_err(|e| format!("making / private to stage the image layers: {e}"))?;
    let ro = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    for l in layers {
        let why = |e| format!("binding layer {} read-only: {e}", l.name);
        sys::mount(l.dir.to_str(), &l.dir, None, MsFlags::MS_BIND, None).map_err(why)?;
        sys::mount(None, &l.dir, None, ro, None).map_err(why)?;
    }
    Ok(())
}

/// In the lab init, before the pivot: each staged layer bound at `root/layers/<name>` (read-only
/// and locked, as staged).
pub fn bind_exposed(root: &Path, layers: &[ExposedLayer]) -> Result<(), String> {
    for l in layers {
        let target = root.join("layers").join(&l.name);
        std::fs::create_dir(&target).map_err(|e| format!("mkdir /layers/{}: {e}", l.name))?;
        sys::mount(l.dir.to_str(), &target, None, MsFlags::MS_BIND, None)
            .map_err(|e| format!("binding layer {} at /layers/{}: {e}", l.name, l.name))?;
    }
    Ok(())
}

/// Where a container started from an image has its root, as the lab host sees it.
pub fn container_root(name: &str) -> String {
    format!("/containers/{name}")
}

/// Link `layers` (bottom first) under `m/<link>` and return the `lowerdir` value, top first,
/// relative to `m`: one layer is `<link>` itself (the lab root reads `lowerdir=image`, as before
/// images had layers); more are `<link>/<i>`.
pub fn link_lowers(m: &Path, link: &str, layers: &[PathBuf]) -> Result<String, String> {
    let why = |e: std::io::Error| format!("linking the layers of {link}: {e}");
    match layers {
        [] => Err(format!("{link}: an image without layers")),
        [one] => {
            symlink(one, m.join(link)).map_err(why)?;
            Ok(link.to_string())
        }
        many => {
            std::fs::create_dir(m.join(link)).map_err(why)?;
            for (i, layer) in many.iter().enumerate() {
                symlink(layer, m.join(link).join(i.to_string())).map_err(why)?;
            }
            let top_first: Vec<String> = (0..many.len())
                .rev()
                .map(|i| format!("{link}/{i}"))
                .collect();
            Ok(top_first.join(":"))
        }
    }
}

/// Mount each container's root overlay at `root/containers/<name>`, its writable layer on the
/// lab's `/layers` tmpfs (mounted at `root/layers`). Runs with `m` as the working directory.
/// Returns a descriptor of each writable layer, opened before any program runs: a `commit`
/// reads through it, whatever the programs rename or replace at `/layers` later.
pub fn mount_container_roots(
    m: &Path,
    root: &Path,
    containers: &[ContainerImage],
) -> Result<BTreeMap<String, OwnedFd>, String> {
    let mut uppers = BTreeMap::new();
    if containers.is_empty() {
        return Ok(uppers);
    }
    symlink(root.join("layers"), m.join("layers")).map_err(|e| format!("linking /layers: {e}"))?;
    for c in containers {
        let upper =
            mount_one(m, root, c).map_err(|e| format!("the root of container {}: {e}", c.name))?;
        uppers.insert(c.name.clone(), upper);
    }
    Ok(uppers)
}

fn mount_one(m: &Path, root: &Path, c: &ContainerImage) -> Result<OwnedFd, String> {
    let lowers = link_lowers(m, &format!("c-{}", c.name), &c.layers)?;
    let upper = format!("layers/{}.upper", c.name);
    let work = format!("layers/{}.work", c.name);
    for dir in [&upper, &work] {
        std::fs::create_dir(m.join(dir)).map_err(|e| format!("mkdir /{dir}: {e}"))?;
    }
    let target = root.join(container_root(&c.name).trim_start_matches('/'));
    std::fs::create_dir_all(&target).map_err(|e| format!("mkdir {}: {e}", target.display()))?;
    let data = format!("lowerdir={lowers},upperdir={upper},workdir={work},userxattr");
    sys::mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
    .map_err(|e| format!("mount -t overlay -o {data}: {e}"))?;
    sys::open_dir(&m.join(&upper)).map_err(|e| format!("opening /{upper}: {e}"))
}

/// What a container started from an image does before its first step, as steps of its own:
/// `/` made a slave recursively (what runc does; `pivot_root` refuses a shared parent), its own
/// `/proc`, the lab host's `/dev`, and the pivot into the image's root.
pub fn enter_steps(name: &str) -> Vec<Step> {
    let root = container_root(name);
    let actor = name.to_string();
    vec![
        Step::MakePropagation {
            actor: actor.clone(),
            target: "/".into(),
            propagation: Propagation::Slave,
            recursive: true,
        },
        Step::Mkdir {
            actor: actor.clone(),
            path: format!("{root}/proc"),
            mode: 0o555,
        },
        Step::Mkdir {
            actor: actor.clone(),
            path: format!("{root}/dev"),
            mode: 0o755,
        },
        Step::Proc {
            actor: actor.clone(),
            target: format!("{root}/proc"),
        },
        Step::Bind {
            actor: actor.clone(),
            source: "/dev".into(),
            target: format!("{root}/dev"),
            readonly: false,
            recursive: true,
            propagation: None,
        },
        Step::PivotRoot {
            actor,
            new_root: root,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_layer_keeps_the_plain_name_and_more_are_listed_top_first() {
        let m = tempfile::tempdir().unwrap();
        let one = link_lowers(m.path(), "image", &[PathBuf::from("/l0")]).unwrap();
        assert_eq!(one, "image");
        assert_eq!(
            std::fs::read_link(m.path().join("image")).unwrap(),
            Path::new("/l0")
        );
        let layers: Vec<PathBuf> = ["/l0", "/l1", "/l2"].iter().map(PathBuf::from).collect();
        let many = link_lowers(m.path(), "c-web", &layers).unwrap();
        assert_eq!(many, "c-web/2:c-web/1:c-web/0");
        assert_eq!(
            std::fs::read_link(m.path().join("c-web/2")).unwrap(),
            Path::new("/l2")
        );
        assert!(link_lowers(m.path(), "none", &[]).is_err());
    }
}
