//! The optional project file `halite.yaml` (STUB).
