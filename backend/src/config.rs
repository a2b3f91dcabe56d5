//! Placeholder; see lib.rs.
