//! Target expressions with Salt's semantics: which hosts a run addresses.
//!
//! STUB: the helper implementing targeting replaces this file's body but
//! keeps the public interface below.

use std::collections::BTreeMap;

use crate::inventory::Group;
use crate::Value;

/// Which matcher a target expression uses (one CLI flag each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Glob,
    Pcre,
    List,
    Grain,
    GrainPcre,
    Ipcidr,
    Nodegroup,
    Compound,
}

/// What a matcher may look at for one host.
#[derive(Debug, Clone, Copy)]
pub struct MatchCtx<'a> {
    pub id: &'a str,
    /// The host's grains (gathered merged with static); `Value::Null` when not known.
    pub grains: &'a Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("invalid target expression `{expr}`: {reason}")]
    Invalid { expr: String, reason: String },
    #[error("unknown nodegroup `{0}`")]
    UnknownNodegroup(String),
}

/// A parsed, checked target expression.
#[derive(Debug, Clone)]
pub struct Target {
    kind: TargetType,
    expr: String,
}

impl Target {
    /// Parse `expr` as `kind`; `groups` are the inventory's nodegroups.
    pub fn parse(
        kind: TargetType,
        expr: &str,
        groups: &BTreeMap<String, Group>,
    ) -> Result<Target, TargetError> {
        let _ = groups;
        Ok(Target {
            kind,
            expr: expr.to_string(),
        })
    }

    /// True when matching needs the hosts' grains.
    pub fn needs_grains(&self) -> bool {
        matches!(
            self.kind,
            TargetType::Grain | TargetType::GrainPcre | TargetType::Ipcidr
        )
    }

    pub fn matches(&self, ctx: &MatchCtx) -> bool {
        self.expr == "*" || self.expr == ctx.id
    }
}
