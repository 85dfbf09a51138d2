//! `host.present`, `host.absent` and `host.only`: a host name on an
//! address in `/etc/hosts`, or exactly these names on it, as Salt's
//! `salt.states.host` edits it through `salt.modules.hosts`.
//!
//! The plan replays Salt's edits on the controller, in Salt's order (add,
//! comment, remove) and with Salt's own rewriting: adding a name or a
//! comment rewrites the whole file from its parsed entries (one line per
//! address, lines of one address merged, blank lines dropped, `ADDR\t\tNAMES`),
//! removing a name edits only the lines of that address. The apply makes
//! the same edits (in awk) on the file as it then is, so the states of one
//! run compose as Salt's writes one after the other do, and copies the
//! result into the file in place, as Salt does (a container's
//! `/etc/hosts` is a bind mount).
//! Salt's warning about the name on another address (without `clean`)
//! is added to the comment: halite's results carry no `warnings`.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;

use super::conffile;
use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "host",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure the host name `name` is on the address(es) `ip` in /etc/hosts (comment, clean).",
            args: &["ip", "comment", "clean"],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the host name `name` is not on the address(es) `ip` in /etc/hosts.",
            args: &["ip"],
            build: build_absent,
        },
        FnDef {
            name: "only",
            doc: "Ensure the address `name` carries exactly `hostnames` (in order) in /etc/hosts; an empty list removes its lines.",
            args: &["hostnames"],
            build: build_only,
        },
    ],
    ledger: &[],
};

/// Salt's `hosts.file` default.
const HOSTS: &str = "/etc/hosts";
const TAG: &str = "halite-host:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    ip: Value,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    clean: bool,
}

#[derive(Debug)]
struct Host {
    name: String,
    ips: Vec<String>,
    comment: Option<String>,
    clean: bool,
    present: bool,
}

/// The new file, the hash of the one read, and the comment once done.
#[derive(Debug, PartialEq)]
struct Todo {
    /// The file the plan expects (from the file the probe read).
    content: String,
    /// The edits, made by the apply on the file as it then is.
    ops: Vec<Op>,
    done: String,
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, true)
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlyArgs {
    hostnames: Value,
}

/// `host.only`: the address `ip` with exactly `hostnames`.
#[derive(Debug)]
struct Only {
    ip: String,
    hostnames: Vec<String>,
}

fn build_only(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: OnlyArgs = super::typed_args(chunk)?;
    word(chunk, "the address", &chunk.name)?;
    let one = |v: &Value| match v {
        Value::String(s) => {
            let s = s.trim().to_string();
            word(chunk, "the host name", &s)?;
            Ok(s)
        }
        other => Err(format!(
            "{}: hostnames: `{other}` is not a host name",
            chunk.describe()
        )),
    };
    let hostnames = match &a.hostnames {
        Value::Array(l) => l.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        v => vec![one(v)?],
    };
    Ok(Box::new(Only {
        ip: chunk.name.clone(),
        hostnames,
    }))
}

fn word(chunk: &Chunk, what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '#') {
        return Err(format!(
            "{}: {what} `{s}` must be one word without `#`",
            chunk.describe()
        ));
    }
    Ok(())
}

fn build(chunk: &Chunk, present: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    word(chunk, "the host name", &chunk.name)?;
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "{}: ip `{other}` is not an address",
            chunk.describe()
        )),
    };
    let ips = match &a.ip {
        Value::Array(l) => l.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        v => vec![one(v)?],
    };
    for ip in &ips {
        word(chunk, "ip", ip)?;
    }
    if let Some(c) = &a.comment {
        if c.contains(['\n', '\r']) {
            return Err(format!("{}: comment must be one line", chunk.describe()));
        }
    }
    if !present && (a.comment.is_some() || a.clean) {
        return Err(format!(
            "{}: host.absent takes no comment or clean",
            chunk.describe()
        ));
    }
    Ok(Box::new(Host {
        name: chunk.name.clone(),
        ips,
        comment: a.comment.filter(|c| !c.is_empty()),
        clean: a.clean,
        present,
    }))
}

