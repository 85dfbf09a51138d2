//! output (STUB).
