//! Target expressions with Salt's semantics: which hosts a run addresses.
//!
//! An expression is parsed and checked once ([`Target::parse`]), into a tree
//! of matchers, then evaluated per host ([`Target::matches`]). Every pattern
//! (glob, regex, CIDR, grain expression, nodegroup reference) is validated at
//! parse time, so a typo fails the run before any host is contacted, instead
//! of silently matching nothing as Salt does after logging an error.
//!
//! Semantics follow Salt's matchers (`salt/matchers/*.py`,
//! `salt.utils.data.subdict_match`, `salt.utils.minions.nodegroup_comp`):
//! - glob: Python `fnmatch` on the id, whole string, case-sensitive (`glob.rs`);
//! - pcre: `re.match`, anchored at the start only;
//! - list: comma-separated ids, exact (we also trim spaces around commas);
//! - grain / grain_pcre: `subdict_match`, see `grain.rs`;
//! - pillar / pillar_pcre: the same `subdict_match` on the host's pillar,
//!   compiled on the controller from the host's own grains (Salt's
//!   `pillar_match` / `pillar_pcre_match`);
//! - ipcidr: an address or network against the `ipv4`/`ipv6` grain;
//! - nodegroup: the inventory's groups, expanded in place, loops rejected;
//! - compound: boolean combinations of all the above, see `compound.rs`.
//!
//! A host's pillar is costly to know (grains, then a render on the
//! controller), so [`Target::decide`] evaluates with three values: a pillar
//! matcher on a host whose pillar is not given is "unknown", and `and`/`or`
//! short-circuit around it (`web* and I@role:db` is decided for `db1` by the
//! glob alone). Only the hosts left undecided need their pillar compiled.

mod compound;
mod glob;

/// Python `fnmatch` as a whole-string regex (Salt's glob semantics), for
/// every other place that takes a Salt glob: requisites, `exclude: sls`,
/// `pkg.version` names, `file.recurse`'s `include_pat` / `exclude_pat`.
pub(crate) fn fnmatch(pattern: &str) -> Result<regex::Regex, String> {
    glob::compile(pattern)
}
mod grain;

/// Python's `repr()` of a string, shared with the renderer's `%r` and str().
pub(crate) use grain::python_quote;

/// A compiled target pattern: a glob (always the regex crate) or a Salt
/// regex, read with Python `re` syntax (look-around and backreferences
/// through fancy-regex).
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    Glob(Regex),
    Python(fancy_regex::Regex),
}

impl Pattern {
    /// A Salt regex (`re.match`: anchored at the start only).
    fn python(pattern: &str, case_insensitive: bool) -> Result<Pattern, String> {
        fancy_regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map(Pattern::Python)
            .map_err(|fancy| {
                // The regex crate names a plain syntax error more precisely;
                // what it merely does not support is fancy-regex's to explain.
                match regex::RegexBuilder::new(pattern)
                    .case_insensitive(case_insensitive)
                    .build()
                {
                    Err(e) if !e.to_string().contains("not supported") => regex_reason(&e),
                    _ => format!("bad regex: {fancy}"),
                }
            })
    }

    /// Whether the pattern matches `text` from its first character (a
    /// glob is anchored at both ends already). A regex too costly to
    /// decide (fancy-regex's backtrack limit) does not match.
    fn matches_at_start(&self, text: &str) -> bool {
        match self {
            Pattern::Glob(re) => re.find(text).is_some_and(|m| m.start() == 0),
            Pattern::Python(re) => re.find(text).ok().flatten().is_some_and(|m| m.start() == 0),
        }
    }
}

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::inventory::Group;
use crate::Value;

use compound::Failure;
use grain::{GrainMatcher, Subject};

/// Which matcher a target expression uses (one CLI flag each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Glob,
    Pcre,
    List,
    Grain,
    GrainPcre,
    Pillar,
    PillarPcre,
    Ipcidr,
    Nodegroup,
    Compound,
}

impl TargetType {
    /// Every kind, in Salt's order.
    pub const ALL: [TargetType; 10] = [
        TargetType::Glob,
        TargetType::Pcre,
        TargetType::List,
        TargetType::Grain,
        TargetType::GrainPcre,
        TargetType::Pillar,
        TargetType::PillarPcre,
        TargetType::Ipcidr,
        TargetType::Nodegroup,
        TargetType::Compound,
    ];