// ---- Salt's hosts module, on text ----------------------------------------

/// One entry of Salt's `_list_hosts`: a comment line, or an address with
/// its names (every line of the address merged) and comment.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Comment(String),
    Addr {
        ip: String,
        aliases: Vec<String>,
        comment: Option<String>,
    },
}

fn list_hosts(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            out.push(Entry::Comment(line.to_string()));
            continue;
        }
        let (hosts, comment) = match line.split_once('#') {
            Some((h, c)) => (h.trim(), Some(c.trim_start().to_string())),
            None => (line, None),
        };
        let mut words = hosts.split_whitespace().map(str::to_string);
        let Some(ip) = words.next() else { continue };
        let found = out
            .iter_mut()
            .find(|e| matches!(e, Entry::Addr { ip: i, .. } if *i == ip));
        match found {
            Some(Entry::Addr {
                aliases,
                comment: c,
                ..
            }) => {
                aliases.extend(words);
                if comment.as_ref().is_some_and(|c| !c.is_empty()) {
                    *c = comment;
                }
            }
            _ => out.push(Entry::Addr {
                ip,
                aliases: words.collect(),
                comment: comment.filter(|c| !c.is_empty()),
            }),
        }
    }
    out
}

fn aliases<'a>(hosts: &'a [Entry], ip: &str) -> Option<(&'a [String], Option<&'a String>)> {
    hosts.iter().find_map(|e| match e {
        Entry::Addr {
            ip: i,
            aliases,
            comment,
        } if i == ip => Some((aliases.as_slice(), comment.as_ref())),
        _ => None,
    })
}

/// Salt's `_write_hosts`.
fn write_hosts(hosts: &[Entry]) -> String {
    let mut s = String::new();
    for e in hosts {
        let line = match e {
            Entry::Comment(c) => c.clone(),
            Entry::Addr {
                ip,
                aliases,
                comment: Some(c),
            } => format!("{ip}\t\t{}\t\t# {c}", aliases.join(" ")),
            Entry::Addr { ip, aliases, .. } => format!("{ip}\t\t{}", aliases.join(" ")),
        };
        if !line.trim().is_empty() {
            s.push_str(line.trim());
            s.push('\n');
        }
    }
    s
}

fn has_pair(text: &str, ip: &str, alias: &str) -> bool {
    aliases(&list_hosts(text), ip).is_some_and(|(a, _)| a.iter().any(|x| x == alias))
}

/// Salt's `add_host`: nothing written when the pair is there.
fn add_host(text: &str, ip: &str, alias: &str) -> String {
    if has_pair(text, ip, alias) {
        return text.to_string();
    }
    let mut hosts = list_hosts(text);
    match hosts
        .iter_mut()
        .find(|e| matches!(e, Entry::Addr { ip: i, .. } if i == ip))
    {
        Some(Entry::Addr { aliases, .. }) => aliases.push(alias.to_string()),
        _ => hosts.push(Entry::Addr {
            ip: ip.to_string(),
            aliases: vec![alias.to_string()],
            comment: None,
        }),
    }
    write_hosts(&hosts)
}

/// Salt's `set_comment`: nothing written when the address is not there
/// or already has the comment.
fn set_comment(text: &str, ip: &str, comment: &str) -> String {
    let mut hosts = list_hosts(text);
    match aliases(&hosts, ip) {
        None => return text.to_string(),
        Some((_, c)) if c.map(String::as_str) == Some(comment) => return text.to_string(),
        Some(_) => {}
    }
    for e in &mut hosts {
        if let Entry::Addr {
            ip: i, comment: c, ..
        } = e
        {
            if i == ip {
                *c = Some(comment.to_string());
            }
        }
    }
    write_hosts(&hosts)
}

