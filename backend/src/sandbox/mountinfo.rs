//! Reading `/proc/<pid>/mountinfo` into findmnt-style rows, with peer groups renumbered
//! consistently across a whole run.

use std::collections::HashMap;

use rootlab_shared::result::MountEntry;

/// Maps the kernel's peer group ids to 1, 2, ... in order of first sight.
#[derive(Default)]
pub struct Renumbering {
    map: HashMap<u32, u32>,
}

impl Renumbering {
    pub fn number(&mut self, raw: u32) -> u32 {
        let next = self.map.len() as u32 + 1;
        *self.map.entry(raw).or_insert(next)
    }
}

/// Parse a mountinfo text; malformed lines are skipped.
pub fn parse(text: &str, renumber: &mut Renumbering) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| parse_line(l, renumber))
        .collect()
}

fn parse_line(line: &str, renumber: &mut Renumbering) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let mut f = left.split(' ');
    let id = f.next()?.parse().ok()?;
    let parent = f.next()?.parse().ok()?;
    let _dev = f.next()?;
    let root = unescape(f.next()?);
    let target = unescape(f.next()?);
    let vfs_opts = f.next()?.to_string();
    let (mut shared, mut master, mut unbindable) = (None, None, false);
    for tag in f {
        if let Some(n) = tag.strip_prefix("shared:") {
            shared = n.parse().ok().map(|n| renumber.number(n));
        } else if let Some(n) = tag.strip_prefix("master:") {
            master = n.parse().ok().map(|n| renumber.number(n));
        } else if tag == "unbindable" {
            unbindable = true;
        }
    }
    let mut r = right.splitn(3, ' ');
    let fstype = r.next()?.to_string();
    let source = unescape(r.next()?);
    let super_opts = r.next().unwrap_or("");
    Some(MountEntry {
        id,
        parent,
        target,
        source,
        root,
        fstype,
        options: merge_options(&vfs_opts, super_opts),
        propagation: propagation(shared.is_some(), master.is_some(), unbindable),
        shared,
        master,
    })
}

/// findmnt's PROPAGATION column.
fn propagation(shared: bool, slave: bool, unbindable: bool) -> String {
    let mut s = if shared { "shared" } else { "private" }.to_string();
    if slave {
        s.push_str(",slave");
    }
    if unbindable {
        s.push_str(",unbindable");
    }
    s
}

/// Per-mount options, then per-superblock ones without the repeated rw/ro.
fn merge_options(vfs: &str, sb: &str) -> String {
    let mut opts: Vec<&str> = vfs.split(',').collect();
    for o in sb.split(',') {
        if !o.is_empty() && o != "rw" && o != "ro" && !opts.contains(&o) {
            opts.push(o);
        }
    }
    opts.join(",")
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_propagation_and_renumbers_peer_groups() {
        let text = "30 1 0:27 / / rw,relatime shared:71 - overlay overlay rw,lowerdir=/x\n\
                    41 30 0:40 / /tmp rw,relatime master:71 - tmpfs none rw,size=16k\n\
                    42 30 0:41 / /a\\040b rw shared:5 master:71 - tmpfs t rw\n";
        let mut r = Renumbering::default();
        let rows = parse(text, &mut r);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].propagation.as_str(), rows[0].shared),
            ("shared", Some(1))
        );
        assert_eq!(
            (rows[1].propagation.as_str(), rows[1].master),
            ("private,slave", Some(1))
        );
        assert_eq!(rows[1].options, "rw,relatime,size=16k");
        assert_eq!(rows[2].target, "/a b");
        assert_eq!(
            (rows[2].shared, rows[2].propagation.as_str()),
            (Some(2), "shared,slave")
        );
    }
}
