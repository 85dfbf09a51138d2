//! fleet (STUB).