    /// The kind Salt names `name` (`tgt_type`, a top file's `match:`).
    pub fn from_name(name: &str) -> Option<TargetType> {
        TargetType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name used in messages and serialized output (`grain_pcre`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TargetType::Glob => "glob",
            TargetType::Pcre => "pcre",
            TargetType::List => "list",
            TargetType::Grain => "grain",
            TargetType::GrainPcre => "grain_pcre",
            TargetType::Pillar => "pillar",
            TargetType::PillarPcre => "pillar_pcre",
            TargetType::Ipcidr => "ipcidr",
            TargetType::Nodegroup => "nodegroup",
            TargetType::Compound => "compound",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a matcher may look at for one host.
#[derive(Debug, Clone, Copy)]
pub struct MatchCtx<'a> {
    pub id: &'a str,
    /// The host's grains (gathered merged with static); `Value::Null` when not known.
    pub grains: &'a Value,
    /// The host's compiled pillar; `None` when not compiled (yet): pillar
    /// matchers are then undecided (see [`Target::decide`]).
    pub pillar: Option<&'a Value>,
}

impl<'a> MatchCtx<'a> {
    /// A host known by id and grains, pillar not compiled.
    pub fn new(id: &'a str, grains: &'a Value) -> MatchCtx<'a> {
        MatchCtx {
            id,
            grains,
            pillar: None,
        }
    }

    /// The same host with its compiled pillar.
    pub fn with_pillar(self, pillar: &'a Value) -> MatchCtx<'a> {
        MatchCtx {
            pillar: Some(pillar),
            ..self
        }
    }
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
    root: Node,
    needs_grains: bool,
    needs_pillar: bool,
}

impl Target {
    /// Parse `expr` as `kind`; `groups` are the inventory's nodegroups.
    pub fn parse(
        kind: TargetType,
        expr: &str,
        groups: &BTreeMap<String, Group>,
    ) -> Result<Target, TargetError> {
        Target::parse_with(kind, expr, groups, ':')
    }

    /// [`Target::parse`] with `delimiter` between the keys of a grain or
    /// pillar expression (`-G`, `-P`, `-I`, `-J`: Salt's `--delimiter`).
    pub fn parse_with(
        kind: TargetType,
        expr: &str,
        groups: &BTreeMap<String, Group>,
        delimiter: char,
    ) -> Result<Target, TargetError> {
        let invalid = |reason: String| TargetError::Invalid {
            expr: expr.to_string(),
            reason,
        };
        // An empty regex matches every id (`re.match('', id)`), as in Salt;
        // every other empty expression names nothing.
        if expr.trim().is_empty() && !(kind == TargetType::Pcre && expr.is_empty()) {
            return Err(invalid("empty expression".to_string()));
        }
        let mut builder = Builder {
            groups,
            stack: Vec::new(),
        };
        let parsed = match kind {
            TargetType::Glob => glob_node(expr).map_err(Failure::Here),
            TargetType::Pcre => pcre_node(expr).map_err(Failure::Here),
            TargetType::List => list_node(expr).map_err(Failure::Here),
            TargetType::Grain => grain_node(expr, delimiter, false).map_err(Failure::Here),
            TargetType::GrainPcre => grain_node(expr, delimiter, true).map_err(Failure::Here),
            TargetType::Pillar => pillar_node(expr, delimiter, false).map_err(Failure::Here),
            TargetType::PillarPcre => pillar_node(expr, delimiter, true).map_err(Failure::Here),
            TargetType::Ipcidr => ipcidr_node(expr).map_err(Failure::Here),
            TargetType::Nodegroup => builder.nodegroup(expr, 0),
            TargetType::Compound => compound::parse(expr, &mut builder, 0),
        };
        let root = parsed.map_err(|failure| match failure {
            Failure::Here(reason) => invalid(reason),
            Failure::Nested(err) => err,
        })?;
        Ok(Target {
            kind,
            expr: expr.to_string(),
            needs_grains: root.needs_grains(),
            needs_pillar: root.needs_pillar(),
            root,
        })
    }

    /// True when matching needs the hosts' grains (pillar matchers do too:
    /// a host's pillar is compiled from its grains).
    pub fn needs_grains(&self) -> bool {
        self.needs_grains
    }

    /// True when some host may need its pillar compiled to be matched.
    pub fn needs_pillar(&self) -> bool {
        self.needs_pillar
    }

    /// Whether the host matches; a pillar matcher on a host whose pillar
    /// is not in `ctx` counts as not matching (and so does its negation).
    pub fn matches(&self, ctx: &MatchCtx) -> bool {
        self.root.decide(ctx).unwrap_or(false)
    }

    /// Whether the host matches, or `None` when that depends on the pillar
    /// and `ctx` has none: Kleene's three-valued logic, so `and`/`or`
    /// decide without the pillar whenever the other matchers suffice.
    pub fn decide(&self, ctx: &MatchCtx) -> Option<bool> {
        self.root.decide(ctx)
    }

    /// The matcher given to [`Target::parse`].
    pub fn kind(&self) -> TargetType {
        self.kind
    }

    /// The expression as given to [`Target::parse`].
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// For messages: "glob `web*`", "compound `G@os:Debian and web*`".
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.kind, self.expr)
    }
}

/// A checked matcher tree.
#[derive(Debug, Clone)]
enum Node {
    /// fnmatch on the id, compiled to a whole-string regex.
    Glob(Regex),
    /// `re.match` on the id.
    Pcre(Pattern),
    List(Vec<String>),
    Grain(Box<GrainMatcher>),
    /// The same matcher on the host's pillar.
    Pillar(Box<GrainMatcher>),
    Ip(IpTarget),
    Not(Box<Node>),
    All(Vec<Node>),
    Any(Vec<Node>),
}

impl Node {
    fn all(items: Vec<Node>) -> Node {
        match <[Node; 1]>::try_from(items) {
            Ok([one]) => one,
            Err(items) => Node::All(items),
        }
    }

    fn any(items: Vec<Node>) -> Node {
        match <[Node; 1]>::try_from(items) {
            Ok([one]) => one,
            Err(items) => Node::Any(items),
        }
    }

    fn needs_grains(&self) -> bool {
        match self {
            Node::Grain(_) | Node::Pillar(_) | Node::Ip(_) => true,
            Node::Glob(_) | Node::Pcre(_) | Node::List(_) => false,
            Node::Not(inner) => inner.needs_grains(),
            Node::All(items) | Node::Any(items) => items.iter().any(Node::needs_grains),
        }
    }

    fn needs_pillar(&self) -> bool {
        match self {
            Node::Pillar(_) => true,
            Node::Glob(_) | Node::Pcre(_) | Node::List(_) | Node::Grain(_) | Node::Ip(_) => false,
            Node::Not(inner) => inner.needs_pillar(),
            Node::All(items) | Node::Any(items) => items.iter().any(Node::needs_pillar),
        }
    }

    /// `None`: depends on a pillar `ctx` does not have.
    fn decide(&self, ctx: &MatchCtx) -> Option<bool> {
        Some(match self {
            Node::Glob(re) => re.is_match(ctx.id),
            // `re.match`: the leftmost match starts at 0 whenever any does.
            Node::Pcre(re) => re.matches_at_start(ctx.id),
            Node::List(ids) => ids.iter().any(|id| id == ctx.id),
            Node::Grain(matcher) => matcher.matches(ctx.grains),
            Node::Pillar(matcher) => matcher.matches(ctx.pillar?),
            Node::Ip(ip) => ip.matches(ctx.grains),
            Node::Not(inner) => !inner.decide(ctx)?,
            // False wins over unknown in `and`, true in `or`.
            Node::All(items) => {
                let mut unknown = false;
                for n in items {
                    match n.decide(ctx) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => unknown = true,
                    }
                }
                return (!unknown).then_some(true);
            }
            Node::Any(items) => {
                let mut unknown = false;
                for n in items {
                    match n.decide(ctx) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
                return (!unknown).then_some(false);
            }
        })
    }
}

/// An `S@` / `-S` target: one address, or a network.
#[derive(Debug, Clone, Copy)]
enum IpTarget {
    Addr(IpAddr),
    Net(IpNet),
}

