//! Requisite references resolved to chunks.
//!
//! Matching is Salt's (`salt/utils/requisite.py`, `DependencyGraph`):
//! `- pkg: x` matches a `pkg` state whose ID or `name` is `x`; a bare `- x`
//! or `- id: x` matches any module; `- sls: x` matches every state of SLS
//! `x` and of the SLS files first loaded through its includes (Salt's
//! `__sls_included_from__`, see `High::sls_closure`); a target containing `*`, `?` or
//! `[` is a glob. The `_in` forms are stored on their target, the way
//! Salt's `requisite_in` rewrites them. A reference that matches nothing is
//! an error, as in Salt ("Referenced state does not exist"; for an `_in`
//! form, "Cannot extend ID"), except an `_in` form when only showing
//! ([`Purpose::Show`]).

use std::collections::HashSet;

use super::compile::{RawReq, Target};
use super::highstate::High;
use super::{Chunk, CompileError, Kind, Purpose};

/// For each chunk, its resolved requisites (kind, chunk index).
pub(crate) fn resolve(
    high: &High,
    chunks: &[(Chunk, Vec<RawReq>)],
    purpose: Purpose,
) -> Result<Vec<Vec<(Kind, usize)>>, CompileError> {
    let mut out: Vec<Vec<(Kind, usize)>> = vec![Vec::new(); chunks.len()];
    for (i, (chunk, reqs)) in chunks.iter().enumerate() {
        for req in reqs {
            let mut targets =
                find(high, chunks, &req.target).map_err(|message| CompileError::Invalid {
                    sls: chunk.sls.clone(),
                    file: chunk.file.clone(),
                    id: chunk.id.clone(),
                    message,
                })?;
            // An SLS requisite naming the chunk's own SLS covers the chunk
            // itself; that is not a dependency on itself.
            if matches!(req.target, Target::Sls(_)) {
                targets.retain(|&t| t != i);
            }
            if targets.is_empty() && req.inverted && purpose == Purpose::Show {
                continue;
            }
            if targets.is_empty() {
                let kind = if req.inverted {
                    req.kind.in_name().unwrap_or(req.kind.name())
                } else {
                    req.kind.name()
                };
                return Err(CompileError::RequisiteNotFound {
                    sls: chunk.sls.clone(),
                    file: chunk.file.clone(),
                    id: chunk.id.clone(),
                    kind: kind.to_string(),
                    target: req.target.to_string(),
                });
            }
            for t in targets {
                let (owner, edge) = if req.inverted {
                    (t, (req.kind, i))
                } else {
                    (i, (req.kind, t))
                };
                if !out[owner].contains(&edge) {
                    out[owner].push(edge);
                }
            }
        }
    }
    Ok(out)
}

fn find(
    high: &High,
    chunks: &[(Chunk, Vec<RawReq>)],
    target: &Target,
) -> Result<Vec<usize>, String> {
    let matches = |c: &Chunk, module: Option<&str>, pattern: &Pattern| {
        module.is_none_or(|m| c.module == m)
            && (pattern.is_match(&c.id) || pattern.is_match(&c.name))
    };
    let found = match target {
        Target::Id(id) => {
            let p = Pattern::new(id)?;
            indices(chunks, |c| matches(c, None, &p))
        }
        Target::Module(module, id) => {
            let p = Pattern::new(id)?;
            indices(chunks, |c| matches(c, Some(module), &p))
        }
        Target::Sls(sls) => {
            let p = Pattern::new(sls)?;
            let mut covered: HashSet<String> = HashSet::new();
            for name in high.includes.keys().filter(|name| p.is_match(name)) {
                covered.extend(high.sls_closure(name));
            }
            indices(chunks, |c| covered.contains(&c.sls))
        }
    };
    Ok(found)
}

fn indices(chunks: &[(Chunk, Vec<RawReq>)], pred: impl Fn(&Chunk) -> bool) -> Vec<usize> {
    chunks
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| pred(c))
        .map(|(i, _)| i)
        .collect()
}

/// A literal, or a glob when it has glob characters (Salt's
/// `_is_fnmatch_pattern`).
enum Pattern {
    Literal(String),
    /// Python fnmatch, as Salt matches requisite globs.
    Glob(regex::Regex),
}

impl Pattern {
    fn new(text: &str) -> Result<Pattern, String> {
        if text.contains(['*', '?', '[', ']']) {
            let glob = crate::target::fnmatch(text)
                .map_err(|e| format!("invalid requisite pattern `{text}`: {e}"))?;
            Ok(Pattern::Glob(glob))
        } else {
            Ok(Pattern::Literal(text.to_string()))
        }
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == text,
            Pattern::Glob(g) => g.is_match(text),
        }
    }
}
