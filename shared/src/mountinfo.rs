//! Parsing of `/proc/<pid>/mountinfo` into mount table rows, with findmnt's OPTIONS and
//! PROPAGATION columns and peer group ids renumbered so that views of one run compare.
//!
//! Line format (proc(5)):
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! = id, parent, major:minor, root, mount point, per-mount options, optional fields, `-`,
//! fstype, source, per-superblock options.

use std::collections::HashMap;

use crate::result::MountEntry;

/// One line of mountinfo, as the kernel wrote it (escapes decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMount {
    pub id: u32,
    pub parent: u32,
    pub major: u32,
    pub minor: u32,
    /// The directory of the file system mounted here (`/` unless a bind of a subdirectory).
    pub root: String,
    pub target: String,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: String,
    pub optional: Vec<OptionalField>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (`rw,size=16384k`).
    pub super_options: String,
}

/// A tagged optional field (the propagation state of the mount).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionalField {
    /// `shared:N`: member of peer group N.
    Shared(u32),
    /// `master:N`: receives events from peer group N.
    Master(u32),
    /// `propagate_from:N`: receives from group N, the dominant peer the reader can see.
    PropagateFrom(u32),
    /// `unbindable`.
    Unbindable,
}

/// A line mountinfo could not be read from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Parse a whole mountinfo text; blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<RawMount>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|message| ParseError {
                line: i + 1,
                message,
            })
        })
        .collect()
}

/// Parse one line; the error says which field is wrong.
pub fn parse_line(line: &str) -> Result<RawMount, String> {
    let (head, tail) = line
        .split_once(" - ")
        .ok_or("no ` - ` separator before the file system type")?;
    let mut head = head.split(' ');
    let mut next = |what: &str| head.next().ok_or(format!("missing {what}"));
    let id = number(next("mount id")?, "mount id")?;
    let parent = number(next("parent id")?, "parent id")?;
    let (major, minor) = device(next("major:minor")?)?;
    let root = unescape(next("root")?);
    let target = unescape(next("mount point")?);
    let mount_options = unescape(next("mount options")?);
    let optional = head.map(optional_field).collect::<Result<_, _>>()?;
    let mut tail = tail.split(' ');
    let fstype = unescape(tail.next().ok_or("missing file system type")?);
    let source = unescape(tail.next().ok_or("missing mount source")?);
    let super_options = unescape(tail.next().unwrap_or(""));
    Ok(RawMount {
        id,
        parent,
        major,
        minor,
        root,
        target,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
    })
}

fn number(text: &str, what: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("{what} `{text}` is not a number"))
}

fn device(text: &str) -> Result<(u32, u32), String> {
    let (major, minor) = text
        .split_once(':')
        .ok_or(format!("device `{text}` is not major:minor"))?;
    Ok((number(major, "major")?, number(minor, "minor")?))
}

fn optional_field(tag: &str) -> Result<OptionalField, String> {
    let group = |n: &str| number(n, "peer group");
    match tag.split_once(':') {
        Some(("shared", n)) => Ok(OptionalField::Shared(group(n)?)),
        Some(("master", n)) => Ok(OptionalField::Master(group(n)?)),
        Some(("propagate_from", n)) => Ok(OptionalField::PropagateFrom(group(n)?)),
        None if tag == "unbindable" => Ok(OptionalField::Unbindable),
        _ => Err(format!("unknown optional field `{tag}`")),
    }
}

/// Decode the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
pub fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match octal_at(bytes, i) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal_at(bytes: &[u8], i: usize) -> Option<u8> {
    let digits = bytes.get(i + 1..i + 4)?;
    if bytes[i] != b'\\' || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
    u8::try_from(value).ok()
}

/// findmnt's PROPAGATION column: `shared` or `private`, then `,slave` when the mount has a
/// master, then `,unbindable` (util-linux `mnt_fs_get_propagation`; `propagate_from` is ignored).
pub fn propagation(optional: &[OptionalField]) -> String {
    let has = |f: fn(&OptionalField) -> bool| optional.iter().any(f);
    let mut out = String::from(if has(|f| matches!(f, OptionalField::Shared(_))) {
        "shared"
    } else {
        "private"
    });
    if has(|f| matches!(f, OptionalField::Master(_))) {
        out.push_str(",slave");
    }
    if has(|f| matches!(f, OptionalField::Unbindable)) {
        out.push_str(",unbindable");
    }
    out
}

/// findmnt's OPTIONS column: `rw`/`ro` first (ro when either list says so), then the
/// per-mount options, then the per-superblock ones, each option once.
pub fn merged_options(mount_options: &str, super_options: &str) -> String {
    let all = mount_options.split(',').chain(super_options.split(','));
    let readonly = all.clone().any(|o| o == "ro");
    let mut out = vec![if readonly { "ro" } else { "rw" }];
    for option in all.filter(|o| !o.is_empty() && *o != "rw" && *o != "ro") {
        if !out.contains(&option) {
            out.push(option);
        }
    }
    out.join(",")
}

