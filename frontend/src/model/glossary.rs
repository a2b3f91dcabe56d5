//! Terms a newcomer meets in the lessons, each with a one-line meaning, and the text cut so the
//! first use of each term can open that meaning.

/// (term as written in the text, lower case; what it means).
const TERMS: [(&str, &str); 14] = [
    ("mount namespace", "A process's own copy of the mount table: mounts made in it change what this process (and its children) see."),
    ("peer group", "Mounts that share mount events: a mount made under one member is replayed under every other member."),
    ("propagation", "Whether mount events travel between copies of a mount: shared (both ways), slave (from the master only), private (never)."),
    ("shared:", "shared:N means the mount is in peer group N: mounts under it are replayed in every other mount of group N."),
    ("master:", "master:N means the mount receives mount events from peer group N but sends none back (a slave)."),
    ("tmpfs", "A file system kept in memory: mounted on a directory, it starts empty and covers what was there."),
    ("overlay", "overlayfs: several directories (layers) seen as one; the upper (writable) layer wins over the lower ones."),
    ("copied up", "copy-up: before a lower layer's file is changed, overlayfs copies it into the writable layer; the lower file stays as it was."),
    ("whiteout", "A marker in the writable layer (a 0:0 character device) that hides a file deleted from a lower layer."),
    ("opaque", "A directory marked opaque hides everything lower layers hold at that path: it was deleted and made anew."),
    ("chroot", "Changes where path lookups start for one process: / becomes the given directory. The old root is still reachable."),
    ("pivot_root", "Swaps the whole mount namespace's root for a new one, so the old root can be unmounted: nothing is left to climb back to."),
    ("pt_interp", "The header of a dynamically linked program that names its loader (e.g. /lib64/ld-linux-x86-64.so.2)."),
    ("loader", "The dynamic loader (ld-linux) that starts a dynamically linked program; without it the kernel reports ENOENT."),
];

/// A piece of text: plain, or a term's first use with its meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    Term {
        text: &'a str,
        key: &'static str,
        meaning: &'static str,
    },
}

/// `text` cut at the first use of each term (case-insensitive), terms in `seen` skipped; every
/// term marked is added to `seen`.
pub fn pieces<'a>(text: &'a str, seen: &mut Vec<&'static str>) -> Vec<Piece<'a>> {
    let lower = text.to_ascii_lowercase();
    let mut hits: Vec<(usize, usize, &'static str, &'static str)> = TERMS
        .iter()
        .filter(|(term, _)| !seen.contains(term))
        .filter_map(|(term, meaning)| {
            let at = find_word(&lower, term)?;
            Some((at, at + term.len(), *term, *meaning))
        })
        .collect();
    hits.sort_by_key(|h| h.0);
    let mut out = Vec::new();
    let mut pos = 0;
    for (start, end, key, meaning) in hits {
        if start < pos {
            continue;
        }
        out.push(Piece::Text(&text[pos..start]));
        out.push(Piece::Term {
            text: &text[start..end],
            key,
            meaning,
        });
        seen.push(key);
        pos = end;
    }
    out.push(Piece::Text(&text[pos..]));
    out.retain(|p| !matches!(p, Piece::Text("")));
    out
}

/// The first match of `term` that starts a word (so "overlay" is not found in "overlayfs's"
/// middle, but "shared:" is found in "shared:1").
fn find_word(lower: &str, term: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(term) {
        let at = from + i;
        let before_ok = lower[..at]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '-');
        let after = lower[at + term.len()..].chars().next();
        let after_ok =
            term.ends_with(':') || after.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + term.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str, seen: &mut Vec<&'static str>) -> Vec<String> {
        pieces(text, seen)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Term { text, .. } => Some(text.to_string()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn each_term_is_marked_once_at_its_first_use() {
        let mut seen = Vec::new();
        let text = "A whiteout hides; a Whiteout again; shared:1 and master:1 in a peer group.";
        assert_eq!(
            terms(text, &mut seen),
            vec!["whiteout", "shared:", "master:", "peer group"]
        );
        assert!(
            terms("one more whiteout", &mut seen).is_empty(),
            "already explained"
        );
        let all: String = pieces(text, &mut Vec::new())
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Term { text: t, .. } => *t,
            })
            .collect();
        assert_eq!(all, text, "nothing lost or doubled");
    }

    #[test]
    fn terms_match_whole_words_only() {
        assert!(terms("chrooted or pivot_rooted", &mut Vec::new()).is_empty());
        assert_eq!(
            terms("after pivot_root, (chroot)", &mut Vec::new()),
            vec!["pivot_root", "chroot"]
        );
    }
}