impl IpTarget {
    fn parse(text: &str) -> Result<IpTarget, String> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<IpAddr>() {
            return Ok(IpTarget::Addr(addr));
        }
        match text.parse::<IpNet>() {
            // Python's ip_network() (strict) rejects host bits; Salt then
            // matches nothing. Saying so is more useful.
            Ok(net) if net.trunc() != net => Err(format!(
                "`{text}` has host bits set (the network is `{}`)",
                net.trunc()
            )),
            Ok(net) => Ok(IpTarget::Net(net)),
            Err(_) => Err(format!(
                "`{text}` is not an IP address or CIDR network (e.g. `10.0.0.0/8`)"
            )),
        }
    }

    fn matches(&self, grains: &Value) -> bool {
        let v6 = match self {
            IpTarget::Addr(addr) => addr.is_ipv6(),
            IpTarget::Net(net) => matches!(net, IpNet::V6(_)),
        };
        // Salt picks the grain by the target's IP version.
        let addrs: Vec<&str> = match grains.get(if v6 { "ipv6" } else { "ipv4" }) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => return false,
        };
        addrs
            .iter()
            // Entries that are not plain addresses (`fe80::1%eth0`) cannot match.
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .any(|addr| match self {
                IpTarget::Addr(target) => addr == *target,
                IpTarget::Net(net) => net.contains(&addr),
            })
    }
}

fn glob_node(pattern: &str) -> Result<Node, String> {
    glob::compile(pattern).map(Node::Glob)
}

fn pcre_node(pattern: &str) -> Result<Node, String> {
    Pattern::python(pattern, false).map(Node::Pcre)
}

/// `-L` / `L@`: ids separated by commas, or by spaces when there is no
/// comma (Salt's command line: `-L 'web1 web2'`). Where both appear Salt
/// deletes the spaces (`web1,web2 db1` names `web2db1`); halite refuses it.
fn list_node(text: &str) -> Result<Node, String> {
    let words: Vec<&str> = if text.contains(',') {
        text.split(',').map(str::trim).collect()
    } else {
        text.split_whitespace().collect()
    };
    if let Some(w) = words.iter().find(|w| w.contains(char::is_whitespace)) {
        return Err(format!(
            "`{w}` is not a host id: separate ids with commas or with spaces, not both"
        ));
    }
    let ids: Vec<String> = words
        .into_iter()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err("the list names no host".to_string());
    }
    Ok(Node::List(ids))
}

fn grain_node(expr: &str, delimiter: char, regex: bool) -> Result<Node, String> {
    GrainMatcher::on(Subject::Grain, expr, delimiter, regex).map(|m| Node::Grain(Box::new(m)))
}

fn pillar_node(expr: &str, delimiter: char, regex: bool) -> Result<Node, String> {
    GrainMatcher::on(Subject::Pillar, expr, delimiter, regex).map(|m| Node::Pillar(Box::new(m)))
}

fn ipcidr_node(text: &str) -> Result<Node, String> {
    IpTarget::parse(text).map(Node::Ip)
}

/// The useful line of a regex error (its `Display` is a multi-line report).
fn regex_reason(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(report) => report
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .map(|msg| format!("bad regex: {msg}"))
            .unwrap_or_else(|| format!("bad regex: {}", report.trim())),
        regex::Error::CompiledTooBig(limit) => {
            format!("regex too large (compiled size over {limit} bytes)")
        }
        other => format!("bad regex: {other}"),
    }
}

/// Expands nodegroups while parsing, tracking the chain to detect loops.
struct Builder<'g> {
    groups: &'g BTreeMap<String, Group>,
    /// Nodegroups being expanded, outermost first.
    stack: Vec<String>,
}

impl Builder<'_> {
    fn nodegroup(&mut self, name: &str, depth: usize) -> Result<Node, Failure> {
        let name = name.trim();
        let Some(group) = self.groups.get(name) else {
            return Err(Failure::Nested(TargetError::UnknownNodegroup(
                name.to_string(),
            )));
        };
        if let Some(start) = self.stack.iter().position(|n| n == name) {
            let mut chain = self.stack[start..].to_vec();
            chain.push(name.to_string());
            return Err(Failure::Here(format!(
                "nodegroup loop: {}",
                chain.join(" -> ")
            )));
        }
        if depth > compound::MAX_DEPTH {
            return Err(Failure::Here(format!(
                "nodegroups nested deeper than {} levels",
                compound::MAX_DEPTH
            )));
        }
        self.stack.push(name.to_string());
        // A list is a list of compound words, as in Salt's nodegroup_comp:
        // `[G@os:Debian, and, web*]` is one expression; plain ids with no
        // operator, matcher or wildcard stay a list of ids.
        let node = match group {
            // An empty list names no host (Salt expands it to nothing).
            Group::List(words) if words.iter().all(|w| w.trim().is_empty()) => {
                Ok(Node::List(Vec::new()))
            }
            Group::List(words) => self.group_expr(name, &words.join(" "), depth),
            Group::Expr(expr) => self.group_expr(name, expr, depth),
        };
        self.stack.pop();
        node
    }

    fn group_expr(&mut self, name: &str, expr: &str, depth: usize) -> Result<Node, Failure> {
        let in_group = |reason: String| {
            Failure::Nested(TargetError::Invalid {
                expr: expr.to_string(),
                reason: format!("{reason} (in nodegroup `{name}`)"),
            })
        };
        if let Some(ids) = plain_id_list(expr) {
            return Ok(Node::List(ids));
        }
        compound::parse(expr, self, depth).map_err(|failure| match failure {
            Failure::Here(reason) => in_group(reason),
            nested => nested,
        })
    }
}

