//! Validation of an experiment spec: every path, name, count and size is hostile until checked here,
//! and each problem is reported with the JSON path of the field that holds it.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::error::Category;

use crate::limits::{
    Limits, MAX_ARGV, MAX_ARG_BYTES, MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PROGRAMS,
};
use crate::spec::{Entry, HostSpec, Layer, Spec, Step, HOST, SPEC_VERSION};

/// Longest file name component the kernel accepts (NAME_MAX).
const MAX_COMPONENT_BYTES: usize = 255;
/// Longest title, in bytes.
const MAX_TITLE_BYTES: usize = 256;
/// Most paths one snapshot may walk (each walk costs up to `max_tree_entries`).
const MAX_SNAPSHOT_PATHS: usize = 8;
/// Highest permission bits value (setuid, setgid, sticky and rwx for all).
const MAX_MODE: u32 = 0o7777;

/// One problem with a spec, tied to the field that holds it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field, e.g. `steps[3].target`; empty for the document as a whole.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Parse a JSON spec and validate it. A syntax or type error is reported alone (nothing else
/// can be checked); a well-formed spec reports every rule it breaks.
pub fn parse_spec(json: &str, limits: &Limits) -> Result<Spec, Vec<FieldError>> {
    let spec = deserialize_spec(json).map_err(|e| vec![e])?;
    validate(&spec, limits)?;
    Ok(spec)
}

fn deserialize_spec(json: &str) -> Result<Spec, FieldError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let raw = e.inner().to_string();
        let message = sanitized(&raw);
        let field = match e.inner().classify() {
            Category::Syntax | Category::Eof | Category::Io => String::new(),
            Category::Data => refine_field(json, &path_string(e.path()), &raw),
        };
        FieldError::new(field, message)
    })?;
    de.end().map_err(|e| FieldError::new("", e.to_string()))?;
    Ok(spec)
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." {
        String::new()
    } else {
        path
    }
}

/// Most keys of an object probed to find the field at fault (spec objects have at most 7).
const MAX_PROBED_KEYS: usize = 16;

/// The keys that name the variant of a step (`op`) and of an entry (`type`).
const TAGS: [&str; 2] = ["op", "type"];

/// What removing one key of the failing object did to the parse.
#[derive(PartialEq)]
enum Removal {
    /// The object parses now (or the first error moved elsewhere): the key was the culprit.
    Fixed,
    /// The only complaint is that this key is now missing: the culprit if nothing else is.
    MissingItself,
    Unrelated,
}

/// serde reads internally tagged enums (steps, entries) through a buffer that hides the field
/// path, so an error inside a step is reported at `steps[3]`. Find the culprit field: the one
/// whose removal makes the object parse (or complain only that this very field is missing).
fn refine_field(json: &str, path: &str, message: &str) -> String {
    if let Some(name) = quoted_after(message, "unknown field `") {
        return if path.ends_with(&name) {
            path.to_string()
        } else {
            join_field(path, &name)
        };
    }
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return path.to_string();
    };
    let Some(serde_json::Value::Object(object)) = lookup(&doc, path) else {
        return path.to_string();
    };
    if message.starts_with("unknown variant") {
        let tag = TAGS.into_iter().find(|t| object.contains_key(*t));
        return tag.map_or(path.to_string(), |t| join_field(path, t));
    }
    // Each probe re-parses the document: only worth it for objects of spec size (a hostile
    // object with thousands of keys would make this quadratic).
    if object.len() > MAX_PROBED_KEYS {
        return path.to_string();
    }
    let removals: Vec<(&String, Removal)> = object
        .keys()
        .map(|k| (k, try_without(&doc, path, k)))
        .collect();
    [Removal::Fixed, Removal::MissingItself]
        .iter()
        .find_map(|want| removals.iter().find(|(_, r)| r == want))
        .map_or(path.to_string(), |(key, _)| join_field(path, key))
}

fn try_without(doc: &serde_json::Value, path: &str, key: &str) -> Removal {
    let mut trimmed = doc.clone();
    if let Some(serde_json::Value::Object(o)) = lookup_mut(&mut trimmed, path) {
        o.remove(key);
    }
    match serde_path_to_error::deserialize::<_, Spec>(trimmed) {
        Ok(_) => Removal::Fixed,
        Err(e) if path_string(e.path()) != path => Removal::Fixed,
        // A missing tag (`op`, `type`) says nothing about the field at fault.
        Err(_) if TAGS.contains(&key) => Removal::Unrelated,
        Err(e) if e.inner().to_string() == format!("missing field `{key}`") => {
            Removal::MissingItself
        }
        Err(_) => Removal::Unrelated,
    }
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn join_field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Split `steps[3].target` into `steps`, `[3]`, `target` segments.
fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) {
            if let Ok(i) = rest[open + 1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn lookup<'v>(doc: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path_segments(path)
        .into_iter()
        .try_fold(doc, |v, seg| match seg {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(i),
        })
}

fn lookup_mut<'v>(doc: &'v mut serde_json::Value, path: &str) -> Option<&'v mut serde_json::Value> {
    path_segments(path)
        .into_iter()
        .try_fold(doc, |v, seg| match seg {
            Segment::Key(k) => v.get_mut(k),
            Segment::Index(i) => v.get_mut(i),
        })
}

