//! Rules for single values: paths, names, labels, modes, symlink targets.

use crate::limits::{MAX_NAME_BYTES, MAX_PATH_BYTES};

/// Longest file name component the kernel accepts (NAME_MAX).
const MAX_COMPONENT_BYTES: usize = 255;
/// Highest permission bits value (setuid, setgid, sticky and rwx for all).
const MAX_MODE: u32 = 0o7777;

/// An absolute, normalized path: `/`, or `/a/b` without empty, `.` or `..` components.
pub fn abs_path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!(
            "`{}` must be an absolute path (start with `/`)",
            shown(path)
        ));
    }
    if path == "/" {
        return None;
    }
    path_body_problem(&path[1..], path.len())
}

/// A relative path inside a layer: `a` or `etc/app.conf`.
pub fn rel_path_problem(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(format!(
            "`{}` must be relative to the layer's root (no leading `/`)",
            shown(path)
        ));
    }
    path_body_problem(path, path.len())
}

/// `body` is the path without its leading `/`; `len` the length of the whole path.
pub(super) fn path_body_problem(body: &str, len: usize) -> Option<String> {
    if len > MAX_PATH_BYTES {
        return Some(format!("path longer than {MAX_PATH_BYTES} bytes"));
    }
    if body.is_empty() {
        return Some("empty path".to_string());
    }
    body.split('/').find_map(component_problem)
}

pub(super) fn component_problem(component: &str) -> Option<String> {
    match component {
        "" => Some("empty path component (`//` or a trailing `/`)".to_string()),
        "." => Some("`.` path component; write the path without it".to_string()),
        ".." => Some("`..` path component: paths may not climb up".to_string()),
        c if c.len() > MAX_COMPONENT_BYTES => Some(format!(
            "a path component is longer than {MAX_COMPONENT_BYTES} bytes"
        )),
        c => control_char_problem(c),
    }
}

pub(super) fn control_char_problem(text: &str) -> Option<String> {
    if text.contains('\0') {
        Some("contains a NUL byte".to_string())
    } else if text.chars().any(char::is_control) {
        Some("contains a control character (newline, tab, escape...)".to_string())
    } else {
        None
    }
}

pub(super) fn link_target_problem(target: &str) -> Option<String> {
    if target.is_empty() {
        Some("a symlink needs a target".to_string())
    } else if target.len() > MAX_PATH_BYTES {
        Some(format!("longer than {MAX_PATH_BYTES} bytes"))
    } else {
        control_char_problem(target)
    }
}

/// Layer and container names: `[A-Za-z0-9_-]{1,32}`.
pub fn name_problem(name: &str) -> Option<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.chars().all(ok_char) {
        Some(format!(
            "`{}` is not a valid name: use 1 to {MAX_NAME_BYTES} letters, digits, `_` or `-`",
            shown(name)
        ))
    } else {
        None
    }
}

pub(super) fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        Some("a snapshot needs a label".to_string())
    } else if label.trim().is_empty() {
        Some("a label of only spaces: give the snapshot a name you can see".to_string())
    } else if label.len() > MAX_NAME_BYTES {
        Some(format!("longer than {MAX_NAME_BYTES} bytes"))
    } else {
        control_char_problem(label)
    }
}

pub(super) fn mode_problem(mode: u32) -> Option<String> {
    (mode > MAX_MODE).then(|| format!("mode {mode:#o} is above 0o7777 (permission bits only)"))
}

/// A hostile string, cut short and with control characters escaped, fit for an error message.
pub(super) fn shown(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    let escaped = short.escape_debug().to_string();
    if short.len() < text.len() {
        format!("{escaped}...")
    } else {
        escaped
    }
}
