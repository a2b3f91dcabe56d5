//! The composer form's schema and edits: which fields each step op and entry type has, and how an
//! edit at a JSON path changes the spec document. The form edits JSON, so a half-typed value still
//! reaches the validator and its error shows at the field.

use serde_json::{json, Map, Value};

/// How a field is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Optional text: empty removes the key (the default applies).
    OptText,
    LongText,
    /// `host` or a container named by an earlier step.
    Actor,
    Bool,
    /// Permission bits, edited in octal.
    Mode,
    /// Optional unsigned number.
    Number,
    /// Strings separated by spaces (`argv`, `programs`, `lowers`...).
    List,
    Choice(&'static [&'static str]),
    Multi(&'static [&'static str]),
}

pub const OPS: &[&str] = &[
    "container",
    "tmpfs",
    "bind",
    "move",
    "overlay",
    "proc",
    "remount_readonly",
    "umount",
    "make_propagation",
    "build_rootfs",
    "chroot",
    "pivot_root",
    "write",
    "delete",
    "mkdir",
    "run",
    "wait",
    "escape",
    "exit",
    "commit",
    "snapshot",
];
pub const PROPAGATIONS: &[&str] = &["shared", "private", "slave", "unbindable"];
/// A bind's propagation after mounting: `unchanged` leaves the key out.
const BIND_PROPAGATIONS: &[&str] = &["unchanged", "shared", "private", "slave", "unbindable"];
const OVERLAY_OPTIONS: &[&str] = &[
    "volatile",
    "index",
    "metacopy",
    "redirect_dir",
    "nfs_export",
];
pub const ENTRY_TYPES: &[&str] = &["file", "dir", "symlink", "whiteout"];
const NAMESPACES: &[&str] = &["pid", "uts", "ipc", "net", "user"];
const FLAGS: &[&str] = &["readonly", "nosuid", "nodev", "noexec", "noatime"];

/// The fields of a step, in the order the form shows them (`op` itself is the card's title).
pub fn step_fields(op: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match op {
        "container" => &[
            ("name", Text),
            ("namespaces", Multi(NAMESPACES)),
            ("image", OptText),
        ],
        "tmpfs" => &[
            ("in", Actor),
            ("target", Text),
            ("source", OptText),
            ("size", Number),
            ("mode", Mode),
            ("flags", Multi(FLAGS)),
        ],
        "bind" => &[
            ("in", Actor),
            ("source", Text),
            ("target", Text),
            ("readonly", Bool),
            ("recursive", Bool),
            ("propagation", Choice(BIND_PROPAGATIONS)),
        ],
        "move" => &[("in", Actor), ("source", Text), ("target", Text)],
        "overlay" => &[
            ("in", Actor),
            ("target", Text),
            ("lowers", List),
            ("upper", OptText),
            ("options", Multi(OVERLAY_OPTIONS)),
        ],
        "proc" | "remount_readonly" => &[("in", Actor), ("target", Text)],
        "umount" => &[("in", Actor), ("target", Text), ("detach", Bool)],
        "make_propagation" => &[
            ("in", Actor),
            ("target", Text),
            ("propagation", Choice(PROPAGATIONS)),
            ("recursive", Bool),
        ],
        "build_rootfs" => &[
            ("in", Actor),
            ("dir", Text),
            ("programs", List),
            ("skip_libraries", Bool),
        ],
        "chroot" => &[("in", Actor), ("dir", Text)],
        "pivot_root" => &[("in", Actor), ("new_root", Text)],
        "write" => &[
            ("in", Actor),
            ("path", Text),
            ("content", LongText),
            ("mode", Mode),
        ],
        "delete" => &[("in", Actor), ("path", Text)],
        "mkdir" => &[("in", Actor), ("path", Text), ("mode", Mode)],
        "run" => &[("in", Actor), ("argv", List), ("background", Bool)],
        "wait" => &[("in", Actor), ("timeout_ms", Number)],
        "escape" | "exit" => &[("in", Actor)],
        "commit" => &[("container", Text), ("name", Text), ("message", OptText)],
        "snapshot" => &[
            ("label", Text),
            ("views", List),
            ("paths", List),
            ("depth", Number),
            ("layers", Bool),
        ],
        _ => &[],
    }
}

/// The fields of a file-system entry of a given `type`.
pub fn entry_fields(kind: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match kind {
        "file" => &[("path", Text), ("content", LongText), ("mode", Mode)],
        "dir" => &[("path", Text), ("mode", Mode), ("opaque", Bool)],
        "symlink" => &[("path", Text), ("target", Text)],
        _ => &[("path", Text)],
    }
}