/// Check every rule; return all problems found, in field order.
pub fn validate(spec: &Spec, limits: &Limits) -> Result<(), Vec<FieldError>> {
    let mut check = Checker {
        limits,
        errors: Vec::new(),
    };
    check.header(spec);
    check.host(&spec.host);
    check.layers(&spec.layers);
    check.counts(spec);
    let layer_names = spec.layers.iter().map(|l| l.name.as_str()).collect();
    let mut timeline = Timeline::new(layer_names);
    for (i, step) in spec.steps.iter().enumerate() {
        timeline.step(&mut check, &format!("steps[{i}]"), step);
    }
    if check.errors.is_empty() {
        Ok(())
    } else {
        Err(check.errors)
    }
}

/// Accumulates problems; knows the limits.
struct Checker<'a> {
    limits: &'a Limits,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn found(&mut self, field: &str, problem: Option<String>) {
        if let Some(message) = problem {
            self.err(field, message);
        }
    }

    fn header(&mut self, spec: &Spec) {
        if spec.version != SPEC_VERSION {
            let msg = format!(
                "unsupported spec version {}; this server reads version {SPEC_VERSION}",
                spec.version
            );
            self.err("version", msg);
        }
        if spec.title.len() > MAX_TITLE_BYTES {
            self.err("title", format!("longer than {MAX_TITLE_BYTES} bytes"));
        }
        self.found("title", control_char_problem(&spec.title));
        if spec.steps.is_empty() {
            self.err("steps", "an experiment needs at least one step");
        }
    }

    fn host(&mut self, host: &HostSpec) {
        for (i, entry) in host.files.iter().enumerate() {
            let field = format!("host.files[{i}]");
            self.found(&format!("{field}.path"), abs_path_problem(entry.path()));
            self.entry_body(&field, entry);
            match entry {
                Entry::Whiteout { .. } => {
                    self.err(format!("{field}.type"), "whiteouts exist only in layers")
                }
                Entry::Dir { opaque: true, .. } => self.err(
                    format!("{field}.opaque"),
                    "opaque directories exist only in layers",
                ),
                _ => {}
            }
        }
    }

    fn layers(&mut self, layers: &[Layer]) {
        let mut seen = HashSet::new();
        for (i, layer) in layers.iter().enumerate() {
            let field = format!("layers[{i}]");
            self.found(&format!("{field}.name"), name_problem(&layer.name));
            if !seen.insert(layer.name.as_str()) {
                self.err(
                    format!("{field}.name"),
                    format!("layer `{}` is declared twice", layer.name),
                );
            }
            for (j, entry) in layer.entries.iter().enumerate() {
                let field = format!("{field}.entries[{j}]");
                self.found(&format!("{field}.path"), rel_path_problem(entry.path()));
                self.entry_body(&field, entry);
            }
        }
    }

    /// Content size, mode and symlink target of a declared entry.
    fn entry_body(&mut self, field: &str, entry: &Entry) {
        match entry {
            Entry::File { content, mode, .. } => {
                self.content(&format!("{field}.content"), content);
                self.found(&format!("{field}.mode"), mode_problem(*mode));
            }
            Entry::Dir { mode, .. } => self.found(&format!("{field}.mode"), mode_problem(*mode)),
            Entry::Symlink { target, .. } => {
                self.found(&format!("{field}.target"), link_target_problem(target))
            }
            Entry::Whiteout { .. } => {}
        }
    }

    fn content(&mut self, field: &str, content: &str) {
        if content.len() > self.limits.max_file_bytes {
            let msg = format!(
                "{} bytes of content; the limit is {}",
                content.len(),
                self.limits.max_file_bytes
            );
            self.err(field, msg);
        }
    }

    fn counts(&mut self, spec: &Spec) {
        let l = self.limits;
        let files =
            spec.host.files.len() + spec.layers.iter().map(|l| l.entries.len()).sum::<usize>();
        let mounts = spec.steps.iter().filter(|s| is_mount(s)).count();
        let containers = spec
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Container { .. }))
            .count();
        self.count("steps", "steps", spec.steps.len(), l.max_steps);
        self.count(
            "host.files",
            "host files and layer entries",
            files,
            l.max_files,
        );
        self.count("layers", "layers", spec.layers.len(), l.max_layers);
        self.count(
            "steps",
            "mounting steps (tmpfs, bind, overlay, proc)",
            mounts,
            l.max_mounts,
        );
        self.count("steps", "containers", containers, l.max_containers);
    }

    fn count(&mut self, field: &str, what: &str, n: usize, max: usize) {
        if n > max {
            self.err(field, format!("{n} {what}; the limit is {max}"));
        }
    }
}

