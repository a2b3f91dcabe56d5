//! Validation rules, each with the field it must name.

use super::*;
use crate::spec::HOST;
use crate::spec::{MountFlag, Namespace};

fn limits() -> Limits {
    Limits::default()
}

pub(super) fn spec(steps: Vec<Step>) -> Spec {
    Spec {
        version: SPEC_VERSION,
        title: "t".into(),
        host: HostSpec::default(),
        layers: vec![],
        steps,
        expect: vec![],
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

pub(super) fn container(name: &str) -> Step {
    Step::Container {
        name: name.into(),
        namespaces: vec![],
        image: None,
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
        from: None,
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
        options: vec![],
    }
}

/// The fields named by the errors, in order.
pub(super) fn fields(spec: &Spec) -> Vec<String> {
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
        image: None,
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
            propagation: None,
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
        background: false,
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

#[test]
fn arrays_are_refused_where_objects_belong() {
    let cases = [
        (r#"{"host": ["busybox", "private"], "steps": []}"#, "host"),
        (r#"["x"]"#, ""),
        (r#"{"steps": [["run", "host", ["true"]]]}"#, "steps[0]"),
        (
            r#"{"host": {"files": [["file", "/a"]]}, "steps": []}"#,
            "host.files[0]",
        ),
        (
            r#"{"layers": [{"name": "A", "entries": [{"type": "file", "path": "a"}, ["b"]]}], "steps": []}"#,
            "layers[0].entries[1]",
        ),
    ];
    for (json, field) in cases {
        let errs = parse_spec(json, &limits()).expect_err(json);
        assert_eq!(errs[0].field, field, "{json}: {errs:?}");
        assert!(errs[0].message.contains("not an array"), "{errs:?}");
    }
}

#[test]
fn a_relative_path_may_be_as_long_as_an_absolute_one() {
    let at = |n: usize| rel_path_problem(&format!("{}/{}", "a".repeat(200), "b".repeat(n - 201)));
    assert_eq!(at(256), None);
    assert!(at(257).is_some());
    assert_eq!(abs_path_problem(&format!("/{}", "a".repeat(255))), None);
}

#[test]
fn a_label_of_only_spaces_is_named_as_such() {
    let s = spec(vec![snapshot("   ")]);
    let errs = validate(&s, &limits()).unwrap_err();
    assert!(errs[0].message.contains("only spaces"), "{errs:?}");
}

#[test]
fn colliding_entries_name_the_later_one() {
    let mut s = spec(vec![snapshot("a")]);
    let symlink = Entry::Symlink {
        path: "s".into(),
        target: "/etc".into(),
    };
    s.layers = vec![layer(
        "A",
        vec![file("x"), file("x"), symlink, file("s/pwned")],
    )];
    s.host.files = vec![file("/etc/a"), file("/etc/a")];
    assert_eq!(
        fields(&s),
        [
            "host.files[1].path",
            "layers[0].entries[1].path",
            "layers[0].entries[3].path"
        ]
    );
}

#[test]
fn expectations_name_what_exists() {
    use crate::expect::Expectation;
    let mut s = spec(vec![container("c1"), tmpfs("c1", "/tmp"), snapshot("s")]);
    let json = serde_json::json!([
        { "kind": "outcome", "step": 1, "errno": "EINVAL" },
        { "kind": "outcome", "step": 3 },
        { "kind": "stdout", "step": 1, "contains": "x" },
        { "kind": "mount", "snapshot": "s", "view": "c1", "target": "/tmp", "propagation": "shared" },
        { "kind": "mount", "snapshot": "t", "view": "c9", "target": "tmp", "propagation": "leaky" },
        { "kind": "path", "snapshot": "s", "path": "/tmp/x", "content": "a\nb" },
        { "kind": "outcome", "step": 0, "errno": "einval" }
    ]);
    s.expect = serde_json::from_value::<Vec<Expectation>>(json).unwrap();
    assert_eq!(
        fields(&s),
        vec![
            "expect[1].step",
            "expect[2].step",
            "expect[4].snapshot",
            "expect[4].view",
            "expect[4].target",
            "expect[4].propagation",
            "expect[6].errno",
        ]
    );
}

#[test]
fn an_array_for_an_expectation_is_refused_by_name() {
    let json = r#"{ "steps": [ { "op": "mkdir", "path": "/a" } ], "expect": [ [1] ] }"#;
    let errors = parse_spec(json, &limits()).unwrap_err();
    assert_eq!(errors[0].field, "expect[0]");
}

#[test]
fn container_images_are_named_well_and_once_per_name() {
    let imaged = |name: &str, image: &str| Step::Container {
        name: name.into(),
        namespaces: vec![],
        image: Some(crate::image::ImageRef(image.into())),
    };
    let steps = vec![
        imaged("c", "busybox"),
        Step::Exit { actor: "c".into() },
        imaged("c", "busybox"),
        imaged("d", "Not An Image"),
    ];
    assert_eq!(fields(&spec(steps)), ["steps[2].name", "steps[3].image"]);
}

#[test]
fn layers_from_images_name_a_good_image_and_hold_no_entries() {
    let mut spec = spec(vec![container("c")]);
    let from = |image: &str| {
        Some(crate::spec::LayerSource {
            image: crate::image::ImageRef(image.into()),
            layer: 0,
        })
    };
    let mut own = layer("A", vec![file("a")]);
    own.from = from("debian");
    let mut bad = layer("B", vec![]);
    bad.from = from("Not Good");
    spec.layers = vec![own, bad];
    assert_eq!(fields(&spec), ["layers[0].entries", "layers[1].from.image"]);
}
