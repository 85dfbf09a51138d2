//! The drift ledger: what halite manages on a host, kept on that host.
//!
//! Without it, a resource dropped from the states is left on the hosts and
//! forgotten (Salt's, Ansible's and pyinfra's behaviour). With it, a state
//! run knows what it created earlier and reports what the states no longer
//! declare (orphans), and `prune=True` removes them.
//!
//! On the host, under [`DIR`] (0700, root): `ledger` (0600), the folded
//! entries, and `ledger.journal`, one event line appended by the apply
//! script right after each state that succeeded, so a dropped connection
//! leaves a record of exactly what was done. The controller folds both
//! ([`Ledger::parse`]); the next apply script writes the fold atomically
//! (tmp + mv) and empties the journal, only if neither changed since the
//! gather read them (`cksum`), under a lock (`flock`, else a mkdir lock).
//!
//! The format is line-based and tab-separated, so the gather script checks
//! each entry's existence in plain `sh`:
//!
//! ```text
//! halite-ledger 1
//! KIND<TAB>IDENTITY<TAB>STATE ID<TAB>SLS<TAB>FIRST<TAB>LAST<TAB>created|found
//! ```
//!
//! and the journal's lines are `add<TAB>KIND<TAB>IDENTITY<TAB>ID<TAB>SLS<TAB>TIME<TAB>created|found`
//! or `drop<TAB>KIND<TAB>IDENTITY`. Times are the host's `date +%s`. No
//! field may hold a tab or a newline: such resources are never ledgered
//! (the run warns). Pillar values never enter it: only kinds, identities
//! (names and paths), state IDs and SLS names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::transport::quote::quote;
use crate::Value;

mod place;
pub use place::Place;

/// Where root keeps the host's ledger (a login without root keeps its own:
/// see [`place`]).
pub const DIR: &str = "/var/lib/halite";
/// The first line of a ledger this halite writes and reads.
pub const HEADER: &str = "halite-ledger 1";
const VERSION: u32 = 1;

/// A resource a state manages, as the ledger names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    /// `user`, `group`, `file`, `pkg`, `service`, `container`: a
    /// [`LedgerKind`] a state module declares.
    pub kind: String,
    /// The user or group name, the path, the package or service name.
    pub identity: String,
}

impl Resource {
    pub fn new(kind: &str, identity: &str) -> Resource {
        Resource {
            kind: kind.to_string(),
            identity: identity.to_string(),
        }
    }

    /// Whether it can be written in the ledger's line format.
    pub fn recordable(&self) -> bool {
        clean(&self.kind) && clean(&self.identity) && !self.identity.is_empty()
    }
}

fn clean(s: &str) -> bool {
    !s.contains(['\t', '\n', '\r'])
}

/// A kind of resource the drift ledger records (`user`, `file`...): how
/// the gather checks one still exists, and how prune removes one.
pub struct LedgerKind {
    pub kind: &'static str,
    /// A `sh` test, true when the resource exists; `word` is a shell word
    /// holding its identity (a quoted value or `"$var"`).
    pub exists: fn(word: &str) -> String,
    /// The inverse state prune runs: a function of this module, and its
    /// arguments for an identity (the state's `name` is the identity,
    /// unless the arguments give a `name`).
    pub prune: (&'static str, fn(identity: &str) -> Value),
}

/// One resource halite manages on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub resource: Resource,
    /// The state ID and SLS that last declared it.
    pub id: String,
    pub sls: String,
    /// Unix times (the host's clock) of the first and last apply.
    pub first: u64,
    pub last: u64,
    /// halite brought it into existence (else it found it already there).
    pub created: bool,
}

/// Why a host's ledger cannot be used: the host fails, nothing is applied
/// and nothing is pruned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger {dir}/ledger was written by a newer halite (`{head}`); upgrade halite")]
    Newer { dir: String, head: String },
    #[error("the ledger {dir}/{file} is corrupt at line {line}: {why}; fix or remove it (nothing was applied)")]
    Corrupt {
        dir: String,
        file: &'static str,
        line: usize,
        why: String,
    },
    #[error("cannot read the drift ledger {dir}/ledger as {user} ({why}); nothing was applied")]
    Unreadable {
        dir: String,
        user: String,
        why: &'static str,
    },
    #[error("cannot write the drift ledger {dir}/ledger as {user}; nothing was applied")]
    Unwritable { dir: String, user: String },
    #[error(
        "{user} has no home directory ($HOME) to keep its drift ledger in; nothing was applied"
    )]
    NoHome { user: String },
}

/// The folded ledger: entries in order of first application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ledger {
    pub entries: Vec<Entry>,
}