fn is_mount(step: &Step) -> bool {
    matches!(
        step,
        Step::Tmpfs { .. } | Step::Bind { .. } | Step::Overlay { .. } | Step::Proc { .. }
    )
}

/// Replays the steps in order to know which containers are alive at each step.
struct Timeline<'s> {
    layers: HashSet<&'s str>,
    live: Vec<&'s str>,
    labels: HashSet<&'s str>,
}

impl<'s> Timeline<'s> {
    fn new(layers: HashSet<&'s str>) -> Self {
        Timeline {
            layers,
            live: Vec::new(),
            labels: HashSet::new(),
        }
    }

    fn is_live(&self, actor: &str) -> bool {
        actor == HOST || self.live.contains(&actor)
    }

    fn step(&mut self, c: &mut Checker, field: &str, step: &'s Step) {
        if let Some(actor) = step.actor() {
            self.actor(c, field, step, actor);
        }
        let f = |name: &str| format!("{field}.{name}");
        match step {
            Step::Container { name, namespaces } => {
                self.container(c, &f("name"), name);
                let distinct: HashSet<_> = namespaces.iter().collect();
                if distinct.len() != namespaces.len() {
                    c.err(f("namespaces"), "a namespace is listed twice");
                }
            }
            Step::Tmpfs {
                target,
                source,
                size,
                mode,
                ..
            } => {
                c.found(&f("target"), abs_path_problem(target));
                tmpfs_options(c, field, source.as_deref(), *size, *mode);
            }
            Step::Bind { source, target, .. } => {
                c.found(&f("source"), abs_path_problem(source));
                c.found(&f("target"), abs_path_problem(target));
            }
            Step::Overlay {
                target,
                lowers,
                upper,
                ..
            } => {
                c.found(&f("target"), abs_path_problem(target));
                self.overlay_layers(c, field, lowers, upper.as_deref());
            }
            Step::Proc { target, .. }
            | Step::RemountReadonly { target, .. }
            | Step::Umount { target, .. }
            | Step::MakePropagation { target, .. } => {
                c.found(&f("target"), abs_path_problem(target))
            }
            Step::BuildRootfs { dir, programs, .. } => {
                c.found(&f("dir"), abs_path_problem(dir));
                programs_problems(c, &f("programs"), programs);
            }
            Step::Chroot { dir, .. } => c.found(&f("dir"), abs_path_problem(dir)),
            Step::PivotRoot { new_root, .. } => c.found(&f("new_root"), abs_path_problem(new_root)),
            Step::Write {
                path,
                content,
                mode,
                ..
            } => {
                c.found(&f("path"), abs_path_problem(path));
                c.content(&f("content"), content);
                c.found(&f("mode"), mode_problem(*mode));
            }
            Step::Delete { path, .. } => c.found(&f("path"), abs_path_problem(path)),
            Step::Mkdir { path, mode, .. } => {
                c.found(&f("path"), abs_path_problem(path));
                c.found(&f("mode"), mode_problem(*mode));
            }
            Step::Run { argv, .. } => argv_problems(c, &f("argv"), argv),
            Step::Escape { .. } => {}
            Step::Exit { actor } => self.live.retain(|n| n != actor),
            Step::Snapshot {
                label,
                views,
                paths,
                depth,
                ..
            } => self.snapshot(c, field, label, views, paths, *depth),
        }
    }

    fn actor(&self, c: &mut Checker, field: &str, step: &Step, actor: &str) {
        let field = format!("{field}.in");
        if matches!(step, Step::Exit { .. }) && actor == HOST {
            c.err(
                field,
                "only a container can exit; the lab host lives for the whole experiment",
            );
        } else if !self.is_live(actor) {
            let msg = format!("`{actor}` is not the host nor a container alive at this step (create it with a `container` step first)");
            c.err(field, msg);
        }
    }

    fn container(&mut self, c: &mut Checker, field: &str, name: &'s str) {
        c.found(field, name_problem(name));
        if name == HOST {
            c.err(
                field,
                "`host` names the lab host; pick another container name",
            );
        } else if self.live.contains(&name) {
            c.err(
                field,
                format!("a container named `{name}` is already running"),
            );
        } else {
            self.live.push(name);
        }
    }

