//! Validation of background runs and `wait`: each refusal names its field.

use super::tests::{container, fields, spec};
use super::*;
use crate::spec::{HOST, MAX_BACKGROUND};

fn run(actor: &str, background: bool) -> Step {
    Step::Run {
        actor: actor.into(),
        argv: vec!["sleep".into(), "1".into()],
        background,
    }
}

fn wait(actor: &str, timeout_ms: Option<u64>) -> Step {
    Step::Wait {
        actor: actor.into(),
        timeout_ms,
    }
}

#[test]
fn wait_needs_a_background_run_in_the_same_actor_before_it() {
    let s = spec(vec![
        wait(HOST, None),
        run(HOST, false),
        wait(HOST, None),
        container("c"),
        run(HOST, true),
        wait("c", None),
        wait(HOST, Some(100)),
    ]);
    assert_eq!(fields(&s), ["steps[0].in", "steps[2].in", "steps[5].in"]);
}

#[test]
fn a_container_that_exits_takes_its_background_programs_with_it() {
    let s = spec(vec![
        container("c"),
        run("c", true),
        wait("c", None),
        Step::Exit { actor: "c".into() },
        container("c"),
        wait("c", None),
    ]);
    assert_eq!(fields(&s), ["steps[5].in"]);
}

#[test]
fn background_programs_per_actor_are_bounded_and_timeouts_positive() {
    let mut steps: Vec<Step> = (0..=MAX_BACKGROUND).map(|_| run(HOST, true)).collect();
    steps.push(wait(HOST, Some(0)));
    steps.push(container("c"));
    steps.push(run("c", true));
    let s = spec(steps);
    let last = MAX_BACKGROUND;
    assert_eq!(
        fields(&s),
        [
            format!("steps[{last}].background"),
            format!("steps[{}].timeout_ms", last + 1)
        ]
    );
}

#[test]
fn background_defaults_to_false_and_is_left_out_when_false() {
    let step: Step = serde_json::from_str(r#"{"op":"run","argv":["ls"]}"#).unwrap();
    assert_eq!(step, run_ls(false));
    let json = serde_json::to_string(&step).unwrap();
    assert!(!json.contains("background"), "{json}");
    let waited: Step = serde_json::from_str(r#"{"op":"wait","in":"c","timeout_ms":5}"#).unwrap();
    assert_eq!(waited, wait("c", Some(5)));
}

fn run_ls(background: bool) -> Step {
    Step::Run {
        actor: HOST.into(),
        argv: vec!["ls".into()],
        background,
    }
}

#[test]
fn a_stdout_expectation_names_the_wait_not_the_background_run() {
    let mut s = spec(vec![run(HOST, true), wait(HOST, None)]);
    let stdout = |step| crate::expect::Expectation::Stdout {
        step,
        contains: "x".into(),
    };
    s.expect = vec![stdout(0), stdout(1)];
    assert_eq!(fields(&s), ["expect[0].step"]);
}