/// Salt's `_nodegroup_regex` rule: a nodegroup definition with no operator,
/// no matcher prefix and no wildcard is a list of ids (`web1,web2` or
/// `web1 web2`), not a compound expression.
///
/// Deliberate difference: when such a definition contains regex characters
/// (`web[12]`), Salt turns it into `E@` (a start-anchored regex). We leave it
/// to the compound parser, i.e. a glob, which is what it reads as.
fn plain_id_list(expr: &str) -> Option<Vec<String>> {
    let words: Vec<&str> = expr.split_whitespace().collect();
    let special = |w: &&str| {
        compound::is_operator(w)
            || compound::has_engine(w)
            || w.contains(['*', '?', '[', ']', '{', '}', '(', ')', '\\'])
    };
    if words.is_empty() || words.iter().any(special) {
        return None;
    }
    Some(
        words
            .iter()
            .flat_map(|w| w.split(','))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Host {
        id: &'static str,
        grains: Value,
        /// Null: not compiled (the matcher is undecided).
        pillar: Value,
    }

    fn fleet() -> Vec<Host> {
        vec![
            Host {
                id: "web1.example.com",
                grains: json!({
                    "os": "Debian", "os_family": "Debian", "roles": ["web", "cache"],
                    "osfullname": "Debian GNU/Linux",
                    "ipv4": ["127.0.0.1", "10.0.1.11"], "ipv6": ["::1", "2001:db8::11"],
                    "virtual": "kvm", "url": "http://a:80/",
                }),
                pillar: json!({"role": "web", "tier": {"name": "front", "ports": [80, 443]}, "apps": ["shop", "blog"], "dc": "eu:paris"}),
            },
            Host {
                id: "web2.example.com",
                grains: json!({
                    "os": "Ubuntu", "os_family": "Debian", "roles": ["web"],
                    "osfullname": "Ubuntu",
                    "ipv4": ["127.0.0.1", "10.0.1.12"], "ipv6": ["::1"],
                    "virtual": "physical",
                }),
                pillar: json!({"role": "web", "tier": {"name": "front", "ports": [80]}, "apps": ["shop"], "secret": {"level": 3}}),
            },
            Host {
                id: "db1.example.com",
                grains: json!({
                    "os": "Rocky", "os_family": "RedHat", "roles": ["db"],
                    "osfullname": "Red Hat Enterprise Linux",
                    "ipv4": ["127.0.0.1", "10.0.2.21"], "ipv6": ["::1", "2001:db8:0:2::21"],
                    "virtual": "kvm",
                }),
                pillar: json!({"role": "db", "tier": {"name": "back"}, "apps": [{"pg": {"version": 15}}]}),
            },
            Host {
                id: "db2.example.com",
                grains: json!({
                    "os": "Rocky", "os_family": "RedHat", "roles": ["db", "backup"],
                    "ipv4": "10.0.2.22", "virtual": "kvm",
                }),
                pillar: json!({"role": "db-replica", "tier": {"name": "back"}, "enabled": false}),
            },
            Host {
                id: "localhost",
                grains: Value::Null,
                pillar: Value::Null,
            },
        ]
    }

    fn groups() -> BTreeMap<String, Group> {
        let mut g = BTreeMap::new();
        let mut add = |name: &str, group: Group| {
            g.insert(name.to_string(), group);
        };
        add("webs", Group::Expr("web*".into()));
        add(
            "dbs",
            Group::List(vec!["db1.example.com".into(), "db2.example.com".into()]),
        );
        add("debian", Group::Expr("G@os_family:Debian".into()));
        add("debian_webs", Group::Expr("N@webs and N@debian".into()));
        add("not_webs", Group::Expr("not N@webs".into()));
        add("all", Group::Expr("N@debian_webs or N@dbs".into()));
        add(
            "legacy_list",
            Group::Expr("db1.example.com,web2.example.com".into()),
        );
        add(
            "legacy_words",
            Group::Expr("db1.example.com web2.example.com".into()),
        );
        add("empty_list", Group::List(vec![]));
        add("self_loop", Group::Expr("web* or N@self_loop".into()));
        add("loop_a", Group::Expr("N@loop_b".into()));
        add("loop_b", Group::Expr("db* and N@loop_a".into()));
        add("broken", Group::Expr("web* and and db*".into()));
        add("uses_broken", Group::Expr("N@broken or db*".into()));
        add("uses_missing", Group::Expr("N@missing".into()));
        add("blank", Group::Expr("  ".into()));
        add("pillar_dbs", Group::Expr("I@role:db*".into()));
        g
    }

    fn parse(kind: TargetType, expr: &str) -> Result<Target, TargetError> {
        Target::parse(kind, expr, &groups())
    }

    fn select(kind: TargetType, expr: &str) -> Vec<&'static str> {
        let target = parse(kind, expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        fleet()
            .into_iter()
            .filter(|h| {
                let ctx = MatchCtx::new(h.id, &h.grains);
                match &h.pillar {
                    Value::Null => target.matches(&ctx),
                    pillar => target.matches(&ctx.with_pillar(pillar)),
                }
            })
            .map(|h| h.id)
            .collect()
    }

    fn short(ids: Vec<&str>) -> Vec<String> {
        ids.iter()
            .map(|id| id.trim_end_matches(".example.com").to_string())
            .collect()
    }

    fn c(expr: &str) -> Vec<String> {
        short(select(TargetType::Compound, expr))
    }

    fn reason(kind: TargetType, expr: &str) -> String {
        match parse(kind, expr) {
            Err(TargetError::Invalid { reason, .. }) => reason,
            other => panic!("{expr}: expected Invalid, got {other:?}"),
        }
    }

    // --- glob ---

    #[test]
    fn glob_matches_whole_id() {
        use TargetType::Glob;
        assert_eq!(select(Glob, "*").len(), 5);
        assert_eq!(short(select(Glob, "web*")), ["web1", "web2"]);
        assert_eq!(short(select(Glob, "*.example.com")).len(), 4);
        assert_eq!(short(select(Glob, "db[!1]*")), ["db2"]);
        assert_eq!(short(select(Glob, "web?.example.com")), ["web1", "web2"]);
        assert!(select(Glob, "web").is_empty());
        assert!(select(Glob, "WEB*").is_empty());
        assert_eq!(select(Glob, "localhost"), ["localhost"]);
    }

    #[test]
    fn glob_never_needs_grains() {
        assert!(!parse(TargetType::Glob, "*").unwrap().needs_grains());
    }

    // --- pcre ---

    #[test]
    fn pcre_is_anchored_at_start_only() {
        use TargetType::Pcre;
        assert_eq!(short(select(Pcre, r"web\d")), ["web1", "web2"]);
        assert_eq!(short(select(Pcre, "db")), ["db1", "db2"]);
        assert!(select(Pcre, "example").is_empty());
        assert_eq!(short(select(Pcre, ".*example")).len(), 4);
        assert_eq!(short(select(Pcre, r"(web|db)1\.")), ["web1", "db1"]);
        assert_eq!(select(Pcre, "local$"), Vec::<&str>::new());
        assert_eq!(select(Pcre, "localhost$"), ["localhost"]);
        // Alternation cannot escape the start anchor.
        assert!(select(Pcre, "x|.*2").contains(&"web2.example.com"));
        assert!(select(Pcre, "x|b").is_empty());
    }

    #[test]
    fn pcre_errors_name_the_problem() {
        let r = reason(TargetType::Pcre, "web(");
        assert_eq!(r, "bad regex: unclosed group");
        // Python's look-around and backreferences are regexes too.
        assert_eq!(
            short(select(TargetType::Pcre, "(?!web)")).len(),
            fleet().len() - 2
        );
        let r = reason(TargetType::Pcre, "(a)\\2");
        assert!(r.starts_with("bad regex: "), "{r}");
    }

    // --- list ---

    #[test]
    fn list_is_exact_and_tolerates_spaces() {
        use TargetType::List;
        assert_eq!(
            short(select(List, "web1.example.com,db2.example.com")),
            ["web1", "db2"]
        );
        assert_eq!(
            short(select(List, " web1.example.com , db2.example.com ,")),
            ["web1", "db2"]
        );
        assert!(select(List, "web*").is_empty());
        assert!(select(List, "web1").is_empty());
        assert_eq!(reason(List, ",,"), "the list names no host");
    }

    // --- grain ---

    #[test]
    fn grain_glob() {
        use TargetType::Grain;
        assert_eq!(short(select(Grain, "os:Debian")), ["web1"]);
        assert_eq!(short(select(Grain, "os_family:debian")), ["web1", "web2"]);
        assert_eq!(short(select(Grain, "roles:web*")), ["web1", "web2"]);
        assert_eq!(short(select(Grain, "roles:backup")), ["db2"]);
        // Outside compound expressions the value may contain spaces.
        assert_eq!(short(select(Grain, "osfullname:Red Hat*")), ["db1"]);
        assert_eq!(short(select(Grain, "url:http://a:80/")), ["web1"]);
        assert!(select(Grain, "nosuch:*").is_empty());
        // Hosts with unknown grains never match.
        assert!(!select(Grain, "*:*").contains(&"localhost"));
    }

    #[test]
    fn grain_needs_a_delimiter() {
        let r = reason(TargetType::Grain, "Debian");
        assert!(r.contains("needs a `:`"), "{r}");
        let r = reason(TargetType::GrainPcre, "os");
        assert!(r.contains("needs a `:`"), "{r}");
    }

    #[test]
    fn grain_pcre() {
        use TargetType::GrainPcre;
        assert_eq!(
            short(select(GrainPcre, "os:(debian|ubuntu)$")),
            ["web1", "web2"]
        );
        assert_eq!(short(select(GrainPcre, "os:Rock")), ["db1", "db2"]);
        assert!(select(GrainPcre, "os:ocky").is_empty());
        assert_eq!(short(select(GrainPcre, r"roles:^b\w+$")), ["db2"]);
        let r = reason(GrainPcre, "os:(Red");
        assert!(r.contains("unclosed group"), "{r}");
    }

    #[test]
    fn grain_kinds_need_grains() {
        for kind in [TargetType::Grain, TargetType::GrainPcre] {
            assert!(parse(kind, "os:x").unwrap().needs_grains());
        }
        assert!(parse(TargetType::Ipcidr, "10.0.0.0/8")
            .unwrap()
            .needs_grains());
    }

    // --- pillar ---

    #[test]
    fn pillar_glob_follows_the_grain_rules() {
        use TargetType::Pillar;
        assert_eq!(short(select(Pillar, "role:web")), ["web1", "web2"]);
        assert_eq!(short(select(Pillar, "role:db*")), ["db1", "db2"]);
        // Case-insensitive, like grains.
        assert_eq!(short(select(Pillar, "role:WEB")), ["web1", "web2"]);
        // Nested keys, list elements, dicts inside lists.
        assert_eq!(short(select(Pillar, "tier:name:back")), ["db1", "db2"]);
        assert_eq!(short(select(Pillar, "tier:ports:443")), ["web1"]);
        assert_eq!(short(select(Pillar, "apps:shop")), ["web1", "web2"]);
        assert_eq!(short(select(Pillar, "apps:pg:version:15")), ["db1"]);
        assert_eq!(short(select(Pillar, "secret:level:3")), ["web2"]);
        // A dict value matches one of its keys exactly.
        assert_eq!(short(select(Pillar, "secret:level")), ["web2"]);
        // The value may contain the delimiter.
        assert_eq!(short(select(Pillar, "dc:eu:paris")), ["web1"]);
        assert_eq!(short(select(Pillar, "enabled:false")), ["db2"]);
        assert!(select(Pillar, "nosuch:*").is_empty());
        // A host whose pillar is not known never matches.
        assert!(!select(Pillar, "*:*").contains(&"localhost"));
    }

    #[test]
    fn pillar_pcre() {
        use TargetType::PillarPcre;
        assert_eq!(
            short(select(PillarPcre, "role:(web|db)$")),
            ["web1", "web2", "db1"]
        );
        // `re.match`: anchored at the start only, case-insensitive.
        assert_eq!(short(select(PillarPcre, "role:DB")), ["db1", "db2"]);
        assert!(select(PillarPcre, "role:eb").is_empty());
        assert_eq!(short(select(PillarPcre, r"tier:ports:4\d+")), ["web1"]);
        let r = reason(PillarPcre, "role:(web");
        assert!(r.contains("unclosed group"), "{r}");
        let r = reason(TargetType::Pillar, "role");
        assert!(r.contains("needs a `:` between the pillar key"), "{r}");
    }

    #[test]
    fn pillar_kinds_need_pillar_and_grains() {
        for kind in [TargetType::Pillar, TargetType::PillarPcre] {
            let t = parse(kind, "role:x").unwrap();
            assert!(t.needs_pillar() && t.needs_grains(), "{kind}");
        }
        for expr in ["web* and I@role:x", "not J@role:x", "N@pillar_dbs"] {
            assert!(parse(TargetType::Compound, expr).unwrap().needs_pillar());
        }
        for (kind, expr) in [
            (TargetType::Grain, "os:x"),
            (TargetType::Compound, "G@os:x or web*"),
            (TargetType::Nodegroup, "debian"),
        ] {
            assert!(!parse(kind, expr).unwrap().needs_pillar(), "{expr}");
        }
        assert_eq!(TargetType::PillarPcre.name(), "pillar_pcre");
    }

    #[test]
    fn pillar_is_decided_only_when_the_rest_cannot_decide() {
        let t = |expr: &str| parse(TargetType::Compound, expr).unwrap();
        let g = json!({"os": "Debian"});
        let web1 = MatchCtx::new("web1", &g);
        let db1 = MatchCtx::new("db1", &g);
        // `and` with a false side, `or` with a true side: no pillar needed.
        assert_eq!(t("web* and I@role:db").decide(&db1), Some(false));
        assert_eq!(t("web* or I@role:db").decide(&web1), Some(true));
        assert_eq!(t("not web* or J@role:x").decide(&db1), Some(true));
        // Otherwise undecided, and `not` keeps it undecided.
        assert_eq!(t("web* and I@role:db").decide(&web1), None);
        assert_eq!(t("web* or I@role:db").decide(&db1), None);
        assert_eq!(t("not I@role:db").decide(&db1), None);
        // `matches` treats undecided as no match, negated or not.
        assert!(!t("not I@role:db").matches(&db1));
        // With the pillar, decided.
        let pillar = json!({"role": "db"});
        assert_eq!(
            t("web* or I@role:db").decide(&db1.with_pillar(&pillar)),
            Some(true)
        );
        assert_eq!(
            t("not I@role:db").decide(&db1.with_pillar(&pillar)),
            Some(false)
        );
        // Targets without pillar matchers are always decided.
        assert_eq!(t("G@os:Debian").decide(&db1), Some(true));
    }

    #[test]
    fn compound_with_pillar() {
        assert_eq!(c("I@role:web and G@os:Ubuntu"), ["web2"]);
        assert_eq!(c("J@role:db and not db2*"), ["db1"]);
        assert_eq!(c("G@os_family:RedHat and not I@role:db"), ["db2"]);
        assert_eq!(c("web* or I@role:db-*"), ["web1", "web2", "db2"]);
        assert_eq!(
            c("( I@tier:name:back or L@web1.example.com ) and not J@role:.*-"),
            ["web1", "db1"]
        );
        // An alternate delimiter keeps `:` in the value.
        assert_eq!(c("I|@dc|eu:paris"), ["web1"]);
        assert_eq!(c("J;@dc;eu:p"), ["web1"]);
        // Unknown pillar (localhost) matches neither `I@` nor `not I@`.
        assert_eq!(c("not I@role:web"), ["db1", "db2"]);
        assert_eq!(c("N@pillar_dbs"), ["db1", "db2"]);
    }

    // --- ipcidr ---

    #[test]
    fn ipcidr_networks_and_addresses() {
        use TargetType::Ipcidr;
        assert_eq!(short(select(Ipcidr, "10.0.1.0/24")), ["web1", "web2"]);
        assert_eq!(short(select(Ipcidr, "10.0.0.0/8")).len(), 4);
        assert_eq!(short(select(Ipcidr, "10.0.2.21")), ["db1"]);
        // A single-string grain works like a one-element list.
        assert_eq!(short(select(Ipcidr, "10.0.2.22/32")), ["db2"]);
        assert_eq!(short(select(Ipcidr, "127.0.0.1")).len(), 3);
        assert!(select(Ipcidr, "192.168.0.0/16").is_empty());
    }

    #[test]
    fn ipcidr_v6_looks_at_the_ipv6_grain() {
        use TargetType::Ipcidr;
        assert_eq!(short(select(Ipcidr, "2001:db8::/32")), ["web1", "db1"]);
        assert_eq!(short(select(Ipcidr, "2001:db8:0:2::/64")), ["db1"]);
        assert_eq!(short(select(Ipcidr, "2001:db8::11")), ["web1"]);
        // The v4 network does not look at v6 addresses and vice versa.
        assert!(select(Ipcidr, "::ffff:0:0/96").is_empty());
    }

    #[test]
    fn ipcidr_errors() {
        use TargetType::Ipcidr;
        let r = reason(Ipcidr, "10.0.0.1/8");
        assert_eq!(
            r,
            "`10.0.0.1/8` has host bits set (the network is `10.0.0.0/8`)"
        );
        let r = reason(Ipcidr, "10.0.0.0/33");
        assert!(r.contains("not an IP address or CIDR"), "{r}");
        let r = reason(Ipcidr, "web*");
        assert!(r.contains("not an IP address or CIDR"), "{r}");
    }

    // --- nodegroup ---

    #[test]
    fn nodegroups_expr_and_list() {
        use TargetType::Nodegroup;
        assert_eq!(short(select(Nodegroup, "webs")), ["web1", "web2"]);
        assert_eq!(short(select(Nodegroup, "dbs")), ["db1", "db2"]);
        assert!(select(Nodegroup, "empty_list").is_empty());
        assert!(!parse(Nodegroup, "webs").unwrap().needs_grains());
        assert!(!parse(Nodegroup, "dbs").unwrap().needs_grains());
    }

    #[test]
    fn nodegroups_nest() {
        use TargetType::Nodegroup;
        assert_eq!(short(select(Nodegroup, "debian_webs")), ["web1", "web2"]);
        assert_eq!(
            short(select(Nodegroup, "all")),
            ["web1", "web2", "db1", "db2"]
        );
        assert_eq!(
            short(select(Nodegroup, "not_webs")),
            ["db1", "db2", "localhost"]
        );
        // Grains needed through two levels of nodegroups.
        assert!(parse(Nodegroup, "all").unwrap().needs_grains());
        assert!(parse(TargetType::Compound, "N@all").unwrap().needs_grains());
    }

    #[test]
    fn nodegroup_plain_word_lists_follow_salt() {
        use TargetType::Nodegroup;
        assert_eq!(short(select(Nodegroup, "legacy_list")), ["web2", "db1"]);
        assert_eq!(short(select(Nodegroup, "legacy_words")), ["web2", "db1"]);
        assert_eq!(plain_id_list("a, b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(plain_id_list("web*"), None);
        assert_eq!(plain_id_list("a or b"), None);
        assert_eq!(plain_id_list("G@os:x"), None);
        assert_eq!(plain_id_list("web[12]"), None);
    }

    #[test]
    fn unknown_nodegroup() {
        assert_eq!(
            parse(TargetType::Nodegroup, "nope").unwrap_err(),
            TargetError::UnknownNodegroup("nope".into())
        );
        assert_eq!(
            parse(TargetType::Compound, "web* or N@nope").unwrap_err(),
            TargetError::UnknownNodegroup("nope".into())
        );
        assert_eq!(
            parse(TargetType::Nodegroup, "uses_missing").unwrap_err(),
            TargetError::UnknownNodegroup("missing".into())
        );
        assert_eq!(
            TargetError::UnknownNodegroup("nope".into()).to_string(),
            "unknown nodegroup `nope`"
        );
    }

    #[test]
    fn nodegroup_loops_are_errors() {
        let err = parse(TargetType::Nodegroup, "self_loop").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid target expression `web* or N@self_loop`: \
             nodegroup loop: self_loop -> self_loop (in nodegroup `self_loop`)"
        );
        let err = parse(TargetType::Compound, "N@loop_a").unwrap_err();
        assert_eq!(
            err,
            TargetError::Invalid {
                expr: "db* and N@loop_a".into(),
                reason: "nodegroup loop: loop_a -> loop_b -> loop_a (in nodegroup `loop_b`)".into(),
            }
        );
        // Using the same group twice is no loop.
        assert_eq!(c("N@webs or N@webs"), ["web1", "web2"]);
        assert_eq!(c("N@debian_webs and N@webs"), ["web1", "web2"]);
    }

    #[test]
    fn errors_inside_nodegroups_name_the_group() {
        let expected = TargetError::Invalid {
            expr: "web* and and db*".into(),
            reason: "expected a target after `and`, found `and` (in nodegroup `broken`)".into(),
        };
        assert_eq!(
            parse(TargetType::Nodegroup, "broken").unwrap_err(),
            expected
        );
        assert_eq!(
            parse(TargetType::Nodegroup, "uses_broken").unwrap_err(),
            expected
        );
        assert_eq!(
            parse(TargetType::Nodegroup, "blank").unwrap_err(),
            TargetError::Invalid {
                expr: "  ".into(),
                reason: "empty expression (in nodegroup `blank`)".into(),
            }
        );
    }

    // --- compound ---

    #[test]
    fn compound_single_matchers() {
        assert_eq!(c("web*"), ["web1", "web2"]);
        assert_eq!(c("G@os:Ubuntu"), ["web2"]);
        assert_eq!(c("P@os:(debian|rocky)"), ["web1", "db1", "db2"]);
        assert_eq!(c(r"E@db\d"), ["db1", "db2"]);
        assert_eq!(c("L@web1.example.com,db2.example.com"), ["web1", "db2"]);
        assert_eq!(c("S@10.0.2.0/24"), ["db1", "db2"]);
        assert_eq!(c("S@10.0.1.11"), ["web1"]);
        assert_eq!(c("N@dbs"), ["db1", "db2"]);
    }

    #[test]
    fn compound_precedence_is_pythons() {
        // `and` binds tighter than `or`.
        assert_eq!(c("db1* or web* and G@os:Ubuntu"), ["web2", "db1"]);
        assert_eq!(c("web* and G@os:Ubuntu or db1*"), ["web2", "db1"]);
        // `not` binds tighter than `and`.
        assert_eq!(c("not web* and *.com"), ["db1", "db2"]);
        assert_eq!(
            c("*.com and not web1* or localhost"),
            ["web2", "db1", "db2", "localhost"]
        );
        // Salt's documented example.
        assert_eq!(c("web* and G@os:Debian or E@db2"), ["web1", "db2"]);
    }

    #[test]
    fn compound_parentheses() {
        assert_eq!(c("( db1* or web* ) and G@os:Ubuntu"), ["web2"]);
        assert_eq!(c("(db1* or web*) and G@os:Ubuntu"), ["web2"]);
        assert_eq!(c("not ( web* or db* )"), ["localhost"]);
        assert_eq!(c("not (web* or db*)"), ["localhost"]);
        assert_eq!(c("((web1*))"), ["web1"]);
        assert_eq!(c("(E@web(1|2)) and G@os:Debian"), ["web1"]);
        assert_eq!(c("G@roles:web and (not G@os:Debian)"), ["web2"]);
    }

    #[test]
    fn compound_not_forms() {
        // Leading `not` (Salt 2015.8+).
        assert_eq!(c("not web*"), ["db1", "db2", "localhost"]);
        // Salt's pre-2015.8 form still works.
        assert_eq!(
            c("* and not G@os_family:RedHat"),
            ["web1", "web2", "localhost"]
        );
        // Salt inserts `and` before a `not` that follows an operand.
        assert_eq!(c("*.com not db*"), ["web1", "web2"]);
        assert_eq!(c("( web* ) not G@os:Debian"), ["web2"]);
        // Hosts with unknown grains do not match a grain, so `not` selects them.
        assert_eq!(c("not G@os:*"), ["localhost"]);
    }

    #[test]
    fn compound_grain_values_with_delimiters_and_spaces() {
        assert_eq!(c("G@url:http://a:80/"), ["web1"]);
        // An alternate delimiter keeps `:` in the value unambiguous.
        assert_eq!(c("G|@url|http://a:80/*"), ["web1"]);
        assert_eq!(c("P;@url;http://a:\\d+/"), ["web1"]);
        // Words split on whitespace: a space in a value has to be a wildcard.
        assert_eq!(c("G@osfullname:Red?Hat*"), ["db1"]);
        assert_eq!(
            reason(TargetType::Compound, "G@osfullname:Red Hat*"),
            "missing `and`/`or` between `G@osfullname:Red` and `Hat*`"
        );
    }

    #[test]
    fn compound_needs_grains_only_with_grain_matchers() {
        use TargetType::Compound;
        assert!(!parse(Compound, "web* or E@db or L@x or N@dbs")
            .unwrap()
            .needs_grains());
        assert!(parse(Compound, "web* or not G@os:x")
            .unwrap()
            .needs_grains());
        assert!(parse(Compound, "web* or P@os:x").unwrap().needs_grains());
        assert!(parse(Compound, "web* or S@10.0.0.0/8")
            .unwrap()
            .needs_grains());
        assert!(parse(Compound, "N@debian").unwrap().needs_grains());
    }

    #[test]
    fn compound_syntax_errors() {
        use TargetType::Compound;
        let cases = [
            ("and web*", "an expression cannot start with `and`"),
            ("or web*", "an expression cannot start with `or`"),
            ("web* and", "expected a target after `and`"),
            ("web* or", "expected a target after `or`"),
            ("not", "expected a target after `not`"),
            ("web* db*", "missing `and`/`or` between `web*` and `db*`"),
            ("web* (db*)", "missing `and`/`or` between `web*` and `(`"),
            ("( web* or db* ) web1", "missing `and`/`or` between `)` and `web1`"),
            ("( web* db* )", "missing `and`/`or` between `web*` and `db*`"),
            ("( and web* )", "expected a target after `(`, found `and`"),
            ("web* and or db*", "expected a target after `and`, found `or`"),
            ("web* and )", "expected a target after `and`, found `)`"),
            ("( web*", "unclosed `(`: missing `)`"),
            ("((web*)", "unclosed `(`: missing `)`"),
            ("web* )", "unbalanced `)` after `web*`"),
            (")", "an expression cannot start with `)`"),
            ("( )", "empty parentheses `( )`"),
            ("web* and ()", "empty parentheses `( )`"),
            ("not not web*", "`not not` is not allowed (Salt reads it as `not and not`)"),
            ("G@os", "`G@os`: `os` needs a `:` between the grain name and the value pattern (e.g. `os:Debian`)"),
            ("G;@os:x", "`G;@os:x`: `os:x` needs a `;` between the grain name and the value pattern (e.g. `os;Debian`)"),
            ("E@web(", "`E@web(`: bad regex: unclosed group"),
            ("P@os:[", "`P@os:[`: pattern `[`: bad regex: unclosed character class"),
            ("S@10.0.0.0/40", "`S@10.0.0.0/40`: `10.0.0.0/40` is not an IP address or CIDR network (e.g. `10.0.0.0/8`)"),
            ("L@,", "`L@,`: the list names no host"),
            ("G@", "`G@`: nothing after `@`"),
            ("I@role", "`I@role`: `role` needs a `:` between the pillar key and the value pattern (e.g. `role:web`)"),
            ("J;@role:w", "`J;@role:w`: `role:w` needs a `;` between the pillar key and the value pattern (e.g. `role;web`)"),
            ("J@role:w(", "`J@role:w(`: pattern `w(`: bad regex: unclosed group"),
            ("I@", "`I@`: nothing after `@`"),
            ("R@%cluster", "`R@%cluster`: range targeting (`R@`) is not supported"),
            ("X@foo", "`X@foo`: unknown matcher `X@` (known: G@ P@ I@ J@ E@ L@ S@ N@)"),
            ("   ", "empty expression"),
        ];
        for (expr, expected) in cases {
            assert_eq!(reason(Compound, expr), expected, "expression `{expr}`");
        }
    }

    #[test]
    fn invalid_error_names_the_whole_expression() {
        let err = parse(TargetType::Compound, "web* and E@(").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid target expression `web* and E@(`: `E@(`: bad regex: unclosed group"
        );
    }

    #[test]
    fn empty_expressions_are_errors_for_every_kind() {
        for kind in TargetType::ALL
            .into_iter()
            .filter(|k| *k != TargetType::Pcre)
        {
            assert_eq!(reason(kind, ""), "empty expression", "{kind}");
        }
        // Except an empty regex: it matches every id, as `re.match` does.
        assert_eq!(select(TargetType::Pcre, "").len(), fleet().len());
        assert_eq!(reason(TargetType::Pcre, " "), "empty expression");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let ok = format!("{}web1*{}", "( ".repeat(60), " )".repeat(60));
        assert_eq!(c(&ok), ["web1"]);
        let deep = format!("{}web1*{}", "(".repeat(10_000), ")".repeat(10_000));
        let r = reason(TargetType::Compound, &deep);
        assert_eq!(r, "nested deeper than 64 levels");
    }

    #[test]
    fn nodegroup_chains_are_bounded() {
        let mut groups = BTreeMap::new();
        for i in 0..200 {
            groups.insert(format!("g{i}"), Group::Expr(format!("N@g{}", i + 1)));
        }
        groups.insert("g200".to_string(), Group::Expr("web*".to_string()));
        let err = Target::parse(TargetType::Nodegroup, "g0", &groups).unwrap_err();
        assert!(err.to_string().contains("nested deeper than"), "{err}");
        let t = Target::parse(TargetType::Nodegroup, "g190", &groups).unwrap();
        assert!(t.matches(&MatchCtx::new("web1", &Value::Null)));
    }

    #[test]
    fn describe_and_accessors() {
        let t = parse(TargetType::Compound, "G@os:Debian and web*").unwrap();
        assert_eq!(t.describe(), "compound `G@os:Debian and web*`");
        assert_eq!(t.kind(), TargetType::Compound);
        assert_eq!(t.expr(), "G@os:Debian and web*");
        assert_eq!(TargetType::GrainPcre.to_string(), "grain_pcre");
        assert_eq!(
            serde_json::to_value(TargetType::GrainPcre).unwrap(),
            json!(TargetType::GrainPcre.name())
        );
    }

    /// `-L` splits as Salt's command line does (the `cli_list` cases of
    /// tests/compat/targeting.json), except where Salt deletes spaces.
    #[test]
    fn list_splits_as_salts_command_line() {
        let doc: Value =
            serde_json::from_str(include_str!("../../tests/compat/targeting.json")).unwrap();
        for case in doc["cli_list"].as_array().unwrap() {
            let arg = case["arg"].as_str().unwrap();
            let salt: Vec<String> = serde_json::from_value(case["tgt"].clone()).unwrap();
            match list_node(arg) {
                Ok(Node::List(ids)) => assert_eq!(ids, salt, "{arg:?}"),
                Ok(other) => panic!("{other:?}"),
                Err(e) => {
                    assert!(
                        arg.contains(',') && arg.trim().contains(' '),
                        "{arg:?}: {e}"
                    );
                    assert!(salt.iter().any(|id| !arg.contains(id.as_str())), "{arg:?}");
                }
            }
        }
    }

    /// Salt's own matchers on the same fleet and expressions
    /// (tests/compat/targeting.json, from tests/compat/gen_targeting.py
    /// with Salt 3008.3): the same hosts, case by case.
    #[test]
    fn matches_what_salts_matchers_match() {
        let doc: Value =
            serde_json::from_str(include_str!("../../tests/compat/targeting.json")).unwrap();
        let groups: BTreeMap<String, Group> = doc["nodegroups"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, g)| {
                let group = match g {
                    Value::String(s) => Group::Expr(s.clone()),
                    Value::Array(items) => Group::List(
                        items
                            .iter()
                            .map(|i| i.as_str().unwrap().to_string())
                            .collect(),
                    ),
                    other => panic!("{other}"),
                };
                (name.clone(), group)
            })
            .collect();
        let hosts = doc["hosts"].as_object().unwrap();
        let mut wrong = Vec::new();
        for case in doc["cases"].as_array().unwrap() {
            let kind = TargetType::from_name(case["type"].as_str().unwrap()).unwrap();
            let expr = case["expr"].as_str().unwrap();
            let delimiter = case["delimiter"]
                .as_str()
                .map_or(':', |d| d.chars().next().unwrap());
            let want: Vec<&str> = case["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let target = match Target::parse_with(kind, expr, &groups, delimiter) {
                Ok(t) => t,
                Err(e) => {
                    wrong.push(format!("{kind} `{expr}`: {e}"));
                    continue;
                }
            };
            let got: Vec<&str> = hosts
                .iter()
                .filter(|(id, h)| {
                    let mut grains = h["grains"].clone();
                    grains["id"] = json!(id);
                    let ctx = MatchCtx::new(id, &grains).with_pillar(&h["pillar"]);
                    target.matches(&ctx)
                })
                .map(|(id, _)| id.as_str())
                .collect();
            if got != want {
                wrong.push(format!("{kind} `{expr}`: halite {got:?}, Salt {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
