//! known_hosts handling: verify a server key, record a new one (--accept-new).
//!
//! STUB: the helper implementing SSH fills this in.