/// Salt's `rm_host`: only the address's own lines change; nothing
/// written when the pair is not there.
fn rm_host(text: &str, ip: &str, alias: &str) -> String {
    if !has_pair(text, ip, alias) {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let (info, comment) = match t.split_once('#') {
            Some((h, c)) => (h, Some(c.trim_start())),
            None => (t, None),
        };
        let comps: Vec<&str> = info.split_whitespace().collect();
        if comps.first() != Some(&ip) {
            out.push_str(line);
            continue;
        }
        let mut newline = format!("{ip}\t\t");
        for existing in &comps[1..] {
            if *existing != alias {
                newline.push_str(existing);
                newline.push(' ');
            }
        }
        if newline.trim() == ip {
            continue;
        }
        if let Some(c) = comment.filter(|c| !c.is_empty()) {
            newline.push_str(&format!("# {c}"));
        }
        newline.push('\n');
        out.push_str(&newline);
    }
    out
}

/// Salt's `set_host`: the first line of the address becomes `IP\t\tNAMES`
/// (or goes, when NAMES is blank), its other lines go, and an address not
/// in the file is appended.
fn set_host(text: &str, ip: &str, names: &str) -> String {
    let line = (!names.trim().is_empty()).then(|| format!("{ip}\t\t{names}\n"));
    let mut out = String::new();
    let mut done = false;
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.split_whitespace().next() != Some(ip) {
            out.push_str(l);
            out.push('\n');
        } else if !done {
            done = true;
            out.push_str(line.as_deref().unwrap_or_default());
        }
    }
    if !done {
        out.push_str(line.as_deref().unwrap_or_default());
    }
    out
}

/// The edits above in awk, for the apply: the same rules on the file as
/// it is when the apply runs, so that the states of one run editing
/// /etc/hosts compose as Salt's one-after-the-other writes do. Tested
/// against the Rust functions through `sh`.
const AWK: &str = r##"function trim(s) { gsub(/^[ \t\r\f\v]+|[ \t\r\f\v]+$/, "", s); return s }
{ L[NR] = $0 }
END {
  op = ENVIRON["H_OP"]; ip = ENVIRON["H_IP"]; arg = ENVIRON["H_ARG"]; n = 0
  for (i = 1; i <= NR; i++) {
    t = trim(L[i]); if (t == "") continue
    if (substr(t, 1, 1) == "#") { n++; kind[n] = "c"; txt[n] = t; continue }
    c = ""; h = t; j = index(t, "#")
    if (j > 0) { c = substr(t, j + 1); sub(/^[ \t\r\f\v]+/, "", c); h = trim(substr(t, 1, j - 1)) }
    m = split(h, w, /[ \t\r\f\v]+/); a = w[1]
    if (!(a in idx)) { n++; kind[n] = "a"; addr[n] = a; al[n] = ""; cm[n] = ""; idx[a] = n }
    k = idx[a]
    for (q = 2; q <= m; q++) al[k] = (al[k] == "" ? w[q] : al[k] " " w[q])
    if (c != "") cm[k] = c
  }
  if (op == "set") {
    nl = (trim(arg) == "" ? "" : ip "\t\t" arg); done = 0
    for (i = 1; i <= NR; i++) {
      t = trim(L[i]); split(t, w, /[ \t\r\f\v]+/)
      if (t == "" || substr(t, 1, 1) == "#" || w[1] != ip) { print L[i]; continue }
      if (!done && nl != "") print nl
      done = 1
    }
    if (!done && nl != "") print nl
    exit
  }
  pair = 0
  if (ip in idx) { m = split(al[idx[ip]], w, " "); for (q = 1; q <= m; q++) if (w[q] == arg) pair = 1 }
  if ((op == "add" && pair) || (op == "rm" && !pair) || (op == "comment" && (!(ip in idx) || cm[idx[ip]] == arg))) {
    for (i = 1; i <= NR; i++) print L[i]; exit
  }
  if (op == "rm") {
    for (i = 1; i <= NR; i++) {
      t = trim(L[i]); if (t == "" || substr(t, 1, 1) == "#") { print L[i]; continue }
      c = ""; h = t; j = index(t, "#")
      if (j > 0) { c = substr(t, j + 1); sub(/^[ \t\r\f\v]+/, "", c); h = substr(t, 1, j - 1) }
      m = split(trim(h), w, /[ \t\r\f\v]+/)
      if (w[1] != ip) { print L[i]; continue }
      nl = ip "\t\t"
      for (q = 2; q <= m; q++) if (w[q] != arg) nl = nl w[q] " "
      if (trim(nl) == ip) continue
      if (c != "") nl = nl "# " c
      print nl
    }
    exit
  }
  if (op == "add") {
    if (ip in idx) { k = idx[ip]; al[k] = (al[k] == "" ? arg : al[k] " " arg) }
    else { n++; kind[n] = "a"; addr[n] = ip; al[n] = arg; cm[n] = ""; idx[ip] = n }
  } else cm[idx[ip]] = arg
  for (k = 1; k <= n; k++) {
    if (kind[k] == "c") line = txt[k]
    else if (cm[k] != "") line = addr[k] "\t\t" al[k] "\t\t# " cm[k]
    else line = addr[k] "\t\t" al[k]
    line = trim(line); if (line != "") print line
  }
}"##;

