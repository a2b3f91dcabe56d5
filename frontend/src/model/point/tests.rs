//! Every lesson's point, found in a real result of its preset.

use super::*;
use crate::model::fixtures::fixtures;

fn point_of(id: &str) -> Point {
    let (_, result, spec) = fixtures().into_iter().find(|(i, ..)| *i == id).unwrap();
    point(&result, Some(&spec)).unwrap_or_else(|| panic!("{id} has a point"))
}

fn says(p: &Point, words: &[&str]) {
    for w in words {
        assert!(
            p.sentence.contains(w),
            "{w:?} missing from {:?}",
            p.sentence
        );
    }
}

#[test]
fn every_lesson_has_a_point() {
    let kinds: Vec<(&str, &str)> = fixtures()
        .iter()
        .map(|(id, r, s)| {
            (
                *id,
                point(r, Some(s))
                    .map(|p| p.evidence.kind())
                    .unwrap_or("none"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("seed-inherit", "listings"),
            ("seed-tmpfs", "listings"),
            ("seed-propagation-leak", "mounts"),
            ("seed-propagation-private", "mounts"),
            ("seed-propagation-slave", "mounts"),
            ("propagation-userns", "attempts"),
            ("bind-rslave", "mounts"),
            ("move-mount", "attempts"),
            ("background-watch", "outputs"),
            ("seed-chroot", "outputs"),
            ("seed-chroot-missing-lib", "refused"),
            ("seed-kernel", "outputs"),
            ("seed-union", "entries"),
            ("overlay-options", "attempts"),
            ("seed-layers", "entries"),
            ("image-layers", "entries"),
            ("pivot-vs-chroot", "escapes"),
        ]
    );
}

#[test]
fn the_leak_is_the_tmp_row_absent_before_and_leaked_after() {
    let p = point_of("seed-propagation-leak");
    assert_eq!(p.tone, Tone::Bad);
    says(&p, &["Leaked", "/tmp", "c1", "shared"]);
    let Evidence::Mounts(lines) = &p.evidence else {
        panic!()
    };
    let marks: Vec<MountMark> = lines.iter().map(|l| l.mark).collect();
    assert_eq!(
        marks,
        vec![MountMark::Absent, MountMark::Present, MountMark::Leaked]
    );
    assert_eq!(lines[2].row.as_ref().unwrap().fstype, "tmpfs");
}

#[test]
fn private_and_slave_say_nothing_leaked_and_slave_shows_the_one_way() {
    let p = point_of("seed-propagation-private");
    assert_eq!(p.tone, Tone::Good);
    says(&p, &["Nothing leaked", "/tmp", "--make-rprivate"]);
    let s = point_of("seed-propagation-slave");
    assert_eq!(s.tone, Tone::Good);
    says(&s, &["Nothing leaked", "/mnt/data", "One way only"]);
    let Evidence::Mounts(lines) = &s.evidence else {
        panic!()
    };
    assert_eq!(
        lines[2].mark,
        MountMark::Absent,
        "the host after exit has no /tmp mount"
    );
    assert_eq!(lines[3].target, "/mnt/data");
    assert!(
        lines[3].row.as_ref().unwrap().master.is_some(),
        "it arrived from a master"
    );
}

#[test]
fn listings_tell_a_copy_from_a_covered_directory() {
    let p = point_of("seed-inherit");
    says(&p, &["same 5 entries", "copy"]);
    let t = point_of("seed-tmpfs");
    says(&t, &["empty", "tmpfs", "5 entries"]);
    let Evidence::Listings(l) = &t.evidence else {
        panic!()
    };
    assert_eq!((l[0].names.len(), l[1].names.len()), (5, 0));
}

#[test]
fn chroot_kernel_and_missing_loader() {
    says(
        &point_of("seed-chroot"),
        &["bin, lib and lib64", "/root/test"],
    );
    let k = point_of("seed-kernel");
    says(
        &k,
        &[
            "same kernel release",
            "c1",
            "host",
            "c1's / holds only bin, lib and lib64: no kernel image",
        ],
    );
    let Evidence::Outputs(o) = &k.evidence else {
        panic!()
    };
    assert_eq!(o.len(), 2);
    let m = point_of("seed-chroot-missing-lib");
    says(&m, &["ENOENT", "/lib64/ld-linux-x86-64.so.2"]);
}

#[test]
fn overlays_name_the_layer_of_each_entry() {
    let u = point_of("seed-union");
    says(&u, &["a, b and x", "x comes from A, which hides B's x"]);
    let l = point_of("seed-layers");
    says(
        &l,
        &[
            "etc/app.conf copied up",
            "etc/os-release deleted",
            "usr/share/doc recreated",
        ],
    );
    let Evidence::Entries { items, .. } = &l.evidence else {
        panic!()
    };
    assert!(items.iter().any(|i| i.note == "whiteout"));
}

#[test]
fn escaped_versus_contained() {
    let p = point_of("pivot-vs-chroot");
    says(&p, &["gets out of chroot", "but stays in after pivot_root"]);
    let Evidence::Escapes(e) = &p.evidence else {
        panic!()
    };
    assert_eq!(
        e.iter().map(|e| e.escaped).collect::<Vec<_>>(),
        vec![true, false]
    );
}

fn attempts_of(p: &Point) -> (&[Attempt], &[MountLine]) {
    let Evidence::Attempts { attempts, mounts } = &p.evidence else {
        panic!("{:?}", p.evidence)
    };
    (attempts, mounts)
}

fn marks(lines: &[MountLine]) -> Vec<(&str, MountMark)> {
    lines.iter().map(|l| (l.target.as_str(), l.mark)).collect()
}

#[test]
fn a_rootless_container_gets_slaves_it_cannot_unmount() {
    let p = point_of("propagation-userns");
    assert_eq!(p.tone, Tone::Good);
    says(
        &p,
        &[
            "user namespace",
            "`private,slave`",
            "later mount on /mnt/late reached it",
            "/tmp stayed out of the host's table",
            "`umount /mnt/data` failed with EINVAL",
            "locked",
        ],
    );
    let (attempts, lines) = attempts_of(&p);
    assert_eq!(attempts[0].errno.as_deref(), Some("EINVAL"));
    assert_eq!(
        marks(lines),
        [
            ("/mnt/late", MountMark::Present),
            ("/tmp", MountMark::Present),
            ("/tmp", MountMark::Absent),
            ("/mnt/data", MountMark::Present),
        ]
    );
    assert!(lines[0].row.as_ref().unwrap().master.is_some(), "a slave");
}

#[test]
fn a_slave_volume_receives_and_sends_nothing_back() {
    let p = point_of("bind-rslave");
    assert_eq!(p.tone, Tone::Good);
    says(
        &p,
        &[
            "/data/in",
            "arrived at /vol/in",
            "/priv (private) has no mount there",
            "/vol/out did not go back",
        ],
    );
    let Evidence::Mounts(lines) = &p.evidence else {
        panic!()
    };
    assert_eq!(
        marks(lines),
        [
            ("/data/in", MountMark::Present),
            ("/vol/in", MountMark::Present),
            ("/priv/in", MountMark::Absent),
            ("/vol/out", MountMark::Present),
            ("/data/out", MountMark::Absent),
        ]
    );
    let (host, c1) = (lines[0].row.as_ref(), lines[1].row.as_ref());
    assert_eq!(c1.unwrap().master, host.unwrap().shared, "same peer group");
}

#[test]
fn a_move_is_refused_under_a_shared_parent_then_done() {
    let p = point_of("move-mount");
    says(
        &p,
        &[
            "failed with EINVAL while the mount's parent / was shared",
            "`mount --make-rprivate /`",
            "tmpfs is now on /mnt/new",
        ],
    );
    let (attempts, lines) = attempts_of(&p);
    let errnos: Vec<Option<&str>> = attempts.iter().map(|a| a.errno.as_deref()).collect();
    assert_eq!(errnos, [Some("EINVAL"), None, None]);
    assert_eq!(
        marks(lines),
        [
            ("/", MountMark::Present),
            ("/mnt/old", MountMark::Present),
            ("/", MountMark::Present),
            ("/mnt/old", MountMark::Absent),
            ("/mnt/new", MountMark::Present),
        ]
    );
    let root = |i: usize| lines[i].row.as_ref().unwrap().propagation.as_str();
    assert_eq!(
        (root(0), root(2)),
        ("shared", "private"),
        "the parent's change"
    );
}

#[test]
fn overlay_options_taken_and_refused() {
    let p = point_of("overlay-options");
    says(
        &p,
        &[
            "took `volatile`",
            "shows `fsync=volatile`",
            "with `metacopy=on` on /root/tree/D",
            "refused the mount with EINVAL",
        ],
    );
    let (attempts, lines) = attempts_of(&p);
    assert!(lines.is_empty());
    assert_eq!(attempts[0].note, "the mount table shows fsync=volatile");
    assert!(
        attempts[1].note.contains("user namespace"),
        "the kernel's reason"
    );
}

#[test]
fn a_background_program_sees_the_mount_arrive() {
    let p = point_of("background-watch");
    says(
        &p,
        &[
            "already running when the host mounted on /mnt/x",
            "“/mnt/x is not a mountpoint” before",
            "“/mnt/x is a mountpoint” after",
        ],
    );
    let Evidence::Outputs(o) = &p.evidence else {
        panic!()
    };
    assert!(o[0].stdout.contains("shared:"), "its own mountinfo row");
    assert!(o[0].command.chars().count() <= 48);
}

#[test]
fn a_container_from_an_image_shows_its_writable_layer() {
    let (_, r, s) = fixtures()
        .into_iter()
        .find(|(id, ..)| *id == "image-layers")
        .unwrap();
    let p = point(&r, Some(&s)).unwrap();
    assert!(p.sentence.contains("/layers/app.upper"), "{}", p.sentence);
    assert!(p.sentence.contains("etc/issue deleted"), "{}", p.sentence);
    assert!(
        p.sentence.contains("usr/share/doc/apt re-created"),
        "{}",
        p.sentence
    );
    let Evidence::Entries { items, .. } = p.evidence else {
        panic!("entries");
    };
    let note = |path: &str| {
        items
            .iter()
            .find(|i| i.path == path)
            .map(|i| i.note.as_str())
    };
    assert_eq!(note("etc/issue"), Some("whiteout"));
    assert_eq!(note("usr/share/doc/apt"), Some("opaque"));
    assert_eq!(note("etc/app.conf"), Some(""));
}
