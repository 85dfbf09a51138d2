//! jobs (STUB).
