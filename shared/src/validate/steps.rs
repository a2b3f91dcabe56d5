//! The steps, in order: which actors exist at each step, the layers and labels they name, and
//! each op's own fields.

use std::collections::{HashMap, HashSet};

use super::rules::{
    abs_path_problem, component_problem, control_char_problem, label_problem, mode_problem,
    name_problem,
};
use super::Checker;
use crate::limits::{MAX_ARGV, MAX_ARG_BYTES, MAX_DEPTH, MAX_PATH_BYTES, MAX_PROGRAMS};

/// Most paths one snapshot may walk (each walk costs up to `max_tree_entries`).
const MAX_SNAPSHOT_PATHS: usize = 8;
use crate::spec::{Step, HOST, MAX_BACKGROUND};

/// Replays the steps in order to know which containers are alive at each step.
pub(super) struct Timeline<'s> {
    layers: HashSet<&'s str>,
    live: Vec<&'s str>,
    labels: HashSet<&'s str>,
    /// Background programs started by each live actor so far.
    background: HashMap<&'s str, usize>,
    /// Containers started from an image (each owns `/containers/<name>`).
    imaged: HashSet<&'s str>,
    /// Image names earlier `commit` steps make (normalized).
    committed: HashSet<String>,
}

impl<'s> Timeline<'s> {
    pub(super) fn new(layers: HashSet<&'s str>) -> Self {
        Timeline {
            layers,
            live: Vec::new(),
            labels: HashSet::new(),
            background: HashMap::new(),
            imaged: HashSet::new(),
            committed: HashSet::new(),
        }
    }

    fn is_live(&self, actor: &str) -> bool {
        actor == HOST || self.live.contains(&actor)
    }

    pub(super) fn step(&mut self, c: &mut Checker, field: &str, step: &'s Step) {
        if let Some(actor) = step.actor() {
            self.actor(c, field, step, actor);
        }
        let f = |name: &str| format!("{field}.{name}");
        match step {
            Step::Container {
                name,
                namespaces,
                image,
            } => {
                self.container(c, &f("name"), name);
                if let Some(image) = image {
                    c.found(&f("image"), image.check().err());
                    if !self.imaged.insert(name) {
                        c.err(
                            f("name"),
                            format!("`{name}` already named a container started from an image: each one gets its own writable layer, so give this one another name"),
                        );
                    }
                }
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
            Step::Bind { source, target, .. } | Step::Move { source, target, .. } => {
                c.found(&f("source"), abs_path_problem(source));
                c.found(&f("target"), abs_path_problem(target));
            }
            Step::Overlay {
                target,
                lowers,
                upper,
                options,
                ..
            } => {
                c.found(&f("target"), abs_path_problem(target));
                self.overlay_layers(c, field, lowers, upper.as_deref());
                if options.iter().collect::<HashSet<_>>().len() != options.len() {
                    c.err(f("options"), "an option is listed twice");
                }
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
            Step::Run {
                argv,
                background,
                actor,
            } => {
                argv_problems(c, &f("argv"), argv);
                if *background {
                    self.background_run(c, &f("background"), actor);
                }
            }
            Step::Wait { actor, timeout_ms } => {
                if self.background.get(actor.as_str()).copied().unwrap_or(0) == 0 {
                    let msg = format!("`{actor}` has started no background program before this step (a `run` with `background: true`)");
                    c.err(f("in"), msg);
                }
                if *timeout_ms == Some(0) {
                    c.err(f("timeout_ms"), "a timeout must be at least 1 ms");
                }
            }
            Step::Escape { .. } => {}
            Step::Exit { actor } => {
                self.live.retain(|n| n != actor);
                self.background.remove(actor.as_str());
            }
            Step::Snapshot {
                label,
                views,
                paths,
                depth,
                ..
            } => self.snapshot(c, field, label, views, paths, *depth),
            Step::Commit {
                container,
                name,
                message,
            } => {
                let known = self.imaged.contains(container.as_str());
                let taken = !self.committed.insert(name.normalized());
                super::commit::check(c, field, container, known, name, taken, message.as_deref());
            }
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

    fn background_run(&mut self, c: &mut Checker, field: &str, actor: &'s str) {
        let n = self.background.entry(actor).or_default();
        *n += 1;
        if *n > MAX_BACKGROUND {
            c.err(
                field,
                format!("`{actor}` would start more than {MAX_BACKGROUND} background programs"),
            );
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

pub(super) fn tmpfs_options(
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

pub(super) fn programs_problems(c: &mut Checker, field: &str, programs: &[String]) {
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

pub(super) fn argv_problems(c: &mut Checker, field: &str, argv: &[String]) {
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
