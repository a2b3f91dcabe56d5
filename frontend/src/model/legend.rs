//! Which marks a comparison shows, so the legend explains those and no others.

use super::mounts::MountRow;
use super::tree::{Change, Row};

/// The legend classes in use by these tree rows and mount rows.
pub fn marks(rows: &[Row], mounts: &[&MountRow]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |m: &'static str| {
        if !out.contains(&m) {
            out.push(m);
        }
    };
    for row in rows {
        if row.change != Change::Same {
            add(row.change.css());
        }
        for e in [&row.left, &row.right].into_iter().flatten() {
            if e.whiteout {
                add("ghost");
            }
            if e.opaque {
                add("opaque");
            }
            if e.layer.is_some() {
                add("layer");
            }
        }
    }
    for m in mounts {
        if m.change != Change::Same {
            add(m.change.css());
        }
        if m.leak.is_some() {
            add("leak");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::{diff, tests::side};
    use rootlab_shared::result::{FileKind, TreeEntry};

    #[test]
    fn only_the_marks_in_view_are_listed() {
        let same = side("/", vec![TreeEntry::new("/a", FileKind::File)], &[]);
        assert!(marks(&diff(&same, &same), &[]).is_empty());
        let mut ghost = TreeEntry::new("/b", FileKind::CharDevice);
        ghost.whiteout = true;
        let other = side(
            "/",
            vec![
                TreeEntry::new("/a", FileKind::File),
                ghost,
                TreeEntry::new("/c", FileKind::File),
            ],
            &[],
        );
        // A whiteout on the right stands for an absence: marked as one, not as an addition.
        assert_eq!(marks(&diff(&same, &other), &[]), vec!["ghost", "added"]);
    }
}