    fn overlay_layers(&self, c: &mut Checker, field: &str, lowers: &[String], upper: Option<&str>) {
        if lowers.is_empty() {
            c.err(
                format!("{field}.lowers"),
                "an overlay needs at least one lower layer",
            );
        }
        let mut seen = HashSet::new();
        for (i, lower) in lowers.iter().enumerate() {
            let lf = format!("{field}.lowers[{i}]");
            self.known_layer(c, &lf, lower);
            if !seen.insert(lower.as_str()) {
                c.err(lf, format!("layer `{lower}` is listed twice"));
            }
        }
        if let Some(upper) = upper {
            let uf = format!("{field}.upper");
            self.known_layer(c, &uf, upper);
            if seen.contains(upper) {
                c.err(
                    uf,
                    format!("layer `{upper}` cannot be both a lower and the upper layer"),
                );
            }
        }
    }

    fn known_layer(&self, c: &mut Checker, field: &str, name: &str) {
        if !self.layers.contains(name) {
            c.err(
                field,
                format!("no layer named `{name}` is declared in `layers`"),
            );
        }
    }

    fn snapshot(
        &mut self,
        c: &mut Checker,
        field: &str,
        label: &'s str,
        views: &[String],
        paths: &[String],
        depth: u32,
    ) {
        let lf = format!("{field}.label");
        c.found(&lf, label_problem(label));
        if !self.labels.insert(label) {
            c.err(
                lf,
                format!("another snapshot is already labelled `{label}`"),
            );
        }
        let mut seen = HashSet::new();
        for (i, view) in views.iter().enumerate() {
            let vf = format!("{field}.views[{i}]");
            if !self.is_live(view) {
                c.err(
                    &vf,
                    format!("`{view}` is not the host nor a container alive at this step"),
                );
            } else if !seen.insert(view.as_str()) {
                c.err(&vf, format!("view `{view}` is listed twice"));
            }
        }
        if paths.len() > MAX_SNAPSHOT_PATHS {
            c.err(
                format!("{field}.paths"),
                format!("{} paths; the limit is {MAX_SNAPSHOT_PATHS}", paths.len()),
            );
        }
        for (i, path) in paths.iter().enumerate() {
            c.found(&format!("{field}.paths[{i}]"), abs_path_problem(path));
        }
        if depth > MAX_DEPTH {
            c.err(
                format!("{field}.depth"),
                format!("{depth} is deeper than the limit {MAX_DEPTH}"),
            );
        }
    }
}

fn tmpfs_options(
    c: &mut Checker,
    field: &str,
    source: Option<&str>,
    size: Option<u64>,
    mode: Option<u32>,
) {
    if let Some(source) = source {
        let problem = if source.is_empty() {
            Some("empty; leave it out for the default".to_string())
        } else if source.len() > MAX_PATH_BYTES {
            Some(format!("longer than {MAX_PATH_BYTES} bytes"))
        } else {
            control_char_problem(source)
        };
        c.found(&format!("{field}.source"), problem);
    }
    match size {
        Some(0) => c.err(
            format!("{field}.size"),
            "size 0 would mean an unlimited tmpfs; leave it out for the default",
        ),
        Some(n) if n > c.limits.disk_bytes => c.err(
            format!("{field}.size"),
            format!(
                "{n} bytes is above the disk limit of {} bytes",
                c.limits.disk_bytes
            ),
        ),
        _ => {}
    }
    if let Some(mode) = mode {
        c.found(&format!("{field}.mode"), mode_problem(mode));
    }
}

fn programs_problems(c: &mut Checker, field: &str, programs: &[String]) {
    if programs.is_empty() {
        c.err(field, "name at least one program to copy");
    } else if programs.len() > MAX_PROGRAMS {
        c.err(
            field,
            format!("{} programs; the limit is {MAX_PROGRAMS}", programs.len()),
        );
    }
    for (i, program) in programs.iter().enumerate() {
        let problem = if program.starts_with('/') {
            abs_path_problem(program)
        } else if program.is_empty() || program.contains('/') || program == "." || program == ".." {
            Some(
                "a program is a bare name like `ls` or an absolute path like `/bin/ls`".to_string(),
            )
        } else {
            component_problem(program)
        };
        c.found(&format!("{field}[{i}]"), problem);
    }
}

fn argv_problems(c: &mut Checker, field: &str, argv: &[String]) {
    if argv.first().is_none_or(|a| a.is_empty()) {
        c.err(field, "name the program to run as the first argument");
    }
    if argv.len() > MAX_ARGV {
        c.err(
            field,
            format!("{} arguments; the limit is {MAX_ARGV}", argv.len()),
        );
    }
    for (i, arg) in argv.iter().enumerate() {
        let problem = if arg.len() > MAX_ARG_BYTES {
            Some(format!("longer than {MAX_ARG_BYTES} bytes"))
        } else if arg.contains('\0') {
            Some("contains a NUL byte".to_string())
        } else {
            None
        };
        c.found(&format!("{field}[{i}]"), problem);
    }
}

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
    path_body_problem(&path[1..])
}