/// A new step of `op`, filled so that it is valid in most specs.
pub fn step_template(op: &str, actor: &str) -> Value {
    let mut step = match op {
        "container" => json!({ "name": "c1" }),
        "tmpfs" | "proc" | "remount_readonly" | "umount" => json!({ "target": "/tmp" }),
        "bind" => json!({ "source": "/layers/A", "target": "/mnt" }),
        "move" => json!({ "source": "/mnt", "target": "/srv" }),
        "overlay" => json!({ "target": "/mnt", "lowers": ["A"] }),
        "make_propagation" => json!({ "target": "/", "propagation": "private" }),
        "build_rootfs" => json!({ "dir": "/rootfs", "programs": ["bash", "ls"] }),
        "chroot" => json!({ "dir": "/rootfs" }),
        "pivot_root" => json!({ "new_root": "/rootfs" }),
        "write" | "delete" | "mkdir" => json!({ "path": "/tmp/file" }),
        "run" => json!({ "argv": ["ls", "/"] }),
        "snapshot" => json!({ "label": "snapshot", "paths": ["/"] }),
        "commit" => json!({ "container": "c1", "name": "my-image:1" }),
        _ => json!({}),
    };
    if step_fields(op).iter().any(|(k, _)| *k == "in") {
        step["in"] = json!(actor);
    }
    let mut out = Map::new();
    out.insert("op".into(), json!(op));
    out.extend(step.as_object().cloned().unwrap_or_default());
    Value::Object(out)
}

pub fn entry_template(kind: &str, path: &str) -> Value {
    json!({ "type": kind, "path": path })
}

