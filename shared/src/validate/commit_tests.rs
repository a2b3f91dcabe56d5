//! Validation of `commit` steps, each problem with the field it must name.

use super::tests::{container, spec};
use super::*;
use crate::image::ImageRef;

fn from_image(name: &str) -> Step {
    Step::Container {
        name: name.into(),
        namespaces: vec![],
        image: Some(ImageRef::busybox()),
    }
}

fn commit(container: &str, name: &str, message: Option<&str>) -> Step {
    Step::Commit {
        container: container.into(),
        name: ImageRef(name.into()),
        message: message.map(str::to_string),
    }
}

fn problems(steps: Vec<Step>) -> Vec<(String, String)> {
    match validate(&spec(steps), &Limits::default()) {
        Ok(()) => vec![],
        Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

#[test]
fn a_commit_of_a_container_from_an_image_is_valid_alive_or_exited() {
    assert_eq!(
        problems(vec![from_image("web"), commit("web", "my-app:v2", None)]),
        vec![]
    );
    let exited = vec![
        from_image("web"),
        Step::Exit {
            actor: "web".into(),
        },
        commit("web", "my-app", Some("add a config")),
    ];
    assert_eq!(problems(exited), vec![]);
}

#[test]
fn the_container_must_come_from_an_image_and_before_the_commit() {
    let cases = [
        vec![container("plain"), commit("plain", "a:1", None)],
        vec![commit("web", "a:1", None), from_image("web")],
        vec![commit("nobody", "a:1", None)],
    ];
    for steps in cases {
        let found = problems(steps);
        let at = found.iter().find(|(f, _)| f.ends_with(".container"));
        let (field, message) = at.unwrap_or_else(|| panic!("{found:?}"));
        assert!(field.starts_with("steps["), "{field}");
        assert!(message.contains("started from an image"), "{message}");
    }
}

#[test]
fn the_name_must_be_a_new_valid_name() {
    let digest = format!("sha256:{}", "a".repeat(64));
    for (name, why) in [
        ("Bad Name", "not an image name"),
        ("tools", "built-in"),
        ("busybox", "built-in"),
        (digest.as_str(), "not a digest"),
    ] {
        let found = problems(vec![from_image("web"), commit("web", name, None)]);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(found[0].0, "steps[1].name", "{name}");
        assert!(found[0].1.contains(why), "{name}: {}", found[0].1);
    }
    let twice = problems(vec![
        from_image("web"),
        commit("web", "a", None),
        commit("web", "a:latest", None),
    ]);
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert_eq!(twice[0].0, "steps[2].name");
}

#[test]
fn the_message_is_one_bounded_line() {
    for bad in ["", "two\nlines", &"x".repeat(2000)] {
        let found = problems(vec![from_image("web"), commit("web", "a", Some(bad))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "steps[1].message");
    }
}

#[test]
fn a_commit_is_performed_by_the_engine_and_round_trips() {
    let step = commit("web", "my-app:v2", Some("add a config"));
    assert_eq!((step.op_name(), step.actor()), ("commit", None));
    let json = serde_json::to_value(&step).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"op": "commit", "container": "web", "name": "my-app:v2", "message": "add a config"})
    );
    assert_eq!(serde_json::from_value::<Step>(json).unwrap(), step);
}