/// The options of a row that the sandbox put there rather than the lesson (see
/// [`MountEntry::added_options`]).
pub fn added_options(fstype: &str, options: &str) -> Vec<String> {
    let ours = |o: &&str| match fstype {
        "tmpfs" => ["size=", "nr_inodes=", "uid=", "gid="]
            .iter()
            .any(|p| o.starts_with(p)),
        "overlay" => *o == "userxattr",
        _ => false,
    };
    options.split(',').filter(ours).map(String::from).collect()
}

/// Maps kernel peer group ids to 1, 2, 3... in order of first appearance. Use one per run, so
/// the host's `shared:1` and a container's `master:1` name the same group.
#[derive(Debug, Default, Clone)]
pub struct Renumbering {
    groups: HashMap<u32, u32>,
}

impl Renumbering {
    pub fn new() -> Self {
        Self::default()
    }

    /// The small number of a kernel peer group id, assigning the next one on first sight.
    pub fn group(&mut self, kernel_id: u32) -> u32 {
        let next = self.groups.len() as u32 + 1;
        *self.groups.entry(kernel_id).or_insert(next)
    }

    /// One mount table row, with findmnt's columns and renumbered peer groups.
    pub fn to_entry(&mut self, raw: &RawMount) -> MountEntry {
        let mut shared = None;
        let mut master = None;
        for field in &raw.optional {
            match *field {
                OptionalField::Shared(g) => shared = Some(self.group(g)),
                OptionalField::Master(g) => master = Some(self.group(g)),
                OptionalField::PropagateFrom(_) | OptionalField::Unbindable => {}
            }
        }
        let options = merged_options(&raw.mount_options, &raw.super_options);
        MountEntry {
            id: raw.id,
            parent: raw.parent,
            target: raw.target.clone(),
            source: raw.source.clone(),
            root: raw.root.clone(),
            added_options: added_options(&raw.fstype, &options),
            fstype: raw.fstype.clone(),
            options,
            propagation: propagation(&raw.optional),
            shared,
            master,
        }
    }