/// Shell lines making `ops` on the hosts file `path` in place (created
/// empty if missing, as Salt does).
fn apply_snippet(path: &str, ops: &[Op]) -> String {
    let pipeline: Vec<String> = ops
        .iter()
        .map(|o| {
            format!(
                "H_OP={} H_IP={} H_ARG={} awk \"$prog\"",
                quote(o.op),
                quote(&o.ip),
                quote(&o.arg)
            )
        })
        .collect();
    format!(
        "p={}\nprog={}\n[ -e \"$p\" ] || : > \"$p\" || exit 1\n\
         tmp=$(mktemp \"$(dirname -- \"$p\")/.halite.XXXXXX\") || exit 1\n\
         cat -- \"$p\" | {} > \"$tmp\" && cat -- \"$tmp\" > \"$p\"; r=$?\nrm -f -- \"$tmp\"\nexit $r\n",
        quote(path),
        quote(AWK),
        pipeline.join(" | ")
    )
}

// ---- the states ------------------------------------------------------------

/// One of Salt's hosts-file edits: `add` (IP, name), `comment` (IP,
/// comment), `rm` (IP, name), `set` (IP, names).
#[derive(Debug, Clone, PartialEq)]
struct Op {
    op: &'static str,
    ip: String,
    arg: String,
}

impl Op {
    fn run(&self, text: &str) -> String {
        match self.op {
            "add" => add_host(text, &self.ip, &self.arg),
            "comment" => set_comment(text, &self.ip, &self.arg),
            "set" => set_host(text, &self.ip, &self.arg),
            _ => rm_host(text, &self.ip, &self.arg),
        }
    }
}

/// What a plan found to do: `changes`, the test-mode and done comments.
struct Edits {
    text: String,
    ops: Vec<Op>,
    changes: serde_json::Map<String, Value>,
    would: Vec<String>,
    done: Vec<String>,
}

impl Edits {
    fn edit(&mut self, op: &'static str, ip: &str, arg: &str) {
        let op = Op {
            op,
            ip: ip.to_string(),
            arg: arg.to_string(),
        };
        self.text = op.run(&self.text);
        self.ops.push(op);
    }

    fn record(&mut self, key: &str, addr: &str, item: &str, would: String, done: String) {
        let by_addr = self
            .changes
            .entry(key)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object");
        by_addr
            .entry(addr)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("a list")
            .push(json!(item));
        self.would.push(would);
        self.done.push(done);
    }

    fn note(&mut self, comment: String) {
        self.would.push(comment.clone());
        self.done.push(comment);
    }
}