impl Ledger {
    /// Fold the ledger file (`None`: absent, nothing managed yet) and the
    /// journal appended since it was written, both read from `dir`.
    pub fn parse(
        dir: &str,
        ledger: Option<&str>,
        journal: Option<&str>,
    ) -> Result<Ledger, LedgerError> {
        let mut l = Ledger::default();
        if let Some(text) = ledger {
            let mut lines = text.lines();
            let head = lines.next().unwrap_or("");
            match head.strip_prefix("halite-ledger ") {
                Some(v) if v.trim().parse::<u32>().is_ok_and(|v| v == VERSION) => {}
                Some(v) if v.trim().parse::<u32>().is_ok_and(|v| v > VERSION) => {
                    return Err(LedgerError::Newer {
                        dir: dir.to_string(),
                        head: head.to_string(),
                    })
                }
                _ => {
                    return Err(LedgerError::Corrupt {
                        dir: dir.to_string(),
                        file: "ledger",
                        line: 1,
                        why: format!("expected `{HEADER}`"),
                    })
                }
            }
            for (n, line) in lines.enumerate() {
                if line.is_empty() {
                    continue;
                }
                let bad = |why: &str| LedgerError::Corrupt {
                    dir: dir.to_string(),
                    file: "ledger",
                    line: n + 2,
                    why: why.to_string(),
                };
                let f: Vec<&str> = line.split('\t').collect();
                let [kind, ident, id, sls, first, last, origin] = f.as_slice() else {
                    return Err(bad("expected 7 tab-separated fields"));
                };
                let entry = Entry {
                    resource: Resource::new(kind, ident),
                    id: id.to_string(),
                    sls: sls.to_string(),
                    first: first.parse().map_err(|_| bad("bad first time"))?,
                    last: last.parse().map_err(|_| bad("bad last time"))?,
                    created: origin_of(origin).ok_or_else(|| bad("bad origin"))?,
                };
                if kind.is_empty() || ident.is_empty() {
                    return Err(bad("empty kind or identity"));
                }
                l.upsert(entry);
            }
        }
        let jtext = journal.unwrap_or("");
        let jcount = jtext.lines().count();
        for (n, line) in jtext.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["add", kind, ident, id, sls, time, origin] => {
                    let (Ok(t), Some(created)) = (time.parse::<u64>(), origin_of(origin)) else {
                        return Err(LedgerError::Corrupt {
                            dir: dir.to_string(),
                            file: "ledger.journal",
                            line: n + 1,
                            why: "bad time or origin".into(),
                        });
                    };
                    l.upsert(Entry {
                        resource: Resource::new(kind, ident),
                        id: id.to_string(),
                        sls: sls.to_string(),
                        first: t,
                        last: t,
                        created,
                    });
                }
                ["drop", kind, ident] => l.drop(&Resource::new(kind, ident)),
                // A line cut short by a dropped connection can only be the
                // last one: the event did not complete, ignore it.
                _ if n + 1 == jcount && !jtext.ends_with('\n') => {}
                _ => {
                    return Err(LedgerError::Corrupt {
                        dir: dir.to_string(),
                        file: "ledger.journal",
                        line: n + 1,
                        why: "not an add or drop event".into(),
                    })
                }
            }
        }
        Ok(l)
    }

    /// Record an application: a known entry keeps its first time and
    /// origin; its ID, SLS and last time are updated.
    pub fn upsert(&mut self, e: Entry) {
        match self.entries.iter_mut().find(|x| x.resource == e.resource) {
            Some(x) => {
                x.id = e.id;
                x.sls = e.sls;
                x.last = x.last.max(e.last);
            }
            None => self.entries.push(e),
        }
    }

    pub fn drop(&mut self, r: &Resource) {
        self.entries.retain(|e| &e.resource != r);
    }

    pub fn get(&self, r: &Resource) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.resource == r)
    }

    /// The entries removing `r` removes: `r` itself and, for a file
    /// (`rm -rf` of a directory), every path beneath it.
    pub fn covered(&self, r: &Resource) -> Vec<&Entry> {
        let under = format!("{}/", r.identity.trim_end_matches('/'));
        self.entries
            .iter()
            .filter(|e| {
                e.resource == *r
                    || (r.kind == "file"
                        && e.resource.kind == "file"
                        && e.resource.identity.starts_with(&under))
            })
            .collect()
    }

    /// The ledger file's text.
    pub fn render(&self) -> String {
        let mut s = format!("{HEADER}\n");
        for e in &self.entries {
            let _ = writeln!(
                s,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.resource.kind,
                e.resource.identity,
                e.id,
                e.sls,
                e.first,
                e.last,
                if e.created { "created" } else { "found" }
            );
        }
        s
    }
}

fn origin_of(s: &str) -> Option<bool> {
    match s {
        "created" => Some(true),
        "found" => Some(false),
        _ => None,
    }
}

