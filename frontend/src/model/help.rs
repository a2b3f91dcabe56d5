//! One line of help for each field of the composer, by the field's last key.

/// The help for the field at JSON path `path` (`steps[2].target` -> help for `target`).
pub fn for_path(path: &str) -> Option<&'static str> {
    let key = path.rsplit(['.', '[']).next().unwrap_or(path);
    let key = key.trim_end_matches(']');
    if key.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(match (path, key) {
        ("title", _) => "A name for the experiment, shown above its result.",
        (p, "image") if p.starts_with("steps") => "Optional: start the container from this image, as docker run does: the image's layers read-only under a fresh writable layer (/layers/<name>.upper), its own /proc, then pivot_root into it. Images: tools, busybox, or one from the Images tab.",
        (_, "image") => "The image the host runs on: tools (bash, coreutils, util-linux), busybox, or one from the Images tab (name:tag).",
        (_, "root_propagation") => "How the host's / passes mount events on: shared (what systemd does: containers' mounts come back), private (never), slave (only from the host down).",
        (_, "name") => "A container's name, used in the \"in\" field of later steps; in a commit, the new image's name:tag.",
        (_, "container") => "A container started from an image: its writable layer becomes the new image's top layer (docker commit).",
        (_, "message") => "Optional: what the image's history records as the step that made the layer (docker commit -m).",
        (_, "namespaces") => "More namespaces for the container besides its mount namespace.",
        (_, "in") => "Who performs the step: the host or a container created by an earlier step.",
        (p, "target") if p.starts_with("expect") => "The mount point to look for in that view's mount table.",
        (p, "propagation") if p.starts_with("expect") => "Optional: the PROPAGATION the last mount there must show, e.g. shared, private or private,slave.",
        (p, "path") if p.starts_with("expect") => "An absolute path below one of the snapshot's walked paths.",
        (p, "content") if p.starts_with("expect") => "Optional: the file's exact text (its preview) in that view.",
        (p, "target") if p.contains("files") || p.contains("entries") => "Where the symbolic link points.",
        (_, "target") => "The absolute path where the mount goes (or is changed), as this actor sees it.",
        (_, "source") => "For tmpfs, the name shown in the mount table (e.g. none); for bind, the directory shown at the target.",
        (_, "size") => "Largest size of the tmpfs in bytes (at most the server's limit).",
        (_, "mode") => "Permission bits in octal, e.g. 755.",
        (_, "flags") => "Mount flags: readonly, nosuid, nodev, noexec, noatime.",
        (_, "readonly") => "Make the bind mount read-only.",
        (_, "recursive") => "Apply to every mount below the target too (like --rbind or --make-rprivate).",
        (_, "lowers") => "Read-only layers, leftmost on top: a file in the first hides the same file in the next.",
        (_, "upper") => "A writable layer (optional): writes, copy-ups and whiteouts land there.",
        (_, "detach") => "Lazy unmount (umount -l): detach now, clean up when no longer busy.",
        (_, "options") => "overlayfs features: volatile, index, metacopy, redirect_dir, nfs_export (an overlay in a user namespace may not use metacopy or redirect_dir).",
        (_, "propagation") => "shared: mount events travel both ways; slave: only from the master; private: never; unbindable: private and cannot be bind-mounted. On a bind, applied to the new mount in the same step (mount --rbind --make-rslave); unchanged leaves it as it comes.",
        (_, "dir") => "The directory that becomes / for this actor.",
        (_, "programs") => "Programs to copy into the rootfs, with every library ldd lists for them.",
        (_, "skip_libraries") => "Copy only the programs, not their libraries (to see the loader go missing).",
        (_, "new_root") => "The directory that becomes the new / (a mount point; the old root is detached).",
        (_, "path") => "An absolute path as this actor sees it (in a layer: relative to the layer).",
        (_, "content") => "The file's text.",
        (_, "argv") => "The program and its arguments, separated by spaces.",
        (_, "background") => "Start the program and go on at once (cmd &); a later wait step reports its output.",
        (_, "timeout_ms") => "Optional: stop waiting after this many milliseconds (the programs keep running).",
        (_, "label") => "The snapshot's name, shown in the comparison pickers.",
        (_, "views") => "Whose point of view to record: host and container names (empty: all alive).",
        (_, "paths") => "Directories to walk in each view (default /).",
        (_, "depth") => "How many levels below each path to walk; deeper entries are \"not captured\".",
        (_, "layers") => "Also record each layer's own directory (whiteouts and opaque directories as stored).",
        (_, "step") => "The step's number counted from 0 (steps[0] is the first).",
        (_, "errno") => "Empty: the step succeeds; else the errno it is refused with, e.g. EINVAL or ENOENT.",
        (_, "contains") => "Text the program's stdout must contain.",
        (_, "snapshot") => "The label of the snapshot to look in.",
        (_, "view") => "Whose view in that snapshot: host or a container's name.",
        (_, "present") => "Checked: it must be there; unchecked: it must be absent.",
        (_, "type") => "What the entry is: a file, a directory, a symbolic link, or (in a layer) a whiteout that hides a lower file.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_found_by_the_last_key() {
        assert!(for_path("steps[2].target").unwrap().contains("absolute"));
        assert!(for_path("host.root_propagation")
            .unwrap()
            .contains("systemd"));
        assert_eq!(for_path("steps[2]"), None);
    }

    #[test]
    fn every_expectation_field_has_help_of_its_own() {
        use crate::model::expect_form::{expect_fields, EXPECT_KINDS};
        for kind in EXPECT_KINDS {
            for (key, _) in expect_fields(kind) {
                assert!(
                    for_path(&format!("expect[0].{key}")).is_some(),
                    "{kind}.{key}"
                );
            }
        }
        assert!(for_path("expect[1].target")
            .unwrap()
            .contains("mount table"));
        assert!(for_path("steps[1].target").unwrap().contains("mount goes"));
    }

    #[test]
    fn every_step_field_has_help() {
        for op in crate::model::form::OPS {
            for (key, _) in crate::model::form::step_fields(op) {
                assert!(for_path(&format!("steps[0].{key}")).is_some(), "{op}.{key}");
            }
        }
    }
}