/// A relative path inside a layer: `a` or `etc/app.conf`.
pub fn rel_path_problem(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(format!(
            "`{}` must be relative to the layer's root (no leading `/`)",
            shown(path)
        ));
    }
    path_body_problem(path)
}

fn path_body_problem(body: &str) -> Option<String> {
    if body.len() + 1 > MAX_PATH_BYTES {
        return Some(format!("path longer than {MAX_PATH_BYTES} bytes"));
    }
    if body.is_empty() {
        return Some("empty path".to_string());
    }
    body.split('/').find_map(component_problem)
}

fn component_problem(component: &str) -> Option<String> {
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

fn control_char_problem(text: &str) -> Option<String> {
    if text.contains('\0') {
        Some("contains a NUL byte".to_string())
    } else if text.chars().any(char::is_control) {
        Some("contains a control character (newline, tab, escape...)".to_string())
    } else {
        None
    }
}

fn link_target_problem(target: &str) -> Option<String> {
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

fn label_problem(label: &str) -> Option<String> {
    if label.trim().is_empty() {
        Some("a snapshot needs a label".to_string())
    } else if label.len() > MAX_NAME_BYTES {
        Some(format!("longer than {MAX_NAME_BYTES} bytes"))
    } else {
        control_char_problem(label)
    }
}

fn mode_problem(mode: u32) -> Option<String> {
    (mode > MAX_MODE).then(|| format!("mode {mode:#o} is above 0o7777 (permission bits only)"))
}

/// serde's messages quote the offending input: cut it short and escape control characters.
fn sanitized(message: &str) -> String {
    const MAX_MESSAGE_CHARS: usize = 300;
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    let escaped: String = cut
        .chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect();
    if cut.len() < message.len() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// A hostile string, cut short and with control characters escaped, fit for an error message.
fn shown(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    let escaped = short.escape_debug().to_string();
    if short.len() < text.len() {
        format!("{escaped}...")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{MountFlag, Namespace};

    fn limits() -> Limits {
        Limits::default()
    }

    fn spec(steps: Vec<Step>) -> Spec {
        Spec {
            version: SPEC_VERSION,
            title: "t".into(),
            host: HostSpec::default(),
            layers: vec![],
            steps,
        }
    }

    fn snapshot(label: &str) -> Step {
        Step::Snapshot {
            label: label.into(),
            views: vec![],
            paths: vec!["/".into()],
            depth: 2,
            layers: false,
        }
    }

    fn container(name: &str) -> Step {
        Step::Container {
            name: name.into(),
            namespaces: vec![],
        }
    }

    fn tmpfs(actor: &str, target: &str) -> Step {
        Step::Tmpfs {
            actor: actor.into(),
            target: target.into(),
            source: None,
            size: None,
            mode: None,
            flags: vec![MountFlag::Nosuid],
        }
    }

    fn layer(name: &str, entries: Vec<Entry>) -> Layer {
        Layer {
            name: name.into(),
            entries,
        }
    }

    fn file(path: &str) -> Entry {
        Entry::File {
            path: path.into(),
            content: "x".into(),
            mode: 0o644,
        }
    }

    fn overlay(lowers: &[&str], upper: Option<&str>) -> Step {
        Step::Overlay {
            actor: HOST.into(),
            target: "/merged".into(),
            lowers: lowers.iter().map(|s| s.to_string()).collect(),
            upper: upper.map(str::to_string),
        }
    }

    /// The fields named by the errors, in order.
    fn fields(spec: &Spec) -> Vec<String> {
        match validate(spec, &limits()) {
            Ok(()) => vec![],
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn a_typical_spec_is_valid() {
        let s = spec(vec![
            container("c1"),
            tmpfs("c1", "/tmp"),
            snapshot("after"),
            Step::Exit { actor: "c1".into() },
        ]);
        assert_eq!(validate(&s, &limits()), Ok(()));
    }

    #[test]
    fn version_must_match() {
        let mut s = spec(vec![snapshot("a")]);
        s.version = 2;
        assert_eq!(fields(&s), ["version"]);
    }

    #[test]
    fn at_least_one_step() {
        assert_eq!(fields(&spec(vec![])), ["steps"]);
    }

    #[test]
    fn too_many_steps() {
        let steps = (0..65).map(|i| snapshot(&format!("s{i}"))).collect();
        assert_eq!(fields(&spec(steps)), ["steps"]);
    }

    #[test]
    fn absolute_path_rules() {
        assert_eq!(abs_path_problem("/"), None);
        assert_eq!(abs_path_problem("/tmp/a.yaml"), None);
        assert_eq!(abs_path_problem("/tmp/with space"), None);
        for bad in [
            "",
            "tmp",
            "/tmp/../etc",
            "/./tmp",
            "//tmp",
            "/tmp/",
            "/a\0b",
            "/a\nb",
        ] {
            assert!(abs_path_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(abs_path_problem(&format!("/{}", "a".repeat(256))).is_some());
        assert!(abs_path_problem(&format!("/{}", "a/".repeat(128) + "a")).is_some());
        assert_eq!(abs_path_problem(&format!("/{}", "a".repeat(255))), None);
    }

    #[test]
    fn relative_path_rules() {
        assert_eq!(rel_path_problem("etc/app.conf"), None);
        for bad in ["", "/a", "a/../b", "..", ".", "a//b", "a/"] {
            assert!(rel_path_problem(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[test]
    fn name_rules() {
        assert_eq!(name_problem("A"), None);
        assert_eq!(name_problem("web_1-x"), None);
        assert_eq!(name_problem(&"a".repeat(32)), None);
        for bad in ["", "a b", "é", "a/b", "a.b"] {
            assert!(name_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(name_problem(&"a".repeat(33)).is_some());
    }

    #[test]
    fn host_file_paths_are_absolute_and_bodies_checked() {
        let mut s = spec(vec![snapshot("a")]);
        s.host.files = vec![
            file("/tmp/kubectl-edit-fplln.yaml"),
            file("tmp/x"),
            Entry::File {
                path: "/big".into(),
                content: "x".repeat(65 << 10 | 1),
                mode: 0o644,
            },
            Entry::Dir {
                path: "/d".into(),
                mode: 0o10000,
                opaque: false,
            },
            Entry::Whiteout { path: "/w".into() },
            Entry::Symlink {
                path: "/l".into(),
                target: "".into(),
            },
        ];
        assert_eq!(
            fields(&s),
            [
                "host.files[1].path",
                "host.files[2].content",
                "host.files[3].mode",
                "host.files[4].type",
                "host.files[5].target"
            ]
        );
    }

    #[test]
    fn layer_names_valid_and_unique_entries_relative() {
        let mut s = spec(vec![snapshot("a")]);
        s.layers = vec![
            layer("A", vec![file("a"), file("/x")]),
            layer("A", vec![]),
            layer("bad name", vec![]),
        ];
        assert_eq!(
            fields(&s),
            [
                "layers[0].entries[1].path",
                "layers[1].name",
                "layers[2].name"
            ]
        );
    }

    #[test]
    fn too_many_layers_and_files() {
        let mut s = spec(vec![snapshot("a")]);
        s.layers = (0..9).map(|i| layer(&format!("L{i}"), vec![])).collect();
        s.host.files = (0..257).map(|i| file(&format!("/f{i}"))).collect();
        assert_eq!(fields(&s), ["host.files", "layers"]);
    }

    #[test]
    fn actor_must_exist_at_that_step() {
        let s = spec(vec![
            tmpfs("c1", "/tmp"),
            container("c1"),
            tmpfs("c1", "/tmp"),
            Step::Exit { actor: "c1".into() },
            tmpfs("c1", "/tmp"),
        ]);
        assert_eq!(fields(&s), ["steps[0].in", "steps[4].in"]);
    }

    #[test]
    fn only_containers_exit() {
        let s = spec(vec![Step::Exit {
            actor: "host".into(),
        }]);
        assert_eq!(fields(&s), ["steps[0].in"]);
    }

    #[test]
    fn container_names_rules() {
        let s = spec(vec![
            container("host"),
            container("c1"),
            container("c1"),
            container("no way"),
            Step::Exit { actor: "c1".into() },
            container("c1"),
        ]);
        // Six container steps: also over the limit of four.
        assert_eq!(
            fields(&s),
            ["steps", "steps[0].name", "steps[2].name", "steps[3].name"]
        );
    }

    #[test]
    fn too_many_containers_and_duplicate_namespaces() {
        let mut steps: Vec<Step> = (0..5).map(|i| container(&format!("c{i}"))).collect();
        steps.push(Step::Container {
            name: "n".into(),
            namespaces: vec![Namespace::Pid, Namespace::Pid],
        });
        assert_eq!(fields(&spec(steps)), ["steps", "steps[5].namespaces"]);
    }

    #[test]
    fn too_many_mounts() {
        let steps = (0..33).map(|i| tmpfs("host", &format!("/m{i}"))).collect();
        assert_eq!(fields(&spec(steps)), ["steps"]);
    }

    #[test]
    fn overlay_layers_rules() {
        let mut s = spec(vec![
            overlay(&["A", "B"], Some("U")),
            overlay(&[], None),
            overlay(&["A", "Z"], Some("A")),
            overlay(&["A", "A"], Some("Y")),
        ]);
        s.layers = vec![layer("A", vec![]), layer("B", vec![]), layer("U", vec![])];
        assert_eq!(
            fields(&s),
            [
                "steps[1].lowers",
                "steps[2].lowers[1]",
                "steps[2].upper",
                "steps[3].lowers[1]",
                "steps[3].upper"
            ]
        );
    }

    #[test]
    fn tmpfs_size_source_mode() {
        let with = |size, source: Option<&str>, mode| Step::Tmpfs {
            actor: HOST.into(),
            target: "/tmp".into(),
            source: source.map(str::to_string),
            size,
            mode,
            flags: vec![],
        };
        let s = spec(vec![
            with(Some(1 << 20), Some("none"), Some(0o1777)),
            with(Some(0), None, None),
            with(Some((16 << 20) + 1), None, None),
            with(None, Some("a\nb"), Some(0o17777)),
        ]);
        assert_eq!(
            fields(&s),
            [
                "steps[1].size",
                "steps[2].size",
                "steps[3].source",
                "steps[3].mode"
            ]
        );
    }

    #[test]
    fn step_paths_are_checked() {
        let s = spec(vec![
            Step::Bind {
                actor: HOST.into(),
                source: "/layers/A".into(),
                target: "rel".into(),
                readonly: false,
                recursive: true,
            },
            Step::Chroot {
                actor: HOST.into(),
                dir: "/a/../b".into(),
            },
            Step::PivotRoot {
                actor: HOST.into(),
                new_root: "/new".into(),
            },
            Step::Delete {
                actor: HOST.into(),
                path: "x".into(),
            },
            Step::Mkdir {
                actor: HOST.into(),
                path: "/d".into(),
                mode: 0o20000,
            },
            Step::Write {
                actor: HOST.into(),
                path: "/f".into(),
                content: "x".repeat((64 << 10) + 1),
                mode: 0o644,
            },
        ]);
        assert_eq!(
            fields(&s),
            [
                "steps[0].target",
                "steps[1].dir",
                "steps[3].path",
                "steps[4].mode",
                "steps[5].content"
            ]
        );
    }

    #[test]
    fn build_rootfs_programs() {
        let build = |programs: Vec<&str>| Step::BuildRootfs {
            actor: HOST.into(),
            dir: "/root/test".into(),
            programs: programs.into_iter().map(str::to_string).collect(),
            skip_libraries: false,
        };
        let s = spec(vec![
            build(vec!["bash", "/bin/ls"]),
            build(vec![]),
            build(vec!["../bash", "bin/ls"]),
            build(vec!["ls"; 17]),
        ]);
        assert_eq!(
            fields(&s),
            [
                "steps[1].programs",
                "steps[2].programs[0]",
                "steps[2].programs[1]",
                "steps[3].programs"
            ]
        );
    }

    #[test]
    fn run_argv_rules() {
        let run = |argv: Vec<String>| Step::Run {
            actor: HOST.into(),
            argv,
        };
        let s = spec(vec![
            run(vec!["ls".into(), "-la".into()]),
            run(vec![]),
            run(vec!["x".into(); 33]),
            run(vec!["echo".into(), "a".repeat(1025)]),
            run(vec!["echo".into(), "a\0b".into()]),
        ]);
        assert_eq!(
            fields(&s),
            [
                "steps[1].argv",
                "steps[2].argv",
                "steps[3].argv[1]",
                "steps[4].argv[1]"
            ]
        );
    }

    #[test]
    fn snapshot_rules() {
        let snap = |label: &str, views: &[&str], paths: &[&str], depth| Step::Snapshot {
            label: label.into(),
            views: views.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
            depth,
            layers: false,
        };
        let s = spec(vec![
            container("c1"),
            snap("host before", &["host", "c1"], &["/tmp"], 4),
            snap("host before", &["ghost", "host", "host"], &["tmp"], 17),
            snap("", &[], &["/a"; 9], 1),
        ]);
        assert_eq!(
            fields(&s),
            [
                "steps[2].label",
                "steps[2].views[0]",
                "steps[2].views[2]",
                "steps[2].paths[0]",
                "steps[2].depth",
                "steps[3].label",
                "steps[3].paths"
            ]
        );
    }

    #[test]
    fn all_errors_are_reported_not_just_the_first() {
        let mut s = spec(vec![tmpfs("nobody", "tmp")]);
        s.version = 7;
        assert_eq!(fields(&s), ["version", "steps[0].in", "steps[0].target"]);
    }

    #[test]
    fn parse_accepts_the_documented_example() {
        let json = r#"{ "version": 1, "title": "tmpfs on /tmp",
          "host": { "image": "tools", "root_propagation": "shared",
                    "files": [ { "type": "file", "path": "/tmp/a.yaml", "content": "x" } ] },
          "layers": [ { "name": "A", "entries": [ { "type": "file", "path": "a" } ] } ],
          "steps": [ { "op": "container", "name": "c1" },
                     { "op": "tmpfs", "in": "c1", "target": "/tmp" },
                     { "op": "snapshot", "label": "after mount", "paths": ["/tmp"] } ] }"#;
        let spec = parse_spec(json, &limits()).expect("valid");
        assert_eq!(spec.steps.len(), 3);
    }

    fn parse_error(json: &str) -> FieldError {
        let mut errors = parse_spec(json, &limits()).expect_err("must fail");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.remove(0)
    }

    #[test]
    fn parse_syntax_error_is_at_the_root() {
        let e = parse_error(r#"{"steps": [ "#);
        assert_eq!(e.field, "");
        assert!(e.message.contains("EOF"), "{}", e.message);
    }

    #[test]
    fn parse_names_an_unknown_top_level_field() {
        let e = parse_error(r#"{"steps": [], "stpes": 1}"#);
        assert_eq!(e.field, "stpes");
        assert!(e.message.contains("unknown field"), "{}", e.message);
    }

    #[test]
    fn parse_names_an_unknown_field_inside_a_step() {
        let e = parse_error(
            r#"{"steps": [{"op": "snapshot", "label": "a"}, {"op": "tmpfs", "targt": "/tmp"}]}"#,
        );
        assert_eq!(e.field, "steps[1].targt");
    }

    #[test]
    fn parse_names_a_wrong_type_inside_a_step() {
        let e = parse_error(r#"{"steps": [{"op": "tmpfs", "target": "/tmp", "size": "big"}]}"#);
        assert_eq!(e.field, "steps[0].size");
        assert!(e.message.contains("invalid type"), "{}", e.message);
    }

    #[test]
    fn parse_names_a_wrong_type_of_a_required_field_inside_a_step() {
        let e = parse_error(
            r#"{"steps": [{"op": "snapshot", "label": "a"}, {"op": "tmpfs", "target": 5}, {"op": "nope"}]}"#,
        );
        assert_eq!(e.field, "steps[1].target");
    }

    #[test]
    fn parse_names_a_wrong_type_inside_a_layer_entry() {
        let e = parse_error(
            r#"{"layers": [{"name": "A", "entries": [{"type": "file", "path": "a", "mode": -1}]}], "steps": []}"#,
        );
        assert_eq!(e.field, "layers[0].entries[0].mode");
    }

    #[test]
    fn parse_names_a_wrong_type_in_a_plain_struct() {
        let e = parse_error(r#"{"version": "one", "steps": []}"#);
        assert_eq!(e.field, "version");
    }

    #[test]
    fn parse_names_an_unknown_op() {
        let e = parse_error(r#"{"steps": [{"op": "format_disk"}]}"#);
        assert_eq!(e.field, "steps[0].op");
        assert!(e.message.contains("format_disk"), "{}", e.message);
    }

    #[test]
    fn parse_does_not_probe_huge_objects() {
        let junk: String = (0..5000).map(|i| format!(r#","k{i}": 0"#)).collect();
        let json = format!(r#"{{"steps": [{{"op": "tmpfs", "target": 5{junk}}}]}}"#);
        let e = parse_error(&json);
        assert_eq!(e.field, "steps[0]");
    }

    #[test]
    fn parse_messages_are_short_and_escaped() {
        let op = format!("x\\u001b[31m{}", "y".repeat(5000));
        let e = parse_error(&format!(r#"{{"steps": [{{"op": "{op}"}}]}}"#));
        assert!(e.message.chars().count() <= 320, "{}", e.message.len());
        assert!(!e.message.contains('\u{1b}'), "{}", e.message);
    }

    #[test]
    fn parse_rejects_trailing_garbage() {
        let e = parse_error(r#"{"steps": [{"op": "snapshot", "label": "a"}]} x"#);
        assert_eq!(e.field, "");
    }

    #[test]
    fn parse_then_validate_reports_rule_errors() {
        let errors = parse_spec(
            r#"{"steps": [{"op": "tmpfs", "in": "c9", "target": "/tmp"}]}"#,
            &limits(),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new("steps[0].in", errors[0].message.clone())]
        );
        assert!(errors[0].message.contains("c9"));
    }

    #[test]
    fn error_messages_escape_hostile_text() {
        let msg = abs_path_problem("tmp\u{1b}[31m").unwrap();
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }
}
