//! rootlab's shared crate: the experiment spec, the result document, and the pure logic (validation,
//! mountinfo parsing, diffs, presets) that both the server and the browser (wasm32) compile.

pub mod diff;
pub mod events;
pub mod expect;
pub mod image;
pub mod layerview;
pub mod limits;
pub mod mountinfo;
pub mod presets;
pub mod question;
pub mod result;
pub mod spec;
pub mod validate;

pub use limits::Limits;
pub use result::RunResult;
pub use spec::Spec;