/// One segment of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `steps[2].argv` -> `[Key(steps), Index(2), Key(argv)]`.
pub fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        for index in rest.split('[').filter_map(|i| i.strip_suffix(']')) {
            if let Ok(i) = index.parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

pub fn get<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    segments(path).iter().try_fold(doc, |v, s| match s {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

/// Set (or with `None`, remove) the value at `path`, creating objects and lists on the way.
pub fn set(doc: &mut Value, path: &str, value: Option<Value>) {
    let segs = segments(path);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut node = doc;
    for (i, seg) in parents.iter().enumerate() {
        let next_is_index = matches!(segs[i + 1], Seg::Index(_));
        node = match seg {
            Seg::Key(k) => {
                if !node.is_object() {
                    *node = json!({});
                }
                node.as_object_mut()
                    .expect("object")
                    .entry(k.clone())
                    .or_insert_with(|| if next_is_index { json!([]) } else { json!({}) })
            }
            Seg::Index(idx) => match node.get_mut(*idx) {
                Some(n) => n,
                None => return,
            },
        };
    }
    match (last, value) {
        (Seg::Key(k), Some(v)) => {
            if !node.is_object() {
                *node = json!({});
            }
            node.as_object_mut().expect("object").insert(k.clone(), v);
        }
        (Seg::Key(k), None) => {
            if let Some(o) = node.as_object_mut() {
                o.remove(k);
            }
        }
        (Seg::Index(i), Some(v)) => {
            if let Some(slot) = node.get_mut(*i) {
                *slot = v;
            }
        }
        (Seg::Index(i), None) => {
            if let Some(list) = node.as_array_mut().filter(|l| *i < l.len()) {
                list.remove(*i);
            }
        }
    }
}

/// Append to the list at `path` (created when missing).
pub fn push(doc: &mut Value, path: &str, item: Value) {
    let mut list = get(doc, path)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.push(item);
    set(doc, path, Some(Value::Array(list)));
}

/// Swap item `i` of the list at `path` with its neighbour `i + 1`.
pub fn swap_down(doc: &mut Value, path: &str, i: usize) {
    if let Some(list) = get(doc, path).and_then(Value::as_array).cloned() {
        if i + 1 < list.len() {
            let mut list = list;
            list.swap(i, i + 1);
            set(doc, path, Some(Value::Array(list)));
        }
    }
}

/// How a field's current value reads in its input.
pub fn display(kind: Kind, value: Option<&Value>) -> String {
    match (kind, value) {
        (_, None | Some(Value::Null)) => String::new(),
        (Kind::Mode, Some(Value::Number(n))) => {
            n.as_u64().map(|m| format!("{m:o}")).unwrap_or_default()
        }
        (Kind::List, Some(Value::Array(items))) => items
            .iter()
            .map(|i| i.as_str().map(quote_word).unwrap_or_else(|| i.to_string()))
            .collect::<Vec<_>>()
            .join(" "),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(other)) => other.to_string(),
    }
}

/// The JSON value for what was typed; `None` removes the key. Text that is not a number where
/// one is expected is kept as a string, so the validator names the field.
pub fn parse_input(kind: Kind, text: &str) -> Option<Value> {
    let trimmed = text.trim();
    match kind {
        Kind::Choice(_) if text == "unchanged" => None,
        Kind::Text | Kind::LongText | Kind::Actor | Kind::Choice(_) => Some(json!(text)),
        Kind::OptText if trimmed.is_empty() => None,
        Kind::OptText => Some(json!(text)),
        Kind::Mode | Kind::Number if trimmed.is_empty() => None,
        Kind::Mode => Some(
            u32::from_str_radix(trimmed.trim_start_matches("0o"), 8)
                .map(|m| json!(m))
                .unwrap_or_else(|_| json!(text)),
        ),
        Kind::Number => Some(
            trimmed
                .parse::<u64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| json!(text)),
        ),
        Kind::List => Some(json!(split_words(trimmed))),
        Kind::Bool => Some(json!(trimmed == "true")),
        Kind::Multi(_) => Some(json!(trimmed.split_whitespace().collect::<Vec<_>>())),
    }
}

/// A list item as typed in the form: quoted when it holds a space or a quote, so
/// `bash -c 'while :; do :; done'` survives the round trip through the text field.
fn quote_word(word: &str) -> String {
    if !word.is_empty() && !word.contains([' ', '\'', '"', '\t']) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Split like a shell does for words: spaces separate, single and double quotes group, and
/// `'\''` (close, escaped quote, reopen) is a quote inside single quotes.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match (quote, c) {
            (None, _) if escaped => {
                word.get_or_insert_with(String::new).push(c);
                escaped = false;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\\') => escaped = true,
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Containers named by steps before `index`: who may act in that step.
pub fn actors_before(doc: &Value, index: usize) -> Vec<String> {
    let mut out = vec!["host".to_string()];
    let steps = doc
        .get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for step in steps.iter().take(index) {
        if step.get("op").and_then(Value::as_str) == Some("container") {
            if let Some(name) = step.get("name").and_then(Value::as_str) {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::spec::Step;

    #[test]
    fn every_op_template_is_a_step() {
        for op in OPS {
            let template = step_template(op, "host");
            let step: Step =
                serde_json::from_value(template.clone()).unwrap_or_else(|e| panic!("{op}: {e}"));
            assert_eq!(step.op_name(), *op);
            for (key, _) in step_fields(op) {
                assert!(!key.is_empty());
            }
        }
    }

    #[test]
    fn set_get_and_remove_by_path() {
        let mut doc = json!({ "steps": [ { "op": "run", "argv": ["ls"] } ] });
        set(
            &mut doc,
            "steps[0].argv",
            parse_input(Kind::List, "ls  -l /"),
        );
        assert_eq!(get(&doc, "steps[0].argv"), Some(&json!(["ls", "-l", "/"])));
        set(&mut doc, "host.files", Some(json!([])));
        push(&mut doc, "host.files", entry_template("file", "/tmp/a"));
        assert_eq!(get(&doc, "host.files[0].path"), Some(&json!("/tmp/a")));
        set(&mut doc, "steps[0]", None);
        assert_eq!(doc["steps"], json!([]));
    }

    #[test]
    fn modes_edit_in_octal_and_bad_numbers_reach_the_validator() {
        assert_eq!(display(Kind::Mode, Some(&json!(420))), "644");
        assert_eq!(parse_input(Kind::Mode, "755"), Some(json!(493)));
        assert_eq!(parse_input(Kind::Mode, "9x"), Some(json!("9x")));
        assert_eq!(parse_input(Kind::Number, ""), None);
        assert_eq!(parse_input(Kind::OptText, " "), None);
        assert_eq!(
            parse_input(Kind::Choice(BIND_PROPAGATIONS), "unchanged"),
            None
        );
        assert_eq!(
            parse_input(Kind::Choice(BIND_PROPAGATIONS), "slave"),
            Some(json!("slave"))
        );
    }

    #[test]
    fn steps_reorder_and_actors_follow_containers() {
        let mut doc = json!({ "steps": [ step_template("container", "host"), step_template("tmpfs", "c1") ] });
        assert_eq!(actors_before(&doc, 1), vec!["host", "c1"]);
        swap_down(&mut doc, "steps", 0);
        assert_eq!(doc["steps"][0]["op"], "tmpfs");
        assert_eq!(actors_before(&doc, 1), vec!["host"]);
    }

    #[test]
    fn list_items_with_spaces_survive_the_text_field() {
        let argv = json!(["bash", "-c", "while :; do :; done", "it's", ""]);
        let text = display(Kind::List, Some(&argv));
        assert_eq!(text, r#"bash -c 'while :; do :; done' 'it'\''s' ''"#);
        assert_eq!(parse_input(Kind::List, &text), Some(argv));
        assert_eq!(
            parse_input(Kind::List, "ls  -l \"/a b\""),
            Some(json!(["ls", "-l", "/a b"]))
        );
    }

    #[test]
    fn paths_split_into_segments() {
        assert_eq!(
            segments("layers[1].entries[0].path"),
            vec![
                Seg::Key("layers".into()),
                Seg::Index(1),
                Seg::Key("entries".into()),
                Seg::Index(0),
                Seg::Key("path".into())
            ]
        );
    }
}
