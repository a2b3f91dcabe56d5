//! Placeholder: the kernel-facing sandbox.