/// A `sh` snippet for the gather script: prints who reads which ledger
/// ([`place`]) and, when it can be read, the ledger, the journal, their
/// checksum and a `y`/`n` line saying whether a resource exists, between
/// `MARKER ledger ...` lines; else why it cannot be read.
///
/// Existence is asked only where a run uses the answer: entries the states
/// no longer declare (orphan or gone), declared resources the ledger does
/// not know yet (created or found), and resources declared absent. A
/// recorded resource a state declares present is not asked: its state's
/// own probe reads it, and its origin is already recorded. So a converged
/// run asks nothing; the sets are matched in `sh` itself, no process.
/// `declared`: each resource with whether its state declares it present;
/// `kinds`: how each kind is tested (the state modules' [`LedgerKind`]s,
/// which the engine passes in: the ledger knows no module).
pub fn gather_snippet(
    marker: &str,
    declared: &[(Resource, bool)],
    kinds: &[&LedgerKind],
) -> String {
    let mut s = place::locate();
    s.push_str(&place::check(marker));
    // A ledger that cannot be read says why, and nothing else.
    let _ = writeln!(
        s,
        "_ht_tab='\t'\n_hnl='\n'\nif [ -n \"$_hx\" ]; then printf '%s ledger unreadable %s\\n' '{marker}' \"$_hx\"; else"
    );
    let _ = writeln!(
        s,
        "if [ -e \"$_hl/ledger\" ]; then printf '%s ledger file\\n' '{marker}'; cat \"$_hl/ledger\" || printf '%s ledger unreadable\\n' '{marker}'; fi"
    );
    let _ = writeln!(
        s,
        "if [ -e \"$_hl/ledger.journal\" ]; then printf '%s ledger journal\\n' '{marker}'; cat \"$_hl/ledger.journal\" || printf '%s ledger unreadable\\n' '{marker}'; fi"
    );
    // The end of what was read: the controller computes its `cksum` (as
    // the apply script's compaction does on the host) from the text itself,
    // so no process runs for it here. A file not ended by a newline glues
    // this line to its last one: no sum, so no compaction.
    let _ = writeln!(s, "printf '%s ledger sum\\n' '{marker}'");
    let _ = writeln!(s, "printf '%s ledger exists\\n' '{marker}'");
    s.push_str(&exists_function(kinds));
    let present: Vec<&Resource> = declared
        .iter()
        .filter(|(r, p)| *p && r.recordable())
        .map(|(r, _)| r)
        .collect();
    let lines = |rs: &[&Resource]| -> String {
        rs.iter()
            .map(|r| format!("\n{}\t{}", r.kind, r.identity))
            .collect::<String>()
            + "\n"
    };
    // Every entry the ledger and the journal name, once, into `_hrec`;
    // those not declared present are asked.
    let _ = writeln!(
        s,
        "_hdecl={}\n_hrec=$_hnl\n_hrecord() {{ case $_hrec in *\"$_hnl$1$_ht_tab$2$_hnl\"*) return ;; esac; _hrec=\"$_hrec$1$_ht_tab$2$_hnl\"; case $_hdecl in *\"$_hnl$1$_ht_tab$2$_hnl\"*) ;; *) _hexists \"$1\" \"$2\" ;; esac; }}",
        quote(&lines(&present))
    );
    let _ = writeln!(
        s,
        "if [ -f \"$_hl/ledger\" ]; then {{ read -r _hk; while IFS=\"$_ht_tab\" read -r _hk _hi _hz; do [ -z \"$_hk\" ] || _hrecord \"$_hk\" \"$_hi\"; done; }} <\"$_hl/ledger\"; fi"
    );
    let _ = writeln!(
        s,
        "if [ -f \"$_hl/ledger.journal\" ]; then while IFS=\"$_ht_tab\" read -r _ho _hk _hi _hz; do [ \"$_ho\" != add ] || [ -z \"$_hk\" ] || _hrecord \"$_hk\" \"$_hi\"; done <\"$_hl/ledger.journal\"; fi"
    );
    // Declared present and not recorded: asked (created or found).
    for r in &present {
        let _ = writeln!(
            s,
            "case $_hrec in *{}*) ;; *) _hexists {} {} ;; esac",
            quote(&format!("\n{}\t{}\n", r.kind, r.identity)),
            quote(&r.kind),
            quote(&r.identity)
        );
    }
    // Declared absent: always asked (recorded and now gone, or not).
    let mut absent: Vec<&Resource> = declared
        .iter()
        .filter(|(r, p)| !*p && r.recordable())
        .map(|(r, _)| r)
        .collect();
    absent.sort();
    absent.dedup();
    for r in absent {
        let _ = writeln!(s, "_hexists {} {}", quote(&r.kind), quote(&r.identity));
    }
    let _ = writeln!(s, "fi\nprintf '%s ledger end\\n' '{marker}'");
    s
}

