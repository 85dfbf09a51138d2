//! STUB: the `grains` execution module; the helper fills this in.

use super::Spec;

pub const FUNCTIONS: &[Spec] = &[];