impl Host {
    /// Salt's `host.present`: addresses not in the file first, then the
    /// file's entries in order.
    fn present(&self, e: &mut Edits) -> Result<(), String> {
        let name = &self.name;
        let hosts = list_hosts(&e.text);
        let mut to_add: Vec<&str> = Vec::new();
        let mut comment_on: Vec<&str> = Vec::new();
        let mut to_remove: Vec<String> = Vec::new();
        for ip in &self.ips {
            if aliases(&hosts, ip).is_none() {
                to_add.push(ip);
                if self.comment.is_some() {
                    comment_on.push(ip);
                }
            }
        }
        for h in &hosts {
            let Entry::Addr {
                ip,
                aliases,
                comment,
            } = h
            else {
                continue;
            };
            let named = aliases.contains(name);
            if !self.ips.contains(ip) {
                if named && self.clean {
                    to_remove.push(ip.clone());
                } else if named {
                    e.note(format!("Host {name} present for IP address {ip}. To get rid of this warning, either run this state with 'clean' set to True to remove {name} from {ip}, or add {ip} to the 'ip' argument."));
                }
            } else if named {
                match &self.comment {
                    Some(c) if comment.as_ref() != Some(c) => comment_on.push(ip),
                    _ => e.note(format!("Host {name} ({ip}) already present")),
                }
            } else if ip.parse::<IpAddr>().is_ok() {
                to_add.push(ip);
                if self.comment.is_some() {
                    comment_on.push(ip);
                }
            } else {
                return Err(format!("Invalid IP Address for {name} ({ip})"));
            }
        }
        to_add.dedup();
        comment_on.dedup();
        for ip in to_add {
            e.edit("add", ip, name);
            let (w, d) = (
                format!("Host {name} ({ip}) would be added"),
                format!("Added host {name} ({ip})"),
            );
            e.record("added", ip, name, w, d);
        }
        if let Some(c) = &self.comment {
            for ip in comment_on {
                e.edit("comment", ip, c);
                let (w, d) = (
                    format!("Comment for {ip} ({c}) would be added"),
                    format!("Set comment for host {ip} ({c})"),
                );
                e.record("comment_added", ip, c, w, d);
            }
        }
        for ip in &to_remove {
            e.edit("rm", ip, name);
            let (w, d) = (
                format!("Host {name} ({ip}) would be removed"),
                format!("Removed host {name} ({ip})"),
            );
            e.record("removed", ip, name, w, d);
        }
        Ok(())
    }

    fn absent(&self, e: &mut Edits) {
        let name = &self.name;
        for ip in &self.ips {
            let hosts = list_hosts(&e.text);
            if aliases(&hosts, ip).is_some_and(|(n, _)| n.contains(name)) {
                e.edit("rm", ip, name);
                e.changes.insert("host".into(), json!(name));
                e.would
                    .push(format!("Host {name} ({ip}) needs to be removed"));
                e.done.push(format!("Removed host {name} ({ip})"));
            } else {
                e.note(format!("Host {name} ({ip}) already absent"));
            }
        }
    }
}

/// What every host state reads: the hosts file.
fn probe_hosts() -> String {
    conffile::probe(&quote(HOSTS), TAG)
}

/// The plan's edits, made on the file as it is when the apply runs.
fn apply_edits(plan: &Plan) -> Result<String, PlanMismatch> {
    let t = plan.data::<Todo>()?;
    Ok(apply_snippet(HOSTS, &t.ops))
}

fn finish_edits(plan: &Plan, out: Output) -> Applied {
    match plan.data::<Todo>() {
        Ok(t) => super::finish_with(plan, out, t.done.clone()),
        Err(e) => e.into(),
    }
}

impl StateFunction for Host {
    fn probe(&self) -> String {
        probe_hosts()
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let (read, _) = conffile::parse(out.text, TAG, HOSTS)?;
        let old = read.text.clone().unwrap_or_default();
        let mut e = Edits {
            text: old.clone(),
            ops: Vec::new(),
            changes: serde_json::Map::new(),
            would: Vec::new(),
            done: Vec::new(),
        };
        if self.present {
            self.present(&mut e)?;
        } else {
            self.absent(&mut e);
        }
        if e.changes.is_empty() {
            return Ok(Plan::noop(e.would.join("\n")));
        }
        Ok(
            Plan::change(Value::Object(e.changes), e.would.join("\n")).with_data(Todo {
                content: e.text,
                ops: e.ops,
                done: e.done.join("\n"),
            }),
        )
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        apply_edits(plan)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_edits(plan, out)
    }
}