/// `_hexists KIND IDENTITY`: prints `y|n<TAB>KIND<TAB>IDENTITY`, whether
/// the resource exists (each kind's test, [`LedgerKind::exists`]); a kind
/// no module knows (a newer halite's) exists, so it is reported, never
/// silently forgotten.
fn exists_function(kinds: &[&LedgerKind]) -> String {
    let mut s = String::from("_hexists() {\ncase $1 in\n");
    for k in kinds {
        let _ = writeln!(s, "{}) {} ;;", k.kind, (k.exists)("\"$2\""));
    }
    s.push_str(
        "*) true ;;\nesac && _hy=y || _hy=n\nprintf '%s\\t%s\\t%s\\n' \"$_hy\" \"$1\" \"$2\"\n}\n",
    );
    s
}

/// POSIX `cksum` of `ledger` then `journal` as `CRC_SIZE`: CRC-32/CKSUM
/// over the bytes and then their length (least significant byte first,
/// as many bytes as it takes), what `cat ledger journal | cksum` prints on
/// the host with its space made `_`.
pub fn cksum(ledger: &str, journal: &str) -> String {
    const CKSUM: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_CKSUM);
    let mut d = CKSUM.digest();
    d.update(ledger.as_bytes());
    d.update(journal.as_bytes());
    let len = ledger.len() + journal.len();
    let mut n = len as u64;
    while n > 0 {
        d.update(&[(n & 0xff) as u8]);
        n >>= 8;
    }
    format!("{}_{len}", d.finalize())
}

/// What the gather script said about the ledger.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gathered {
    pub ledger: Option<String>,
    pub journal: Option<String>,
    /// Who read which ledger (the gather's `ledger as` line).
    pub place: Place,
    /// Why the ledger could not be read (`nohome`, `denied`, `error`).
    pub unreadable: Option<String>,
    /// `cksum` of ledger + journal as read, `CRC_SIZE` (the apply script
    /// compacts only if the host's still matches); empty when the read
    /// did not end cleanly.
    pub sum: String,
    /// Which resources exist.
    pub exists: BTreeMap<Resource, bool>,
    /// The `ledger end` line was seen: the output held a whole dump.
    pub complete: bool,
}

impl Gathered {
    /// Pick the ledger part out of the gather script's output.
    pub fn parse(out: &str, marker: &str) -> Gathered {
        let mut g = Gathered::default();
        let mut part: Option<&str> = None;
        let mut buf = String::new();
        let flush = |part: Option<&str>, buf: &mut String, g: &mut Gathered| match part {
            Some("file") => g.ledger = Some(std::mem::take(buf)),
            Some("journal") => g.journal = Some(std::mem::take(buf)),
            _ => buf.clear(),
        };
        for line in out.split('\n') {
            if let Some(rest) = line.strip_prefix(marker) {
                if let Some(who) = rest.strip_prefix(" ledger as ") {
                    g.place = Place::parse(who);
                    continue;
                }
                let words: Vec<&str> = rest.split_whitespace().collect();
                match words.as_slice() {
                    ["ledger", "sum"] => {
                        flush(part.take(), &mut buf, &mut g);
                        g.sum = cksum(
                            g.ledger.as_deref().unwrap_or(""),
                            g.journal.as_deref().unwrap_or(""),
                        );
                    }
                    ["ledger", "unreadable", why @ ..] => {
                        g.unreadable = Some(why.first().unwrap_or(&"error").to_string())
                    }
                    ["ledger", p @ ("file" | "journal" | "exists")] => {
                        flush(part.take(), &mut buf, &mut g);
                        part = Some(p);
                    }
                    ["ledger", "end"] => {
                        flush(part.take(), &mut buf, &mut g);
                        g.complete = true;
                        break;
                    }
                    _ => {}
                }
                continue;
            }
            match part {
                Some("exists") => {
                    let f: Vec<&str> = line.splitn(3, '\t').collect();
                    if let [y, k, i] = f.as_slice() {
                        g.exists.insert(Resource::new(k, i), *y == "y");
                    }
                }
                Some(_) => {
                    buf.push_str(line);
                    buf.push('\n');
                }
                None => {}
            }
        }
        g
    }

    /// The folded ledger, or why it cannot be used.
    pub fn ledger(&self) -> Result<Ledger, LedgerError> {
        if let Some(why) = &self.unreadable {
            return Err(self.place.unreadable(why));
        }
        Ledger::parse(
            self.place.dir(),
            self.ledger.as_deref(),
            self.journal.as_deref(),
        )
    }

