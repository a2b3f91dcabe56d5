//! What an actor's ops work with: the run's limits, the roots the actor changed into, and where
//! its programs are born, and
//! its background programs.

use rootlab_shared::Limits;

use super::background::Background;
use super::pidns::Birthplace;

pub struct OpContext {
    pub limits: Limits,
    /// Roots this actor changed into, in order (for the escape trace).
    pub roots: Vec<String>,
    /// The pid namespace this actor's programs (and its `proc` mounts) belong to.
    pub programs: Birthplace,
    /// Programs started with `background`, until a `wait` reports them.
    pub background: Background,
}
