//! The top file: which SLS files apply to which hosts.
//!
//! ```yaml
//! base:
//!   '*':
//!     - core
//!   'os:Debian':
//!     - match: grain
//!     - debian
//! ```
//! Targets use halite's matchers (the same as `halite -G ...` on the command
//! line), so a malformed target fails instead of matching nothing;
//! `match: pillar` / `pillar_pcre` (and `I@`/`J@`) look at the host's
//! compiled pillar, as in Salt. Only the
//! `base` environment exists in halite; other environments are an error
//! rather than silently ignored.

use std::collections::BTreeMap;

use crate::inventory::Group;
use crate::target::{MatchCtx, Target, TargetType};
use crate::Value;

use super::highstate::type_name;
use super::CompileError;

const MATCH_TYPES: &[(&str, TargetType)] = &[
    ("glob", TargetType::Glob),
    ("pcre", TargetType::Pcre),
    ("list", TargetType::List),
    ("grain", TargetType::Grain),
    ("grain_pcre", TargetType::GrainPcre),
    ("pillar", TargetType::Pillar),
    ("pillar_pcre", TargetType::PillarPcre),
    ("compound", TargetType::Compound),
    ("nodegroup", TargetType::Nodegroup),
    ("ipcidr", TargetType::Ipcidr),
];

/// The SLS names that `top` assigns to host `host_id` (with its grains and
/// compiled pillar): targets in the order written, each target's SLS names
/// in order, first occurrence kept.
pub fn top_sls(
    top: &Value,
    host_id: &str,
    grains: &Value,
    pillar: &Value,
    groups: &BTreeMap<String, Group>,
) -> Result<Vec<String>, CompileError> {
    let err = |m: String| CompileError::Top(m);
    let envs = match top {
        Value::Null => return Ok(Vec::new()),
        Value::Object(envs) => envs,
        other => {
            return Err(err(format!(
                "must be a mapping of environments, not {}",
                type_name(other)
            )))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for (env, targets) in envs {
        if env != "base" {
            return Err(err(format!(
                "unknown environment `{env}`; halite has only `base`"
            )));
        }
        let targets = match targets {
            Value::Null => continue,
            Value::Object(targets) => targets,
            other => {
                return Err(err(format!(
                    "`base` must be a mapping of targets, not {}",
                    type_name(other)
                )))
            }
        };
        for (expr, items) in targets {
            let Value::Array(items) = items else {
                return Err(err(format!(
                    "target `{expr}` must have a list of SLS names, not {}",
                    type_name(items)
                )));
            };
            let mut kind = TargetType::Glob;
            let mut names = Vec::new();
            for item in items {
                match item {
                    Value::String(sls) => names.push(sls.clone()),
                    Value::Object(map) if map.len() == 1 && map.contains_key("match") => {
                        let m = map["match"].as_str().unwrap_or_default();
                        kind = MATCH_TYPES
                            .iter()
                            .find(|(name, _)| *name == m)
                            .map(|(_, t)| *t)
                            .ok_or_else(|| {
                                err(format!(
                                    "target `{expr}`: unknown match type `{}`; valid: {}",
                                    map["match"].as_str().unwrap_or("?"),
                                    MATCH_TYPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                                ))
                            })?;
                    }
                    other => {
                        return Err(err(format!(
                            "target `{expr}`: invalid item {other}; expected an SLS name or `match: TYPE`"
                        )))
                    }
                }
            }
            let target = Target::parse(kind, expr, groups)
                .map_err(|e| err(format!("target `{expr}`: {e}")))?;
            if target.matches(&MatchCtx::new(host_id, grains).with_pillar(pillar)) {
                for name in names {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
        }
    }
    Ok(out)
}