    pub fn exists(&self, r: &Resource) -> bool {
        self.exists.get(r).copied().unwrap_or(false)
    }
}

/// Ledger entries the current run does not declare. `scope`: the SLS
/// names applied (`None`: the highstate, every entry is in scope).
pub fn undeclared<'a>(
    ledger: &'a Ledger,
    declared: &BTreeSet<Resource>,
    scope: Option<&BTreeSet<String>>,
) -> Vec<&'a Entry> {
    ledger
        .entries
        .iter()
        .filter(|e| !declared.contains(&e.resource))
        .filter(|e| scope.is_none_or(|s| s.contains(&e.sls)))
        .collect()
}

/// Why an apply script stopped before any state: it could not make the
/// ledger's directory (see [`apply_head`]).
pub fn refused(out: &str, marker: &str, place: &Place) -> Option<LedgerError> {
    out.lines()
        .any(|l| l.strip_prefix(marker) == Some(" ledger unwritable"))
        .then(|| place.unwritable())
}

/// The apply script's opening: the ledger's directory ([`place`]: when it
/// cannot be made, `MARKER ledger unwritable` and the script ends before
/// any state), the lock, the host's time in `$_hn` and, with `compact`,
/// the folded ledger written atomically when ledger and journal are still
/// as gathered (its `cksum`), the journal emptied with it.
pub fn apply_head(marker: &str, compact: Option<(&Ledger, &str)>) -> String {
    let mut s = place::locate();
    s.push_str(&place::prepare(marker));
    let _ = writeln!(s, "_hn=$(date +%s)");
    // Every write holds the lock: flock(1) where util-linux has it, else a
    // mkdir lock. Only around the writes, so nothing a state starts can
    // inherit it.
    let _ = writeln!(
        s,
        "_hlock() {{ if command -v flock >/dev/null 2>&1; then flock 9; else _hw=0; while ! mkdir \"$_hl/lock.d\" 2>/dev/null && [ $_hw -lt 600 ]; do _hw=$((_hw + 1)); sleep 1; done; fi; }}\n_hunlock() {{ command -v flock >/dev/null 2>&1 || rmdir \"$_hl/lock.d\" 2>/dev/null; }}"
    );
    if let Some((ledger, sum)) = compact {
        let _ = writeln!(
            s,
            "( _hlock\nif [ \"$(cat \"$_hl/ledger\" \"$_hl/ledger.journal\" 2>/dev/null | cksum | tr ' ' _)\" = {} ]; then\numask 077; printf '%s' {} > \"$_hl/ledger.tmp\" && mv -f \"$_hl/ledger.tmp\" \"$_hl/ledger\" && : > \"$_hl/ledger.journal\"\nfi\n_hunlock ) 9>>\"$_hl/lock\"",
            quote(sum),
            quote(&ledger.render())
        );
    }
    s
}

/// The end of an apply script that wrote to the ledger: print the
/// ledger and journal as they now are (in [`Gathered`]'s format), on any
/// exit of the script (a `failhard` stop included), so the controller's
/// copy is what the host holds, not what the controller expected. Read
/// under the lock, so a concurrent run's compaction is not seen half-way.
/// Follows [`apply_head`] (its lock functions).
pub fn dump_on_exit(marker: &str) -> String {
    format!(
        "_hdump() {{\nprintf '\\n'\n( _hlock\nif [ -e \"$_hl/ledger\" ]; then printf '%s ledger file\\n' '{marker}'; cat \"$_hl/ledger\" || printf '%s ledger unreadable\\n' '{marker}'; fi\nif [ -e \"$_hl/ledger.journal\" ]; then printf '%s ledger journal\\n' '{marker}'; cat \"$_hl/ledger.journal\" || printf '%s ledger unreadable\\n' '{marker}'; fi\n_hunlock ) 9>>\"$_hl/lock\"\nprintf '%s ledger end\\n' '{marker}'\n}}\ntrap _hdump EXIT\n"
    )
}

/// The controller's copy of a host's ledger, kept in its cache
/// (`ledgers/HOST.json`) after every state run that read it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCopy {
    pub ledger: Ledger,
    /// `apply`: printed by the apply execution after its writes;
    /// `gather`: as the gather read it (the run wrote nothing to it).
    pub as_of: &'static str,
    /// False when an apply wrote to the ledger but did not report back
    /// (connection dropped): the host's journal knows more than this copy.
    pub current: bool,
}

impl HostCopy {
    /// The stored form: host, job, and every entry with its origin.
    pub fn to_json(&self, host: &str, jid: &str) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .ledger
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kind": e.resource.kind, "name": e.resource.identity,
                    "id": e.id, "sls": e.sls, "first": e.first, "last": e.last,
                    "origin": if e.created { "created" } else { "found" },
                })
            })
            .collect();
        serde_json::json!({
            "host": host, "jid": jid, "as_of": self.as_of, "current": self.current,
            "entries": entries,
        })
    }
}

