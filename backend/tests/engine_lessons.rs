//! The lessons of LESSONS.md, run for real by the worker as root (sandbox uid 65534).

mod engine_support;

use engine_support::{lessons, Worker};

#[test]
fn every_lesson_shows_its_kernel_outcome() {
    let mut w = Worker::start().with_lesson_images();
    for lesson in lessons::all() {
        let result = w.run(lesson.spec.clone());
        eprintln!("lesson {}: {:?}", lesson.name, result.status);
        (lesson.check)(&result);
    }
}