/// Salt's `host.only`: the names now on the address (every line of it)
/// against the names asked for, in order.
impl StateFunction for Only {
    fn probe(&self) -> String {
        probe_hosts()
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let (read, _) = conffile::parse(out.text, TAG, HOSTS)?;
        let old_text = read.text.clone().unwrap_or_default();
        let ip = &self.ip;
        let old = aliases(&list_hosts(&old_text), ip)
            .map(|(a, _)| a.join(" "))
            .unwrap_or_default();
        let new = self.hostnames.join(" ");
        if old == new {
            return Ok(Plan::noop(format!(
                "IP address {ip} already set to \"{new}\""
            )));
        }
        let op = Op {
            op: "set",
            ip: ip.clone(),
            arg: new.clone(),
        };
        Ok(Plan::change(
            json!({ip.as_str(): {"old": old, "new": new}}),
            format!("Would change {ip} from \"{old}\" to \"{new}\""),
        )
        .with_data(Todo {
            content: op.run(&old_text),
            ops: vec![op],
            done: format!("successfully changed {ip} from \"{old}\" to \"{new}\""),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        apply_edits(plan)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_edits(plan, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("host", function, name, args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("host", function).unwrap().build)(&chunk, &ctx)
    }

    fn plan(f: &dyn StateFunction, hosts: &str) -> Result<Plan, String> {
        let text = format!(
            "{TAG} content\n{}\n{TAG} end\n",
            data_encoding::BASE64.encode(hosts.as_bytes())
        );
        f.plan(Output { text: &text, rc: 0 })
    }

    fn content(p: &Plan) -> &str {
        &p.data::<Todo>().unwrap().content
    }

    const HOSTS: &str = "127.0.0.1\tlocalhost\n\n# The following lines\n::1 localhost ip6-localhost\n10.0.0.1 db # the db\n10.0.0.1 db2\n";

    #[test]
    fn adding_rewrites_the_file_as_salt_does() {
        let f = state("present", "web", json!({"ip": ["10.0.0.2", "10.0.0.1"]})).unwrap();
        let p = plan(f.as_ref(), HOSTS).unwrap();
        assert_eq!(
            content(&p),
            "127.0.0.1\t\tlocalhost\n# The following lines\n::1\t\tlocalhost ip6-localhost\n10.0.0.1\t\tdb db2 web\t\t# the db\n10.0.0.2\t\tweb\n"
        );
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"added": {"10.0.0.2": ["web"], "10.0.0.1": ["web"]}})
        );
        assert_eq!(
            p.comment,
            "Host web (10.0.0.2) would be added\nHost web (10.0.0.1) would be added"
        );
        assert_eq!(
            p.data::<Todo>().unwrap().done,
            "Added host web (10.0.0.2)\nAdded host web (10.0.0.1)"
        );
        // Applied: nothing left to do.
        let again = plan(f.as_ref(), content(&p)).unwrap();
        assert!(again.is_noop());
        assert_eq!(
            again.comment,
            "Host web (10.0.0.1) already present\nHost web (10.0.0.2) already present"
        );
    }

    #[test]
    fn comments_and_clean() {
        let f = state(
            "present",
            "db",
            json!({"ip": "10.0.0.1", "comment": "primary", "clean": true}),
        )
        .unwrap();
        let p = plan(f.as_ref(), "10.0.0.1 db # old\n10.0.0.9 db other\n").unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"comment_added": {"10.0.0.1": ["primary"]}, "removed": {"10.0.0.9": ["db"]}})
        );
        assert_eq!(
            content(&p),
            "10.0.0.1\t\tdb\t\t# primary\n10.0.0.9\t\tother \n"
        );
        // Without clean, the other address is a warning in the comment.
        let f = state("present", "db", json!({"ip": "10.0.0.1"})).unwrap();
        let p = plan(f.as_ref(), "10.0.0.1 db\n10.0.0.9 db\n").unwrap();
        assert!(p.is_noop());
        assert!(
            p.comment.contains("To get rid of this warning"),
            "{}",
            p.comment
        );
    }

    #[test]
    fn absent_removes_the_name_from_its_lines_only() {
        let f = state("absent", "db2", json!({"ip": ["10.0.0.1", "10.0.0.3"]})).unwrap();
        let p = plan(f.as_ref(), HOSTS).unwrap();
        assert_eq!(
            content(&p),
            "127.0.0.1\tlocalhost\n\n# The following lines\n::1 localhost ip6-localhost\n10.0.0.1\t\tdb # the db\n"
        );
        assert_eq!(Value::Object(p.changes.clone()), json!({"host": "db2"}));
        assert_eq!(
            p.comment,
            "Host db2 (10.0.0.1) needs to be removed\nHost db2 (10.0.0.3) already absent"
        );
        assert!(plan(f.as_ref(), "10.0.0.1 db\n").unwrap().is_noop());
    }

    /// The apply's awk makes exactly the Rust edits.
    #[test]
    fn the_apply_edits_are_the_plans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        let op = |op: &'static str, ip: &str, arg: &str| Op {
            op,
            ip: ip.into(),
            arg: arg.into(),
        };
        let cases = [
            vec![op("add", "10.0.0.2", "web"), op("add", "10.0.0.1", "web")],
            vec![
                op("add", "10.0.0.1", "db"),
                op("comment", "10.0.0.1", "new c"),
            ],
            vec![
                op("comment", "10.0.0.9", "none"),
                op("rm", "10.0.0.1", "db2"),
            ],
            vec![
                op("rm", "10.0.0.1", "db"),
                op("rm", "127.0.0.1", "localhost"),
            ],
            vec![op("rm", "10.0.0.1", "nope"), op("comment", "::1", "v6")],
            vec![op("set", "10.0.0.1", "a b"), op("set", "10.0.0.7", "c")],
            vec![op("set", "::1", ""), op("set", "10.0.0.8", "")],
        ];
        for ops in cases {
            std::fs::write(&path, HOSTS).unwrap();
            let want = ops.iter().fold(HOSTS.to_string(), |t, o| o.run(&t));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(apply_snippet(&path.display().to_string(), &ops))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), want, "{ops:?}");
        }
    }

    #[test]
    fn only_sets_the_names_of_an_address() {
        let f = state("only", "10.0.0.1", json!({"hostnames": ["db", " x "]})).unwrap();
        let p = plan(f.as_ref(), HOSTS).unwrap();
        assert_eq!(
            content(&p),
            "127.0.0.1\tlocalhost\n\n# The following lines\n::1 localhost ip6-localhost\n10.0.0.1\t\tdb x\n"
        );
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"10.0.0.1": {"old": "db db2", "new": "db x"}})
        );
        assert_eq!(
            p.comment,
            "Would change 10.0.0.1 from \"db db2\" to \"db x\""
        );
        let again = plan(f.as_ref(), content(&p)).unwrap();
        assert!(again.is_noop());
        assert_eq!(again.comment, "IP address 10.0.0.1 already set to \"db x\"");
        // An empty list removes the address; a new one is appended.
        let f = state("only", "::1", json!({"hostnames": []})).unwrap();
        assert!(!content(&plan(f.as_ref(), HOSTS).unwrap()).contains("::1"));
        let f = state("only", "10.9.9.9", json!({"hostnames": "n"})).unwrap();
        assert!(content(&plan(f.as_ref(), HOSTS).unwrap()).ends_with("db2\n10.9.9.9\t\tn\n"));
        let f = state("only", "10.9.9.9", json!({"hostnames": []})).unwrap();
        assert!(plan(f.as_ref(), HOSTS).unwrap().is_noop());
        assert!(state("only", "10.0.0.1", json!({"hostnames": [1]}))
            .unwrap_err()
            .contains("not a host name"));
        assert!(state("only", "10.0.0.1", json!({"hostnames": ["a b"]}))
            .unwrap_err()
            .contains("one word"));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(state("present", "a b", json!({"ip": "1.2.3.4"}))
            .unwrap_err()
            .contains("one word"));
        assert!(state("present", "a", json!({"ip": 3}))
            .unwrap_err()
            .contains("not an address"));
        assert!(state("present", "a", json!({})).unwrap_err().contains("ip"));
        let f = state("present", "a", json!({"ip": "nope"})).unwrap();
        assert_eq!(
            plan(f.as_ref(), "nope b\n").unwrap_err(),
            "Invalid IP Address for a (nope)"
        );
    }
}