/// A journal line appended by the apply script: `add` (with the host's
/// time `$_hn`) or `drop`.
pub fn event(add: Option<(&str, &str, bool)>, r: &Resource) -> String {
    match add {
        Some((id, sls, created)) => format!(
            "( umask 077; _hlock; printf 'add\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' {} {} {} {} \"$_hn\" {} >> \"$_hl/ledger.journal\"; _hunlock ) 9>>\"$_hl/lock\"",
            quote(&r.kind),
            quote(&r.identity),
            quote(id),
            quote(sls),
            if created { "created" } else { "found" }
        ),
        None => format!(
            "( umask 077; _hlock; printf 'drop\\t%s\\t%s\\n' {} {} >> \"$_hl/ledger.journal\"; _hunlock ) 9>>\"$_hl/lock\"",
            quote(&r.kind),
            quote(&r.identity)
        ),
    }
}

/// Whether `s` can be a ledger field.
pub fn field_ok(s: &str) -> bool {
    clean(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind tested as the file module tests its own.
    const FILE: LedgerKind = LedgerKind {
        kind: "file",
        exists: |w| format!("{{ [ -e {w} ] || [ -L {w} ]; }}"),
        prune: ("absent", |_| Value::Null),
    };

    fn e(kind: &str, id: &str, sls: &str, t: u64, created: bool) -> Entry {
        Entry {
            resource: Resource::new(kind, id),
            id: id.into(),
            sls: sls.into(),
            first: t,
            last: t,
            created,
        }
    }

    #[test]
    fn missing_ledger_is_empty() {
        assert_eq!(Ledger::parse(DIR, None, None).unwrap(), Ledger::default());
    }

    #[test]
    fn round_trip_and_journal_fold() {
        let mut l = Ledger::default();
        l.upsert(e("user", "foo", "users", 10, true));
        l.upsert(e("file", "/etc/x y", "files", 11, false));
        let text = l.render();
        assert!(text.starts_with("halite-ledger 1\n"));
        assert_eq!(Ledger::parse(DIR, Some(&text), None).unwrap(), l);
        let journal = "add\tuser\tfoo\tfoo2\tusers2\t20\tfound\nadd\tpkg\thello\thello\tpk\t21\tcreated\ndrop\tfile\t/etc/x y\n";
        let f = Ledger::parse(DIR, Some(&text), Some(journal)).unwrap();
        assert_eq!(f.entries.len(), 2);
        let foo = f.get(&Resource::new("user", "foo")).unwrap();
        // First time and origin stay; ID, SLS and last time follow.
        assert_eq!((foo.first, foo.last, foo.created), (10, 20, true));
        assert_eq!((foo.id.as_str(), foo.sls.as_str()), ("foo2", "users2"));
        assert!(f.get(&Resource::new("pkg", "hello")).unwrap().created);
    }

    #[test]
    fn corrupt_and_newer_ledgers_are_errors() {
        assert!(matches!(
            Ledger::parse(DIR, Some("halite-ledger 2\n"), None),
            Err(LedgerError::Newer { .. })
        ));
        assert!(matches!(
            Ledger::parse(DIR, Some("garbage\n"), None),
            Err(LedgerError::Corrupt { line: 1, .. })
        ));
        assert!(matches!(
            Ledger::parse(DIR, Some("halite-ledger 1\nuser\tfoo\n"), None),
            Err(LedgerError::Corrupt { line: 2, .. })
        ));
        assert!(Ledger::parse(DIR, None, Some("what\n")).is_err());
    }

    #[test]
    fn a_journal_line_cut_short_at_the_end_is_ignored() {
        let l = Ledger::parse(
            DIR,
            None,
            Some("add\tuser\tfoo\tfoo\ts\t1\tcreated\nadd\tus"),
        )
        .unwrap();
        assert_eq!(l.entries.len(), 1);
    }

    #[test]
    fn gathered_output_is_parsed() {
        let m = "@@m";
        let out = format!("{m} clock 1\n{m} ledger file\nhalite-ledger 1\nuser\tfoo\tfoo\tusers\t1\t2\tcreated\n{m} ledger sum\n{m} ledger exists\ny\tuser\tfoo\nn\tfile\t/a b\n{m} ledger end\n{m} probe 0\n");
        let g = Gathered::parse(&out, m);
        assert_eq!(
            g.sum,
            cksum(
                "halite-ledger 1\nuser\tfoo\tfoo\tusers\t1\t2\tcreated\n",
                ""
            )
        );
        assert!(g.exists(&Resource::new("user", "foo")));
        assert!(!g.exists(&Resource::new("file", "/a b")));
        assert_eq!(g.ledger().unwrap().entries.len(), 1);
        assert_eq!(g.journal, None);
    }

    /// The gather snippet, by the real `sh`, as a login without root
    /// whose ledger directory (under `XDG_STATE_HOME`) it may not enter:
    /// it exists, so the host fails with why, never "nothing managed".
    #[test]
    fn a_ledger_that_cannot_be_read_is_an_error_not_an_empty_ledger() {
        use std::os::unix::fs::PermissionsExt;
        let m = "@@halite-test";
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("halite");
        std::fs::create_dir(&dir).unwrap();
        let mut l = Ledger::default();
        l.upsert(e("file", "/x", "files", 1, true));
        std::fs::write(dir.join("ledger"), l.render()).unwrap();
        std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Only its owner may enter; as root, run as nobody (root reads all).
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        if root
            && std::process::Command::new("setpriv")
                .arg("--version")
                .output()
                .is_err()
        {
            eprintln!("SKIPPED: setpriv (util-linux) is needed to test as another user");
            return;
        }
        let mode = if root { 0o700 } else { 0o000 };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let script = format!(
            "HOME=/nonexistent XDG_STATE_HOME={}\n{}",
            quote(&state.path().display().to_string()),
            gather_snippet(m, &[(Resource::new("file", "/x"), true)], &[&FILE])
        );
        let mut cmd = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
            c
        } else {
            std::process::Command::new("sh")
        };
        let out = cmd.arg("-c").arg(&script).output().unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        let g = Gathered::parse(&out, m);
        assert!(g.complete, "{out}");
        assert_eq!(g.place.dir, dir.display().to_string(), "{out}");
        match g.ledger() {
            Err(LedgerError::Unreadable { dir: d, why, .. }) => {
                assert_eq!(d, dir.display().to_string());
                assert_eq!(why, "permission denied");
            }
            other => panic!("{other:?}\n{out}"),
        }
    }

    /// Existence is asked exactly where a run uses it, matched in `sh`
    /// (dash here): orphans and gone entries, declared resources the
    /// ledger does not know, resources declared absent; not a recorded
    /// resource declared present. Identities with spaces and glob
    /// characters match literally.
    #[test]
    fn the_gather_asks_existence_only_where_it_is_used() {
        let m = "@@halite-test";
        let tmp = tempfile::tempdir().unwrap();
        let p = |n: &str| tmp.path().join(n).display().to_string();
        for n in ["kept", "orphan *", "new file", "journal orphan"] {
            std::fs::write(p(n), "").unwrap();
        }
        let dir = tmp.path().join("ledger-dir");
        std::fs::create_dir(&dir).unwrap();
        let mut l = Ledger::default();
        for n in ["kept", "orphan *", "gone", "kept*"] {
            l.upsert(e("file", &p(n), "s", 1, true));
        }
        std::fs::write(dir.join("ledger"), l.render()).unwrap();
        let journal = format!(
            "add\tfile\t{}\tid\ts\t2\tfound\ndrop\tfile\t{}\n",
            p("journal orphan"),
            p("dropped")
        );
        std::fs::write(dir.join("ledger.journal"), journal).unwrap();
        let declared = [
            (Resource::new("file", &p("kept")), true),
            (Resource::new("file", &p("new file")), true),
            (Resource::new("file", &p("never")), false),
        ];
        let script = format!(
            "HALITE_LEDGER_DIR={}\n{}",
            quote(&dir.display().to_string()),
            gather_snippet(m, &declared, &[&FILE])
        );
        let want: BTreeMap<String, bool> = [
            ("orphan *", true),
            ("gone", false),
            ("kept*", false),
            ("journal orphan", true),
            ("new file", true),
            ("never", false),
        ]
        .into_iter()
        .map(|(n, y)| (n.to_string(), y))
        .collect();
        for (shell, out) in crate::testing::in_each_shell(&script) {
            let g = Gathered::parse(&out, m);
            assert!(g.complete, "{shell:?}: {out}");
            let asked: BTreeMap<String, bool> = g
                .exists
                .iter()
                .map(|(r, y)| (r.identity.strip_prefix(&p("")).unwrap().to_string(), *y))
                .collect();
            assert_eq!(asked, want, "{shell:?}: {out}");
            // The sum the apply script will compare: the host's own.
            let host = std::process::Command::new("sh")
                .arg("-c")
                .arg("cat \"$1/ledger\" \"$1/ledger.journal\" | cksum | tr ' ' _")
                .arg("sh")
                .arg(&dir)
                .output()
                .unwrap();
            let host = String::from_utf8(host.stdout).unwrap();
            assert_eq!(g.sum, host.trim(), "{shell:?}: {out}");
        }
    }

    #[test]
    fn undeclared_entries_respect_the_sls_scope() {
        let mut l = Ledger::default();
        l.upsert(e("user", "foo", "users", 1, true));
        l.upsert(e("user", "bar", "users", 2, true));
        l.upsert(e("file", "/x", "files", 3, true));
        let declared: BTreeSet<Resource> = [Resource::new("user", "bar")].into();
        let all: Vec<_> = undeclared(&l, &declared, None)
            .iter()
            .map(|e| e.resource.identity.clone())
            .collect();
        assert_eq!(all, ["foo", "/x"]);
        let scope: BTreeSet<String> = ["users".to_string()].into();
        let some: Vec<_> = undeclared(&l, &declared, Some(&scope))
            .iter()
            .map(|e| e.resource.identity.clone())
            .collect();
        assert_eq!(some, ["foo"]);
    }

    /// The controller's sum is what `cksum` prints on the host.
    #[test]
    fn cksum_is_posix_cksum() {
        let big: String = (0..70_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        for (ledger, journal) in [
            ("", ""),
            ("a", ""),
            ("halite-ledger 1\n", "add\tfile\t/x\n"),
            (big.as_str(), "\n"),
        ] {
            let mut child = std::process::Command::new("cksum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(ledger.as_bytes()).unwrap();
                stdin.write_all(journal.as_bytes()).unwrap();
            }
            let out = child.wait_with_output().unwrap();
            let want = String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .replace(' ', "_");
            assert_eq!(cksum(ledger, journal), want, "{} bytes", ledger.len());
        }
    }

    #[test]
    fn tabs_and_newlines_are_not_recordable() {
        assert!(!Resource::new("file", "/a\tb").recordable());
        assert!(!Resource::new("file", "/a\nb").recordable());
        assert!(Resource::new("file", "/a b").recordable());
    }

    /// The apply script's exit dump, run by the real `sh`: printed on an
    /// early `exit` (failhard) too, folded back to what the host holds.
    #[test]
    fn the_exit_dump_reports_the_ledger_and_journal_as_left() {
        let m = "@@halite-test";
        // The dump for ledger directory `dir`, then `rest`, by `sh`.
        let run = |dir: &std::path::Path, rest: &str| -> String {
            let script = format!(
                "_hl={}\n_hlock() {{ :; }}\n_hunlock() {{ :; }}\n{}{rest}",
                quote(&dir.display().to_string()),
                dump_on_exit(m)
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::default();
        l.upsert(e("user", "foo", "users", 5, true));
        std::fs::write(dir.path().join("ledger"), l.render()).unwrap();
        std::fs::write(
            dir.path().join("ledger.journal"),
            "add\tfile\t/x\tx\tfiles\t9\tfound\ndrop\tuser\tfoo\n",
        )
        .unwrap();
        let out = run(
            dir.path(),
            "printf 'state output without newline'\nexit 0\necho never\n",
        );
        assert!(!out.contains("never"), "{out}");
        let g = Gathered::parse(&out, m);
        assert!(g.complete, "{out}");
        let folded = g.ledger().unwrap();
        assert_eq!(folded.entries.len(), 1, "{folded:?}");
        assert_eq!(folded.entries[0].resource, Resource::new("file", "/x"));
        assert!(!folded.entries[0].created);
        let j = HostCopy {
            ledger: folded,
            as_of: "apply",
            current: true,
        }
        .to_json("web1", "2026");
        assert_eq!(j["entries"][0]["origin"], "found");
        assert_eq!(j["entries"][0]["sls"], "files");
        assert_eq!(j["host"], "web1");

        // No ledger yet: an empty copy, still complete.
        let empty = tempfile::tempdir().unwrap();
        let g = Gathered::parse(&run(empty.path(), ""), m);
        assert!(g.complete && g.ledger().unwrap().entries.is_empty());
        // Output cut before the end line is not a copy.
        assert!(!Gathered::parse(&format!("{m} ledger file\n{HEADER}\n"), m).complete);
    }

    #[test]
    fn removing_a_directory_covers_what_it_held() {
        let mut l = Ledger::default();
        for (k, n) in [
            ("file", "/srv/app"),
            ("file", "/srv/app/a"),
            ("file", "/srv/apple"),
            ("user", "/srv/app/x"),
        ] {
            l.upsert(e(k, n, "s", 1, true));
        }
        let names = |r: Resource| -> Vec<String> {
            l.covered(&r)
                .iter()
                .map(|e| e.resource.identity.clone())
                .collect()
        };
        assert_eq!(
            names(Resource::new("file", "/srv/app")),
            ["/srv/app", "/srv/app/a"]
        );
        assert_eq!(
            names(Resource::new("user", "/srv/app")),
            Vec::<String>::new()
        );
    }
}
