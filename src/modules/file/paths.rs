//! `salt://` sources: the controller reads them from the states root, and
//! nothing outside that root may be reached through `..` or a symlink,
//! because state files are not trusted to read the controller's disk.

use std::path::{Component, Path, PathBuf};

/// Why a source could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum SourceError {
    /// Not a `salt://` URL (http, ftp, minion-local paths are not supported).
    Unsupported,
    /// The path leaves the states root.
    Escape,
    /// Nothing (or not a regular file) at that path.
    Missing,
}

/// Resolve `salt://path[?saltenv=..]` under `root`: the root-relative path
/// (what the template renderer takes) and the real file.
pub fn resolve_salt_url(root: &Path, url: &str) -> Result<(String, PathBuf), SourceError> {
    let (rel, real) = resolve(root, url)?;
    if !real.is_file() {
        return Err(SourceError::Missing);
    }
    Ok((rel, real))
}

/// As [`resolve_salt_url`], for a directory (`file.recurse`'s source).
pub fn resolve_salt_dir(root: &Path, url: &str) -> Result<(String, PathBuf), SourceError> {
    let (rel, real) = resolve(root, url)?;
    if !real.is_dir() {
        return Err(SourceError::Missing);
    }
    Ok((rel, real))
}

fn resolve(root: &Path, url: &str) -> Result<(String, PathBuf), SourceError> {
    let rest = url
        .strip_prefix("salt://")
        .ok_or(SourceError::Unsupported)?;
    // Salt allows `?saltenv=...`; halite has one environment.
    let rest = rest.split_once('?').map(|(p, _)| p).unwrap_or(rest);
    if rest.starts_with('/') {
        return Err(SourceError::Escape);
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or(SourceError::Escape)?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(SourceError::Missing);
    }
    let rel = parts.join("/");
    if Path::new(&rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(SourceError::Escape);
    }
    let real = match root.join(&rel).canonicalize() {
        Ok(p) => p,
        Err(_) => return Err(SourceError::Missing),
    };
    let real_root = root.canonicalize().map_err(|_| SourceError::Missing)?;
    if !real.starts_with(&real_root) {
        return Err(SourceError::Escape);
    }
    Ok((rel, real))
}