    /// Parse a whole mountinfo text into rows.
    pub fn entries(&mut self, text: &str) -> Result<Vec<MountEntry>, ParseError> {
        Ok(parse(text)?.iter().map(|raw| self.to_entry(raw)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines from the machine rootlab was built on.
    const MACHINE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
";

    /// Captured in a throwaway mount namespace on the same machine; findmnt printed
    /// shared / shared / private,slave / shared,slave / private,unbindable for these.
    const PROPAGATION: &str = "\
63 43 0:39 / /tmp/mi_fx rw,relatime shared:1 - tmpfs none rw,size=16384k
64 63 0:40 / /tmp/mi_fx/a rw,relatime shared:2 - tmpfs none rw
65 63 0:40 / /tmp/mi_fx/b rw,relatime master:2 - tmpfs none rw
66 63 0:40 / /tmp/mi_fx/c rw,relatime shared:3 master:2 - tmpfs none rw
67 63 0:41 / /tmp/mi_fx/with\\040space ro,relatime unbindable - tmpfs none ro
";

    /// The seed's world: a systemd host whose `/` is shared, after the container's tmpfs leaked.
    const SEED_HOST: &str = "\
61 1 8:3 / / rw,relatime shared:1 - xfs /dev/sda3 rw,attr2,inode64,noquota
90 61 0:45 / /tmp rw,relatime shared:187 - tmpfs none rw
";

    #[test]
    fn parses_every_field_of_a_real_line() {
        let rows = parse(MACHINE).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[3],
            RawMount {
                id: 28,
                parent: 27,
                major: 0,
                minor: 25,
                root: "/".into(),
                target: "/mnt/sandboxing/model_tools_env/v1/python".into(),
                mount_options: "ro,nosuid,nodev,relatime".into(),
                optional: vec![],
                fstype: "tmpfs".into(),
                source: "model_tools_unavailable".into(),
                super_options: "ro,size=4k,mode=755".into(),
            }
        );
    }

    #[test]
    fn the_sandboxs_own_options_are_named() {
        let opts = "rw,nosuid,nodev,relatime,size=16384k,nr_inodes=4096,mode=755,uid=65534,gid=65534,inode64";
        assert_eq!(
            added_options("tmpfs", opts),
            vec!["size=16384k", "nr_inodes=4096", "uid=65534", "gid=65534"]
        );
        let overlay = "rw,relatime,lowerdir=A:B,upperdir=u,workdir=w,userxattr";
        assert_eq!(added_options("overlay", overlay), vec!["userxattr"]);
        assert!(added_options("proc", "rw,nosuid,uid=5").is_empty());
    }

    #[test]
    fn options_merge_like_findmnt() {
        let mut r = Renumbering::new();
        let e = r.entries(MACHINE).unwrap();
        assert_eq!(e[0].options, "rw,relatime");
        assert_eq!(
            e[1].options,
            "rw,relatime,size=12334432k,nr_inodes=3083608,mode=755"
        );
        assert_eq!(
            e[2].options,
            "rw,relatime,discard,resv_strict,resuid=65534,resgid=65534"
        );
        assert_eq!(e[3].options, "ro,nosuid,nodev,relatime,size=4k,mode=755");
        assert_eq!(merged_options("ro,relatime", "rw"), "ro,relatime");
    }

    #[test]
    fn propagation_column_matches_findmnt() {
        let e = Renumbering::new().entries(PROPAGATION).unwrap();
        let columns: Vec<&str> = e.iter().map(|m| m.propagation.as_str()).collect();
        assert_eq!(
            columns,
            [
                "shared",
                "shared",
                "private,slave",
                "shared,slave",
                "private,unbindable"
            ]
        );
        assert_eq!(propagation(&[]), "private");
        assert_eq!(propagation(&[OptionalField::PropagateFrom(4)]), "private");
    }

    #[test]
    fn octal_escapes_are_decoded() {
        let e = Renumbering::new().entries(PROPAGATION).unwrap();
        assert_eq!(e[4].target, "/tmp/mi_fx/with space");
        assert_eq!(unescape("a\\011b\\012c\\134d"), "a\tb\nc\\d");
        assert_eq!(unescape("no\\escape\\9"), "no\\escape\\9");
        assert_eq!(unescape("end\\04"), "end\\04");
    }

    #[test]
    fn peer_groups_are_renumbered_in_order_of_appearance() {
        let e = Renumbering::new().entries(PROPAGATION).unwrap();
        let groups: Vec<_> = e.iter().map(|m| (m.shared, m.master)).collect();
        assert_eq!(
            groups,
            [
                (Some(1), None),
                (Some(2), None),
                (None, Some(2)),
                (Some(3), Some(2)),
                (None, None)
            ]
        );
    }

    #[test]
    fn renumbering_is_shared_across_views_of_one_run() {
        let mut run = Renumbering::new();
        let host = run.entries(SEED_HOST).unwrap();
        let container = run
            .entries("200 199 0:45 / /tmp rw,relatime master:187 - tmpfs none rw\n")
            .unwrap();
        assert_eq!(host[0].shared, Some(1));
        assert_eq!(host[1].shared, Some(2));
        assert_eq!(container[0].master, Some(2));
        assert_eq!(container[0].propagation, "private,slave");
    }

    #[test]
    fn the_seed_leak_reads_like_mount_l() {
        let e = Renumbering::new().entries(SEED_HOST).unwrap();
        let tmp = &e[1];
        assert_eq!(
            (
                tmp.source.as_str(),
                tmp.target.as_str(),
                tmp.fstype.as_str(),
                tmp.options.as_str()
            ),
            ("none", "/tmp", "tmpfs", "rw,relatime")
        );
        assert_eq!(tmp.parent, e[0].id);
    }

    #[test]
    fn bind_of_a_subdirectory_keeps_its_root() {
        let raw = parse_line("70 61 0:45 /layers/A /merged rw,relatime - tmpfs lab rw").unwrap();
        assert_eq!(raw.root, "/layers/A");
        assert_eq!(raw.target, "/merged");
    }

    #[test]
    fn unknown_optional_tag_is_an_error_with_its_line() {
        let text = format!("{MACHINE}99 27 0:50 / /x rw shared:1 frobbed:2 - tmpfs none rw\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.message.contains("frobbed:2"), "{}", err.message);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for (line, words) in [
            ("22 27 0:21 / /proc rw,relatime proc proc rw", "separator"),
            ("x 27 0:21 / /proc rw - proc proc rw", "mount id"),
            ("22 27 021 / /proc rw - proc proc rw", "major:minor"),
            (
                "22 27 0:21 / /proc rw shared:x - proc proc rw",
                "peer group",
            ),
            ("22 27 0:21 / /proc rw - proc", "source"),
            ("22 27 0:21 / - proc proc rw", "mount point"),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(words), "{line}: {err}");
        }
    }

    #[test]
    fn blank_lines_are_skipped_and_line_numbers_kept() {
        let err = parse("\n22 27 0:21 / /proc rw - proc proc rw\n\nbad\n").unwrap_err();
        assert_eq!(err.line, 4);
    }
}
