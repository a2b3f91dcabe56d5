//! Declared entries of a layer or of the lab host, as one tree: no two at one path, nothing
//! below a file, symlink or whiteout (the kernel would refuse, or follow the symlink out of the
//! layer), no file where an earlier entry needs a directory.

use std::collections::HashMap;

use crate::spec::Entry;

/// `(index, message)` for each entry that collides with an earlier one of the same list.
pub(super) fn collisions(list: &[Entry]) -> Vec<(usize, String)> {
    // path -> (index, kind) of the entry declaring it; path -> first entry needing it as a dir.
    let mut declared: HashMap<&str, (usize, &'static str)> = HashMap::new();
    let mut parents: HashMap<&str, usize> = HashMap::new();
    let mut found = Vec::new();
    for (j, entry) in list.iter().enumerate() {
        let path = entry.path().trim_start_matches('/');
        let kind = kind_of(entry);
        if let Some(problem) = problem(path, kind, &declared, &parents) {
            found.push((j, problem));
            continue;
        }
        declared.insert(path, (j, kind));
        for parent in ancestors(path) {
            parents.entry(parent).or_insert(j);
        }
    }
    found
}

fn problem(
    path: &str,
    kind: &str,
    declared: &HashMap<&str, (usize, &'static str)>,
    parents: &HashMap<&str, usize>,
) -> Option<String> {
    if let Some((k, _)) = declared.get(path) {
        return Some(format!(
            "`{path}` is declared twice (entry {k} declares it too)"
        ));
    }
    for parent in ancestors(path) {
        if let Some((k, what)) = declared.get(parent).filter(|(_, w)| *w != "directory") {
            let hint = if *what == "whiteout" {
                "; to replace a directory's contents, declare it as an opaque directory"
            } else {
                ""
            };
            return Some(format!(
                "`{parent}` is a {what} (entry {k}): nothing can be created below it{hint}"
            ));
        }
    }
    match parents.get(path) {
        Some(k) if kind != "directory" => Some(format!(
            "entry {k} is below `{path}`, so `{path}` must be a directory, not a {kind}"
        )),
        _ => None,
    }
}

fn kind_of(entry: &Entry) -> &'static str {
    match entry {
        Entry::File { .. } => "file",
        Entry::Dir { .. } => "directory",
        Entry::Symlink { .. } => "symlink",
        Entry::Whiteout { .. } => "whiteout",
    }
}

/// `a/b/c` -> `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i]).rev()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: &str, path: &str) -> Entry {
        serde_json::from_value(serde_json::json!({ "type": kind, "path": path, "target": "/etc" }))
            .or_else(|_| serde_json::from_value(serde_json::json!({ "type": kind, "path": path })))
            .unwrap()
    }

    fn refused(list: &[Entry]) -> Vec<usize> {
        collisions(list).into_iter().map(|(j, _)| j).collect()
    }

    #[test]
    fn one_path_one_entry() {
        assert_eq!(refused(&[e("file", "a"), e("file", "a")]), [1]);
        assert_eq!(refused(&[e("whiteout", "a"), e("file", "a")]), [1]);
        assert_eq!(refused(&[e("file", "d"), e("dir", "d")]), [1]);
    }

    #[test]
    fn nothing_below_a_file_symlink_or_whiteout() {
        assert_eq!(refused(&[e("symlink", "s"), e("file", "s/pwned")]), [1]);
        assert_eq!(refused(&[e("whiteout", "d"), e("file", "d/k")]), [1]);
        assert_eq!(refused(&[e("file", "f"), e("dir", "f/x/y")]), [1]);
        let why = collisions(&[e("whiteout", "d"), e("file", "d/k")])
            .remove(0)
            .1;
        assert!(why.contains("opaque"), "{why}");
    }

    #[test]
    fn no_file_where_a_directory_is_needed() {
        assert_eq!(refused(&[e("file", "d/k"), e("whiteout", "d")]), [1]);
        assert_eq!(refused(&[e("file", "d/k"), e("file", "d")]), [1]);
    }

    #[test]
    fn a_tree_of_directories_and_files_is_fine() {
        let ok = [
            e("dir", "d"),
            e("file", "d/a"),
            e("dir", "d/e"),
            e("file", "d/e/b"),
        ];
        assert!(refused(&ok).is_empty());
        assert!(refused(&[e("file", "/etc/x"), e("file", "/etc/y")]).is_empty());
    }
}
