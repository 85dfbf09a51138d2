//! `user.present` and `user.absent`: local accounts, as Salt's
//! `salt.states.user` manages them, through the shadow tools of Debian
//! (`useradd`, `usermod`, `userdel`, `chpasswd`), or BusyBox's `adduser`,
//! `addgroup`, `deluser` and `delgroup` where shadow is missing
//! (`crate::platform::accounts` renders the plan's typed change for the
//! tool set the probe found, and says what BusyBox cannot change).
//!
//! The probe prints the account as `getent` and `id` see it; the plan
//! compares it with what is declared and changes only what differs, so a
//! second run is a no-op. A password hash is compared on the host and never
//! printed, neither by the probe nor in `changes` (Salt's
//! `XXX-REDACTED-XXX`).
//!
//! The account helpers here (`Id`, `NameList`, `check_name`, `/etc/group`
//! parsing) are shared with `group`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Map};

use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, SharedProbe,
    StateFunction,
};
use crate::platform::accounts::{self, Change, GroupSet, Hash, NewUser, Tools, UserMod};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "user",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure the user `name` exists with the declared uid, gid, groups, home, shell, GECOS fields, expiry and password (a hash, or hashed here: hash_password).",
            args: &[
                "uid",
                "gid",
                "groups",
                "optional_groups",
                "remove_groups",
                "home",
                "createhome",
                "shell",
                "fullname",
                "system",
                "password",
                "hash_password",
                "enforce_password",
                "allow_uid_change",
                "allow_gid_change",
                "unique",
                "expire",
                "roomnumber",
                "workphone",
                "homephone",
                "other",
            ],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the user `name` does not exist (purge: remove the home too).",
            args: &["purge", "force"],
            build: build_absent,
        },
    ],
    ledger: &[LedgerKind {
        kind: "user",
        exists: |w| format!("getent passwd {w} >/dev/null 2>&1"),
        prune: ("absent", |_| serde_json::json!({})),
    }],
};

/// Salt shows this instead of a password hash.
pub const REDACTED: &str = "XXX-REDACTED-XXX";

/// Root's PATH over ssh has the sbin directories, a `sudo` or `su` one may
/// not; the shadow tools live there.
pub(crate) const PATH_PRELUDE: &str = "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n";

/// A number, or text holding one (YAML and Jinja hand over either).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum NumOrText {
    Num(u64),
    Text(String),
}

/// A uid/gid as declared: a number or (for gid) a group name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Id {
    Num(u32),
    Name(String),
}

impl Id {
    pub(crate) fn from_arg(v: NumOrText, what: &str, allow_name: bool) -> Result<Id, String> {
        match v {
            NumOrText::Num(n) => u32::try_from(n)
                .map(Id::Num)
                .map_err(|_| format!("{what} {n} is out of range")),
            NumOrText::Text(t) => match t.trim().parse::<u32>() {
                Ok(n) => Ok(Id::Num(n)),
                Err(_) if allow_name => {
                    check_name(what, &t)?;
                    Ok(Id::Name(t))
                }
                Err(_) => Err(format!("{what} `{t}` is not a number")),
            },
        }
    }

    fn as_word(&self) -> String {
        match self {
            Id::Num(n) => n.to_string(),
            Id::Name(s) => s.clone(),
        }
    }
}

/// A list of names, or Salt's comma-separated string form.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum NameList {
    List(Vec<String>),
    Text(String),
}

impl NameList {
    pub(crate) fn into_names(self, what: &str) -> Result<Vec<String>, String> {
        let names: Vec<String> = match self {
            NameList::List(l) => l,
            NameList::Text(t) => t
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        };
        for n in &names {
            check_name(what, n)?;
        }
        Ok(names)
    }
}

/// User and group names end up in colon- and comma-separated files and on
/// command lines: refuse what would corrupt the former or read as an option.
pub(crate) fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what}: empty name"));
    }
    if s.starts_with('-') {
        return Err(format!("{what} `{s}`: a name may not start with `-`"));
    }
    if s.chars()
        .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{what} `{s}`: a name may not contain `:`, `,`, spaces or control characters"
        ));
    }
    Ok(())
}

/// A field written into /etc/passwd: no field separators, no newlines.
fn check_field(what: &str, s: &str, absolute: bool) -> Result<(), String> {
    if s.chars().any(|c| c == ':' || c.is_control()) {
        return Err(format!(
            "{what} `{s}` may not contain `:` or control characters"
        ));
    }
    if absolute && !s.starts_with('/') {
        return Err(format!("{what} `{s}` must be an absolute path"));
    }
    Ok(())
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupEnt {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

pub(crate) fn parse_group(line: &str) -> Option<GroupEnt> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 {
        return None;
    }
    Some(GroupEnt {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq)]
struct PasswdEnt {
    uid: u32,
    gid: u32,
    gecos: String,
    home: String,
    shell: String,
}

fn parse_passwd(line: &str) -> Option<PasswdEnt> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(PasswdEnt {
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        gecos: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
    })
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresentArgs {
    uid: Option<NumOrText>,
    gid: Option<NumOrText>,
    groups: Option<NameList>,
    optional_groups: Option<NameList>,
    #[serde(default = "yes")]
    remove_groups: bool,
    home: Option<String>,
    #[serde(default = "yes")]
    createhome: bool,
    shell: Option<String>,
    fullname: Option<String>,
    #[serde(default)]
    system: bool,
    password: Option<String>,
    #[serde(default)]
    hash_password: bool,
    #[serde(default = "yes")]
    enforce_password: bool,
    #[serde(default)]
    allow_uid_change: bool,
    #[serde(default)]
    allow_gid_change: bool,
    #[serde(default = "yes")]
    unique: bool,
    expire: Option<IntOrText>,
    roomnumber: Option<IntOrText>,
    workphone: Option<IntOrText>,
    homephone: Option<IntOrText>,
    other: Option<IntOrText>,
}

/// A whole number (possibly negative), or text; YAML hands a room number
/// or a day count over as either.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum IntOrText {
    Int(i64),
    Text(String),
}

impl IntOrText {
    fn text(self) -> String {
        match self {
            IntOrText::Int(n) => n.to_string(),
            IntOrText::Text(t) => t,
        }
    }
}

/// The GECOS field's five comma-separated parts, in their order (what
/// Salt's `user.info` calls them); `other` is everything after the fourth
/// comma.
const GECOS: [&str; 5] = ["fullname", "roomnumber", "workphone", "homephone", "other"];

/// `expire`: days since 1970-01-01 (-1: never), or a `YYYY-MM-DD` date
/// (what chage -E also takes), turned into days here so the plan compares
/// numbers with the shadow file's.
fn expire_days(v: IntOrText) -> Result<i64, String> {
    let t = match v {
        IntOrText::Int(n) if n >= -1 => return Ok(n),
        IntOrText::Int(n) => return Err(format!("expire {n}: a day number is -1 or more")),
        IntOrText::Text(t) => t,
    };
    let t = t.trim();
    if let Ok(n) = t.parse::<i64>() {
        return expire_days(IntOrText::Int(n));
    }
    let bad = || format!("expire `{t}` is neither a day number nor a YYYY-MM-DD date");
    let parts: Vec<&str> = t.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i64, u32, u32) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] || y < 1970 {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[derive(Debug)]
struct Present {
    name: String,
    uid: Option<u32>,
    gid: Option<Id>,
    /// `None`: supplementary groups are left alone (unless optional ones are
    /// declared), as in Salt since 3006.2.
    groups: Option<Vec<String>>,
    optional_groups: Vec<String>,
    remove_groups: bool,
    home: Option<String>,
    createhome: bool,
    shell: Option<String>,
    /// Declared GECOS parts, in [`GECOS`]'s order.
    gecos: [Option<String>; 5],
    system: bool,
    /// A hash, or (hash_password) the plaintext: never printed.
    password: Option<String>,
    hash_password: bool,
    enforce_password: bool,
    allow_uid_change: bool,
    allow_gid_change: bool,
    unique: bool,
    expire: Option<i64>,
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: PresentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    check_name("user name", &chunk.name).map_err(err)?;
    let uid = a
        .uid
        .map(|v| Id::from_arg(v, "uid", false))
        .transpose()
        .map_err(err)?
        .map(|id| match id {
            Id::Num(n) => n,
            Id::Name(_) => unreachable!("names are refused for uid"),
        });
    let gid = a
        .gid
        .map(|v| Id::from_arg(v, "gid", true))
        .transpose()
        .map_err(err)?;
    let groups = a
        .groups
        .map(|g| g.into_names("group"))
        .transpose()
        .map_err(err)?;
    let mut optional_groups = a
        .optional_groups
        .map(|g| g.into_names("optional group"))
        .transpose()
        .map_err(err)?
        .unwrap_or_default();
    // Salt: a group in both lists is required.
    if let Some(g) = &groups {
        optional_groups.retain(|o| !g.contains(o));
    }
    if let Some(h) = &a.home {
        check_field("home", h, true).map_err(err)?;
    }
    if let Some(s) = &a.shell {
        check_field("shell", s, true).map_err(err)?;
    }
    let gecos = [
        a.fullname,
        a.roomnumber.map(IntOrText::text),
        a.workphone.map(IntOrText::text),
        a.homephone.map(IntOrText::text),
        a.other.map(IntOrText::text),
    ];
    for (what, v) in GECOS.iter().zip(&gecos) {
        let Some(v) = v else { continue };
        // The GECOS field is comma-separated; a comma would spill a part
        // into the next (Salt refuses it too). `other` is the rest.
        if *what != "other" && v.contains(',') {
            return Err(err(format!("{what} `{v}` may not contain `,`")));
        }
        check_field(what, v, false).map_err(err)?;
    }
    if let (Some(p), false) = (&a.password, a.hash_password) {
        if p.chars().any(|c| c == ':' || c.is_control()) {
            return Err(err(
                "password (a hash) may not contain `:` or control characters".into(),
            ));
        }
    }
    if let (Some(p), true) = (&a.password, a.hash_password) {
        // Never echo a plaintext password in the error.
        if p.is_empty() || p.contains(['\n', '\0']) {
            return Err(err(
                "password (plaintext, hash_password) must be one non-empty line".into(),
            ));
        }
    }
    let expire = a.expire.map(expire_days).transpose().map_err(err)?;
    Ok(Box::new(Present {
        name: chunk.name.clone(),
        uid,
        gid,
        groups,
        optional_groups,
        remove_groups: a.remove_groups,
        home: a.home,
        createhome: a.createhome,
        shell: a.shell,
        gecos,
        system: a.system,
        password: a.password,
        hash_password: a.hash_password,
        enforce_password: a.enforce_password,
        allow_uid_change: a.allow_uid_change,
        allow_gid_change: a.allow_gid_change,
        unique: a.unique,
        expire,
    }))
}

/// What the `user.present` probe saw.
#[derive(Debug, Default)]
struct Facts {
    passwd: Option<PasswdEnt>,
    /// Every group the user is in (`id -Gn`), the primary one included.
    member_of: Vec<String>,
    /// Groups looked up by name or gid.
    groups: Vec<GroupEnt>,
    /// `useradd -D`.
    defaults: BTreeMap<String, String>,
    home_exists: bool,
    /// `same`, `unset` or `differs`.
    password: Option<String>,
    /// hash_password: the current SHA-crypt hash's setting (`$6$SALT`,
    /// what precedes its last `$`) and the SHA-256 of the whole hash: the
    /// hash itself never leaves the host.
    password_setting: Option<String>,
    password_digest: Option<String>,
    /// The shadow file's expiry (days; -1: none).
    expire: Option<i64>,
    /// The account tool set on the host; `None`: neither.
    tools: Option<Tools>,
}

impl Facts {
    fn parse(text: &str) -> Facts {
        let mut f = Facts::default();
        for line in text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "passwd" => f.passwd = parse_passwd(rest),
                "member" if !rest.is_empty() => f.member_of.push(rest.to_string()),
                "group" => f.groups.extend(parse_group(rest)),
                "default" => {
                    if let Some((k, v)) = rest.split_once('=') {
                        f.defaults.insert(k.to_string(), v.to_string());
                    }
                }
                "home-exists" => f.home_exists = true,
                "password" => f.password = Some(rest.to_string()),
                "password-setting" => f.password_setting = Some(rest.to_string()),
                "password-digest" => f.password_digest = Some(rest.to_string()),
                "expire" => f.expire = Some(rest.trim().parse().unwrap_or(-1)),
                "accounts" => f.tools = Tools::parse(rest),
                _ => {}
            }
        }
        f
    }

    fn group(&self, id: &Id) -> Option<&GroupEnt> {
        self.groups.iter().find(|g| match id {
            Id::Num(n) => g.gid == *n,
            Id::Name(s) => &g.name == s,
        })
    }

    fn group_named(&self, name: &str) -> Option<&GroupEnt> {
        self.group(&Id::Name(name.to_string()))
    }
}

impl Present {
    /// The supplementary groups to end with, or `None` to leave them as
    /// they are. Errors name the required groups that do not exist.
    fn wanted_groups(
        &self,
        facts: &Facts,
        primary: Option<&str>,
    ) -> Result<Option<Vec<String>>, String> {
        let missing: Vec<&str> = self
            .groups
            .iter()
            .flatten()
            .filter(|g| facts.group_named(g).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "The following group(s) are not present: {}",
                missing.join(",")
            ));
        }
        if self.groups.is_none() && self.optional_groups.is_empty() {
            return Ok(None);
        }
        let mut wanted: BTreeSet<String> = self.groups.iter().flatten().cloned().collect();
        wanted.extend(
            self.optional_groups
                .iter()
                .filter(|g| facts.group_named(g).is_some())
                .cloned(),
        );
        if !self.remove_groups {
            wanted.extend(facts.member_of.iter().cloned());
        }
        // The primary group is membership by gid, not a supplementary group.
        if let Some(p) = primary {
            wanted.remove(p);
        }
        Ok(Some(wanted.into_iter().collect()))
    }
}

/// The variable holding the shared probe's passwd line for `name`, named
/// from a hash of it (both sides compute it, no lookup loop).
fn passwd_var(name: &str) -> String {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(name.as_bytes());
    format!("h_upw_{}", data_encoding::HEXLOWER.encode(&sum[..8]))
}

/// The user.present states' shared probe: ONE `getent passwd` for every
/// user of the run (each line kept under its name; a name getent answers
/// by another, such as a number, is left to the state's own call), ONE
/// `useradd -D` and ONE account tool set detection (`h_acct`, see
/// [`accounts::DETECT`]), instead of one of each per state. Prints nothing.
fn shared_script(names: &[String]) -> String {
    let mut s = format!(
        "h_p=$PATH; PATH=\"$PATH:/usr/sbin:/sbin\"\n{}PATH=$h_p; unset h_p\n",
        accounts::DETECT
    );
    s.push_str(&format!(
        "h_x=$(getent passwd {} 2>/dev/null)\nwhile IFS= read -r h_y; do\ncase ${{h_y%%:*}} in\n",
        names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ")
    ));
    for n in names {
        s.push_str(&format!("{}) {}=$h_y ;;\n", quote(n), passwd_var(n)));
    }
    s.push_str("esac\ndone <<EOF\n$h_x\nEOF\nunset h_x h_y\n");
    // The defaults only plan a user to create: asked when one is missing.
    let missing: Vec<String> = names
        .iter()
        .map(|n| format!("[ -z \"${{{}-}}\" ]", passwd_var(n)))
        .collect();
    s.push_str(&format!(
        "if {}; then h_ud=$(PATH=\"$PATH:/usr/sbin:/sbin\"; useradd -D 2>/dev/null) && h_ud_ok=1; fi\n",
        missing.join(" || ")
    ));
    s
}

impl StateFunction for Present {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("user", &self.name)
    }

    fn shared_probe(&self) -> Option<SharedProbe> {
        Some(SharedProbe {
            key: "user.present",
            arg: self.name.clone(),
            script: shared_script,
        })
    }

    fn probe(&self) -> String {
        let u = quote(&self.name);
        let mut s = String::from(PATH_PRELUDE);
        s.push_str(accounts::DETECT);
        s.push_str(accounts::REPORT);
        // The shared probe's passwd line, else (not run, or the name not
        // found there) getent's own answer.
        s.push_str(&format!("pw=${{{}-}}\n", passwd_var(&self.name)));
        s.push_str(&format!(
            "if [ -n \"$pw\" ] || pw=$(getent passwd {u}); then\n\
             printf 'passwd %s\\n' \"$pw\"\n"
        ));
        // Membership is compared only with declared groups.
        if self.groups.is_some() || !self.optional_groups.is_empty() {
            s.push_str(&format!(
                "set -f\n\
                 for h_m in $(id -Gn {u} 2>/dev/null); do printf 'member %s\\n' \"$h_m\"; done\n\
                 set +f\n"
            ));
        }
        if self.password.is_some() || self.expire.is_some() {
            s.push_str(&format!("h_sh=$(getent shadow {u})\n"));
        }
        let unset = "''|'!'|'*'|'!*'|'!!') echo 'password unset';;";
        match (&self.password, self.hash_password) {
            // Compared here so the current hash never leaves the host.
            (Some(p), false) => s.push_str(&format!(
                "h=$(printf '%s\\n' \"$h_sh\" | cut -d: -f2)\n\
                 if [ \"$h\" = {p} ]; then echo 'password same'\n\
                 else case $h in {unset} *) echo 'password differs';; esac; fi\n",
                p = quote(p)
            )),
            // The plaintext stays on the controller: the host says the
            // salt its hash has and a digest of the hash, the controller
            // hashes the password with that salt and compares digests.
            (Some(_), true) => s.push_str(&format!(
                "h=$(printf '%s\\n' \"$h_sh\" | cut -d: -f2)\n\
                 case $h in {unset} '$5$'*|'$6$'*) printf 'password-setting %s\\n' \"${{h%\\$*}}\"\n\
                 printf 'password-digest %s\\n' \"$(printf '%s' \"$h\" | sha256sum | cut -d' ' -f1)\";;\n\
                 *) echo 'password differs';; esac\n"
            )),
            (None, _) => {}
        }
        if self.expire.is_some() {
            s.push_str("printf 'expire %s\\n' \"$(printf '%s\\n' \"$h_sh\" | cut -d: -f8)\"\n");
        }
        s.push_str("fi\n");
        let mut look: Vec<String> = self.groups.iter().flatten().cloned().collect();
        look.extend(self.optional_groups.iter().cloned());
        if let Some(g) = &self.gid {
            look.push(g.as_word());
        }
        look.push(self.name.clone());
        // The user's current gid first, to name the current primary group;
        // ONE getent for all (it answers each key as its own call would,
        // in order, leaving out the missing ones).
        // An existing user's groups are read only where the state declares
        // some (or a gid); the defaults only where the user is missing: a
        // user to modify is planned from its passwd line alone otherwise.
        let declared =
            self.groups.is_some() || !self.optional_groups.is_empty() || self.gid.is_some();
        let groups = format!(
            "set -- {}\n\
             if [ -n \"${{pw:-}}\" ]; then h_r=${{pw#*:}}; h_r=${{h_r#*:}}; h_r=${{h_r#*:}}; h_r=${{h_r%%:*}}; [ -z \"$h_r\" ] || set -- \"$h_r\" \"$@\"; fi\n\
             h_r=$(getent group \"$@\")\n\
             [ -z \"$h_r\" ] || while IFS= read -r h_x; do printf 'group %s\\n' \"$h_x\"; done <<EOF\n$h_r\nEOF\n",
            look.iter().map(|g| quote(g)).collect::<Vec<_>>().join(" ")
        );
        if declared {
            s.push_str(&groups);
        } else {
            s.push_str(&format!("if [ -z \"${{pw:-}}\" ]; then\n{groups}fi\n"));
        }
        s.push_str("if [ -z \"${pw:-}\" ]; then\nif [ -n \"${h_ud_ok-}\" ]; then h_r=$h_ud; else h_r=$(useradd -D 2>/dev/null); fi\n[ -z \"$h_r\" ] || while IFS= read -r h_x; do printf 'default %s\\n' \"$h_x\"; done <<EOF\n$h_r\nEOF\nfi\n");
        if let (Some(h), true) = (&self.home, self.createhome) {
            s.push_str(&format!("[ -d {} ] && echo home-exists\n", quote(h)));
        }
        s.push_str("exit 0\n");
        s
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let mut facts = Facts::parse(out.text);
        let Some(tools) = facts.tools else {
            return Err(NO_TOOLS.into());
        };
        if tools == Tools::Busybox {
            facts.defaults = accounts::BUSYBOX_DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        let target_gid = match &self.gid {
            None => None,
            Some(id) => Some(
                facts
                    .group(id)
                    .ok_or_else(|| format!("Default group `{}` does not exist", id.as_word()))?
                    .clone(),
            ),
        };
        match &facts.passwd {
            None => self.plan_create(&facts, tools, target_gid),
            Some(cur) => self.plan_modify(&facts, tools, cur, target_gid),
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        // The hash to set is in the typed change (rendered to chpasswd's
        // stdin by the tool set).
        apply_account(plan, "set -e\n")
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_with(plan, out)
    }
}

impl Present {
    /// The changes to an existing user `cur`.
    fn plan_modify(
        &self,
        facts: &Facts,
        tools: Tools,
        cur: &PasswdEnt,
        target_gid: Option<GroupEnt>,
    ) -> Result<Plan, String> {
        let name = &self.name;
        let primary = target_gid
            .as_ref()
            .map(|g| g.name.clone())
            .or_else(|| facts.group(&Id::Num(cur.gid)).map(|g| g.name.clone()));
        let wanted = self.wanted_groups(facts, primary.as_deref())?;
        let mut changes = Map::new();
        let mut m = UserMod {
            name: name.clone(),
            uid: self.uid.filter(|u| *u != cur.uid),
            gid: target_gid
                .as_ref()
                .filter(|g| g.gid != cur.gid)
                .map(|g| g.gid),
            home: self.home.clone().filter(|h| *h != cur.home),
            shell: self.shell.clone().filter(|s| *s != cur.shell),
            non_unique: !self.unique,
            expire: self.expire.filter(|e| Some(*e) != facts.expire),
            ..UserMod::default()
        };
        // Salt changes an existing user's uid or gid only when allowed
        // (file ownership is not changed with it).
        let mut refused = vec![];
        if let (Some(new), false) = (m.uid, self.allow_uid_change) {
            refused.push(format!(
                "- Changing uid ({} -> {new}) not permitted, set allow_uid_change to True to force this change. Note that this will not change file ownership.",
                cur.uid
            ));
        }
        if let (Some(_), false, Some(declared)) = (m.gid, self.allow_gid_change, &self.gid) {
            refused.push(format!(
                "- Changing gid ({} -> {}) not permitted, set allow_gid_change to True to force this change. Note that this will not change file ownership.",
                cur.gid,
                declared.as_word()
            ));
        }
        if !refused.is_empty() {
            return Err(format!(
                "Encountered error checking for needed changes. Additional info follows:\n\n{}",
                refused.join("\n")
            ));
        }
        if let Some(uid) = m.uid {
            changes.insert("uid".into(), json!(uid));
        }
        if let Some(g) = m.gid {
            changes.insert("gid".into(), json!(g));
        }
        if let Some(h) = &m.home {
            changes.insert("home".into(), json!(h));
        }
        if let Some(s) = &m.shell {
            changes.insert("shell".into(), json!(s));
        }
        // Only the declared parts that differ change; the others (and the
        // commas already there) stay as they are.
        let mut gecos: Vec<&str> = cur.gecos.splitn(5, ',').collect();
        for (i, (what, want)) in GECOS.iter().zip(&self.gecos).enumerate() {
            let Some(want) = want else { continue };
            if gecos.get(i).copied().unwrap_or("") == want {
                continue;
            }
            changes.insert(what.to_string(), json!(want));
            if gecos.len() <= i {
                gecos.resize(i + 1, "");
            }
            gecos[i] = want;
            m.gecos = Some(gecos.join(","));
        }
        if let Some(e) = m.expire {
            changes.insert("expire".into(), json!(e));
        }
        if let Some(w) = wanted {
            let current: Vec<String> = facts
                .member_of
                .iter()
                .filter(|g| Some(*g) != primary.as_ref())
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if current != w {
                changes.insert("groups".into(), json!(w));
                m.groups = Some(GroupSet { want: w, current });
            }
        }
        let (hash, status) = self.wanted_hash(facts)?;
        if self.password_changes(status.as_deref()) {
            changes.insert("passwd".into(), json!(REDACTED));
            m.password = hash;
        }
        if let (Some(h), true, false) = (&self.home, self.createhome, facts.home_exists) {
            changes.insert("homeDoesNotExist".into(), json!(h));
            m.mkhome = Some(h.clone());
        }
        if changes.is_empty() {
            return Ok(Plan::noop(format!("User {name} is present and up to date")));
        }
        let change = Change::ModUser(m);
        if let Some(why) = tools.cannot(&change) {
            return Err(format!("user.present {name}: {why}"));
        }
        let comment = changed_comment(&changes);
        Ok(
            Plan::change(Value::Object(changes), comment).with_data(Account {
                tools,
                change,
                done: format!("Updated user {name}"),
            }),
        )
    }

    /// A declared hash to set: it differs (and is enforced) or none is set.
    fn password_changes(&self, status: Option<&str>) -> bool {
        self.password.is_some()
            && match status {
                Some("same") => false,
                Some("unset") => true,
                _ => self.enforce_password,
            }
    }

    /// The hash to set and how it compares with the host's (`same`,
    /// `unset`, `differs`). With hash_password the plaintext is hashed
    /// here with the salt (and algorithm, SHA-crypt's `$5$` or `$6$`) of
    /// the host's hash, as Salt re-uses it, so the same password gives
    /// the same hash and a converged run no change; otherwise with a new
    /// random salt, `$6$` (SHA-512).
    fn wanted_hash(&self, facts: &Facts) -> Result<(Option<Hash>, Option<String>), String> {
        let Some(p) = &self.password else {
            return Ok((None, None));
        };
        if !self.hash_password {
            return Ok((Some(Hash(p.clone())), facts.password.clone()));
        }
        let again = facts
            .password_setting
            .as_deref()
            .and_then(|setting| accounts::sha_crypt(p, setting));
        if let (Some(h), Some(digest)) = (&again, &facts.password_digest) {
            use sha2::Digest as _;
            let mine = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(h.as_bytes()));
            if mine == *digest {
                return Ok((Some(Hash(h.clone())), Some("same".into())));
            }
        }
        let status = facts.password.clone().unwrap_or_else(|| "differs".into());
        if let Some(h) = again {
            return Ok((Some(Hash(h)), Some(status)));
        }
        let setting = accounts::new_sha512_setting()
            .map_err(|e| format!("cannot read random bytes for a password salt: {e}"))?;
        let h = accounts::sha_crypt(p, &setting).ok_or("SHA-512 crypt failed")?;
        Ok((Some(Hash(h)), Some(status)))
    }

    fn plan_create(
        &self,
        facts: &Facts,
        tools: Tools,
        target_gid: Option<GroupEnt>,
    ) -> Result<Plan, String> {
        let name = &self.name;
        // Salt passes -o whenever unique is False; useradd then refuses
        // to run without a uid: the same failure, said before anything runs.
        if !self.unique && self.uid.is_none() {
            return Err(format!(
                "user.present {name}: unique: False needs a uid (useradd allows -o only with -u)"
            ));
        }
        // Debian's useradd refuses to create a user whose same-name group
        // already exists unless told to use it; using it is what the
        // declaration means.
        let primary = target_gid.or_else(|| facts.group_named(name).cloned());
        let wanted = self
            .wanted_groups(
                facts,
                primary.as_ref().map(|g| g.name.as_str()).or(Some(name)),
            )?
            .unwrap_or_default();
        let mut changes = Map::new();
        changes.insert("name".into(), json!(name));
        if let Some(uid) = self.uid {
            changes.insert("uid".into(), json!(uid));
        }
        if let Some(g) = &primary {
            changes.insert("gid".into(), json!(g.gid));
        }
        let default_home = facts
            .defaults
            .get("HOME")
            .map(|h| format!("{}/{name}", h.trim_end_matches('/')));
        let default_shell = facts.defaults.get("SHELL").cloned();
        if let Some(h) = self.home.as_ref().or(default_home.as_ref()) {
            changes.insert("home".into(), json!(h));
        }
        if let Some(sh) = self.shell.as_ref().or(default_shell.as_ref()) {
            changes.insert("shell".into(), json!(sh));
        }
        changes.insert("groups".into(), json!(wanted));
        for (what, v) in GECOS.iter().zip(&self.gecos) {
            if let Some(v) = v {
                changes.insert(what.to_string(), json!(v));
            }
        }
        // Salt's user.add writes the declared parts, then drops the
        // trailing empty ones.
        let gecos = self.gecos.iter().any(Option::is_some).then(|| {
            self.gecos
                .iter()
                .map(|v| v.as_deref().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",")
                .trim_end_matches(',')
                .to_string()
        });
        if let Some(e) = self.expire {
            changes.insert("expire".into(), json!(e));
        }
        let (hash, _) = self.wanted_hash(facts)?;
        if hash.is_some() {
            changes.insert("passwd".into(), json!(REDACTED));
        }
        let change = Change::NewUser(NewUser {
            name: name.clone(),
            uid: self.uid,
            primary: primary.map(|g| (g.name, g.gid)),
            groups: wanted,
            home: self.home.clone(),
            shell: self.shell.clone(),
            default_home,
            default_shell,
            createhome: self.createhome,
            gecos,
            system: self.system,
            non_unique: !self.unique,
            expire: self.expire,
            password: hash,
        });
        if let Some(why) = tools.cannot(&change) {
            return Err(format!("user.present {name}: {why}"));
        }
        Ok(Plan::change(
            Value::Object(changes),
            format!("User {name} set to be added"),
        )
        .with_data(Account {
            tools,
            change,
            done: format!("New user {name} created"),
        }))
    }
}

/// Salt's comment for an existing user's changes.
fn changed_comment(changes: &Map<String, Value>) -> String {
    let mut comment = String::from("The following user attributes are set to be changed:\n");
    for (k, v) in changes {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        comment.push_str(&format!("{k}: {v}\n"));
    }
    comment.trim_end().to_string()
}

/// The plan error when neither tool set is on the host.
const NO_TOOLS: &str = "neither useradd (shadow, Debian's `passwd` package) nor BusyBox's adduser/addgroup/deluser/delgroup found on this host";

/// A user or group plan's data: the typed change, the tool set that
/// renders it, and what the result says once done.
#[derive(Debug, PartialEq)]
pub(crate) struct Account {
    pub(crate) tools: Tools,
    pub(crate) change: Change,
    pub(crate) done: String,
}

/// The tool set a probe that ran [`accounts::DETECT`] reported.
pub(crate) fn tools_seen(text: &str) -> Result<Tools, String> {
    text.lines()
        .find_map(|l| l.strip_prefix("accounts "))
        .and_then(Tools::parse)
        .ok_or_else(|| NO_TOOLS.to_string())
}

/// A user or group plan's apply: its [`Account`] change rendered by its
/// tool set, after the PATH prelude and `first` (e.g. `set -e`).
pub(crate) fn apply_account(plan: &Plan, first: &str) -> Result<String, PlanMismatch> {
    let a = plan.data::<Account>()?;
    Ok(format!(
        "{PATH_PRELUDE}{first}{}",
        a.tools.render(&a.change)
    ))
}

/// Success: the planned changes with the applied comment the plan's
/// [`Account`] carries; failure: the tool's own message.
pub(crate) fn finish_with(plan: &Plan, out: Output) -> Applied {
    let done = match plan.data::<Account>() {
        Ok(a) => &a.done,
        Err(e) => return e.into(),
    };
    if out.rc == 0 {
        Applied {
            result: true,
            changes: plan.changes.clone(),
            comment: done.clone(),
        }
    } else {
        Applied {
            result: false,
            changes: Map::new(),
            comment: format!(
                "{} failed (exit {}): {}",
                plan.comment.lines().next().unwrap_or_default(),
                out.rc,
                out.text.trim()
            ),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentArgs {
    #[serde(default)]
    purge: bool,
    #[serde(default)]
    force: bool,
}

#[derive(Debug)]
struct Absent {
    name: String,
    purge: bool,
    force: bool,
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: AbsentArgs = super::typed_args(chunk)?;
    check_name("user name", &chunk.name).map_err(|m| format!("{}: {m}", chunk.describe()))?;
    Ok(Box::new(Absent {
        name: chunk.name.clone(),
        purge: a.purge,
        force: a.force,
    }))
}

impl StateFunction for Absent {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::absent("user", &self.name)
    }

    fn probe(&self) -> String {
        let u = quote(&self.name);
        // What userdel's remove_usergroup() looks at, so the plan can say
        // whether the same-name group goes too (Salt reports it).
        format!(
            "{PATH_PRELUDE}if pw=$(getent passwd {u}); then\n\
             printf 'passwd %s\\n' \"$pw\"\n{}{}\
             g=$(printf '%s\\n' \"$pw\" | cut -d: -f4)\n\
             e=$(getent group {u}) && printf 'group %s\\n' \"$e\"\n\
             getent passwd | awk -F: -v g=\"$g\" '$4 == g {{ print \"primary \" $1 }}'\n\
             grep -Eiq '^[[:space:]]*USERGROUPS_ENAB[[:space:]]+yes' /etc/login.defs 2>/dev/null && echo usergroups\n\
             fi\nexit 0\n",
            accounts::DETECT,
            accounts::REPORT
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let name = &self.name;
        let mut passwd = None;
        let mut group = None;
        let mut primary_of = Vec::new();
        let mut usergroups = false;
        for line in out.text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "passwd" => passwd = parse_passwd(rest),
                "group" => group = parse_group(rest),
                "primary" => primary_of.push(rest.to_string()),
                "usergroups" => usergroups = true,
                _ => {}
            }
        }
        let Some(pw) = passwd else {
            return Ok(Plan::noop(format!("User {name} is not present")));
        };
        let tools = tools_seen(out.text)?;
        let mut changes = Map::new();
        // shadow's userdel: USERGROUPS_ENAB, the same-name group is the
        // user's primary group, has no listed members, and (without -f) is
        // nobody else's primary group.
        let others: Vec<&String> = primary_of.iter().filter(|p| *p != name).collect();
        let group_goes = group.as_ref().is_some_and(|g| {
            usergroups
                && g.gid == pw.gid
                && g.members.is_empty()
                && (self.force || others.is_empty())
        });
        // BusyBox's deluser deletes ANY same-name group (or fails when it
        // is another user's primary group): refused where shadow keeps it.
        if let (Tools::Busybox, Some(g)) = (tools, &group) {
            if !(group_goes && others.is_empty()) {
                return Err(format!(
                    "user.absent {name}: this host has BusyBox's deluser, which also deletes group {name} \
                     (or fails when it is another user's primary group), where shadow's userdel keeps it \
                     ({}); remove or rename the group first",
                    busybox_keeps_why(g, &pw, &others)
                ));
            }
        }
        if group_goes {
            changes.insert(format!("{name} group"), json!("removed"));
        }
        changes.insert(name.clone(), json!("removed"));
        Ok(Plan::change(
            Value::Object(changes),
            format!("User {name} set for removal"),
        )
        .with_data(Account {
            tools,
            change: Change::DelUser {
                name: name.clone(),
                purge: self.purge,
                force: self.force,
            },
            done: format!("Removed user {name}"),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        apply_account(plan, "")
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_with(plan, out)
    }
}

/// Why shadow's userdel would keep the same-name group `g`.
fn busybox_keeps_why(g: &GroupEnt, pw: &PasswdEnt, others: &[&String]) -> String {
    if !others.is_empty() {
        let o: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        format!("it is the primary group of {}", o.join(","))
    } else if g.gid != pw.gid {
        "it is not the user's primary group".into()
    } else if !g.members.is_empty() {
        format!("it has members: {}", g.members.join(","))
    } else {
        "USERGROUPS_ENAB is not yes in /etc/login.defs".into()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn chunk(module: &str, function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone(module, function, name, args)
        }
    }

    pub(crate) fn ctx() -> BuildCtx<'static> {
        BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        }
    }

    /// `sh -n`: the snippet parses.
    pub(crate) fn syntax_ok(script: &str) {
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sh -n failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn present(args: Value) -> Box<dyn StateFunction> {
        build_present(&chunk("user", "present", "hlt-foo", args), &ctx()).unwrap()
    }

    /// The shared probe (one getent, one useradd -D for the run) gives each
    /// user.present state the lines its own calls print, on this machine's
    /// users: existing, missing, one getent answers by number.
    #[test]
    fn the_shared_probe_says_what_each_state_would() {
        let names = ["root", "daemon", "hlt-no-such-user", "0", "hlt*"];
        let states: Vec<Box<dyn StateFunction>> = names
            .iter()
            .map(|n| {
                let c = chunk("user", "present", n, json!({"groups": ["root"]}));
                build_present(&c, &ctx()).unwrap()
            })
            .collect();
        let args: Vec<String> = states
            .iter()
            .map(|f| f.shared_probe().unwrap().arg)
            .collect();
        let shared = shared_script(&args);
        let sh = |script: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        for (n, f) in names.iter().zip(&states) {
            let alone = sh(&format!("(\n{}\n)", f.probe()));
            let with = sh(&format!("{shared}(\n{}\n)", f.probe()));
            assert_eq!(with, alone, "{n}");
        }
        assert!(sh(&format!("{shared}(\n{}\n)", states[0].probe())).contains("passwd root:"));
    }

    fn plan(f: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        f.plan(Output { text, rc: 0 })
    }

    const DEFAULTS: &str = "accounts shadow\ndefault HOME=/home\ndefault SHELL=/bin/sh\n";

    fn existing(extra: &str) -> String {
        format!(
            "passwd hlt-foo:x:2001:2001:Foo Bar,,,:/home/hlt-foo:/bin/sh\n\
             member hlt-foo\nmember hlt-a\n\
             group hlt-foo:x:2001:\ngroup hlt-a:x:3001:hlt-foo\ngroup hlt-b:x:3002:\n\
             home-exists\n{DEFAULTS}{extra}"
        )
    }

    #[test]
    fn missing_user_is_created_with_its_properties() {
        let f = present(
            json!({"uid": 2001, "groups": ["hlt-a"], "shell": "/bin/bash", "password": "$6$x$y"}),
        );
        let p = plan(f.as_ref(), &format!("group hlt-a:x:3001:\n{DEFAULTS}")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"name": "hlt-foo", "uid": 2001, "home": "/home/hlt-foo", "shell": "/bin/bash",
                   "groups": ["hlt-a"], "passwd": REDACTED})
        );
        assert_eq!(p.comment, "User hlt-foo set to be added");
        let script = f.apply(&p).unwrap();
        assert!(
            script.contains("useradd -u 2001 -G hlt-a -m -s /bin/bash hlt-foo"),
            "{script}"
        );
        assert!(script.contains("printf '%s:%s\\n' hlt-foo '$6$x$y' | chpasswd -e"));
        syntax_ok(&script);
        syntax_ok(&f.probe());
        let done = f.finish(&p, Output { text: "", rc: 0 });
        assert_eq!(done.comment, "New user hlt-foo created");
        assert!(
            !f.finish(
                &p,
                Output {
                    text: "boom",
                    rc: 1
                }
            )
            .result
        );
    }

    #[test]
    fn an_existing_same_name_group_becomes_the_primary_group() {
        let f = present(json!({}));
        let p = plan(f.as_ref(), &format!("group hlt-foo:x:4000:\n{DEFAULTS}")).unwrap();
        assert_eq!(p.changes["gid"], 4000);
        assert!(f.apply(&p).unwrap().contains("useradd -g 4000 -m hlt-foo"));
    }

    #[test]
    fn up_to_date_is_a_noop() {
        let f = present(
            json!({"uid": 2001, "gid": "hlt-foo", "groups": ["hlt-a"], "home": "/home/hlt-foo",
                               "shell": "/bin/sh", "fullname": "Foo Bar", "password": "$6$x$y"}),
        );
        let p = plan(f.as_ref(), &existing("password same\n")).unwrap();
        assert!(p.is_noop(), "{p:?}");
        assert_eq!(p.comment, "User hlt-foo is present and up to date");
    }

    #[test]
    fn drift_changes_only_what_differs() {
        let f = present(
            json!({"uid": 2002, "allow_uid_change": true, "shell": "/bin/bash", "groups": ["hlt-b"], "fullname": "New Name"}),
        );
        let p = plan(f.as_ref(), &existing("")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"uid": 2002, "shell": "/bin/bash", "fullname": "New Name", "groups": ["hlt-b"]})
        );
        assert!(p.comment.contains("shell: /bin/bash"));
        let script = f.apply(&p).unwrap();
        assert!(
            script.contains("usermod -u 2002 -s /bin/bash -c 'New Name,,,' -G hlt-b hlt-foo"),
            "{script}"
        );
        syntax_ok(&script);
    }

    #[test]
    fn groups_semantics() {
        // Unset groups: left alone.
        assert!(plan(present(json!({})).as_ref(), &existing(""))
            .unwrap()
            .is_noop());
        // Empty list: removed from every supplementary group.
        let f = present(json!({"groups": []}));
        let p = plan(f.as_ref(), &existing("")).unwrap();
        assert_eq!(p.changes["groups"], json!([]));
        assert!(f.apply(&p).unwrap().contains("-G '' hlt-foo"));
        // remove_groups: False only adds.
        let p = plan(
            present(json!({"groups": ["hlt-b"], "remove_groups": false})).as_ref(),
            &existing(""),
        )
        .unwrap();
        assert_eq!(p.changes["groups"], json!(["hlt-a", "hlt-b"]));
        // Missing optional groups are skipped, missing required ones fail.
        let p = plan(
            present(json!({"groups": ["hlt-a"], "optional_groups": ["hlt-nope"]})).as_ref(),
            &existing(""),
        )
        .unwrap();
        assert!(p.is_noop());
        let e = plan(
            present(json!({"groups": ["hlt-nope", "hlt-a"]})).as_ref(),
            &existing(""),
        )
        .unwrap_err();
        assert_eq!(e, "The following group(s) are not present: hlt-nope");
        // Listing the primary group is not a change.
        assert!(plan(
            present(json!({"groups": ["hlt-foo", "hlt-a"]})).as_ref(),
            &existing("")
        )
        .unwrap()
        .is_noop());
    }

    #[test]
    fn password_is_never_shown() {
        let f = present(json!({"password": "$6$secret$hash"}));
        let p = plan(f.as_ref(), &existing("password differs\n")).unwrap();
        assert_eq!(p.changes["passwd"], REDACTED);
        assert!(!format!("{p:?}").contains("secret"));
        assert!(!f
            .probe()
            .lines()
            .any(|l| l.contains("printf") && l.contains("secret")));
        let keep = present(json!({"password": "$6$secret$hash", "enforce_password": false}));
        assert!(plan(keep.as_ref(), &existing("password differs\n"))
            .unwrap()
            .is_noop());
        assert!(!plan(keep.as_ref(), &existing("password unset\n"))
            .unwrap()
            .is_noop());
    }

    #[test]
    fn home_and_gid() {
        let f = present(json!({"home": "/srv/hlt foo", "gid": 3002, "allow_gid_change": true}));
        let p = plan(f.as_ref(), &existing("")).unwrap();
        assert_eq!(p.changes["home"], "/srv/hlt foo");
        assert_eq!(p.changes["gid"], 3002);
        let script = f.apply(&p).unwrap();
        assert!(
            script.contains("usermod -g 3002 -d '/srv/hlt foo' hlt-foo"),
            "{script}"
        );
        syntax_ok(&script);
        let f = present(json!({"gid": "hlt-nope"}));
        assert_eq!(
            plan(f.as_ref(), &existing("")).unwrap_err(),
            "Default group `hlt-nope` does not exist"
        );
    }

    /// Salt 3008 refuses an existing user's uid or gid change unless
    /// allowed; unique: False lets the uid be shared (-o).
    #[test]
    fn uid_and_gid_changes_need_allowing() {
        let e = plan(
            present(json!({"uid": 2002, "gid": 3002})).as_ref(),
            &existing(""),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Encountered error checking for needed changes. Additional info follows:\n\n\
             - Changing uid (2001 -> 2002) not permitted, set allow_uid_change to True to force this change. Note that this will not change file ownership.\n\
             - Changing gid (2001 -> 3002) not permitted, set allow_gid_change to True to force this change. Note that this will not change file ownership."
        );
        let f = present(json!({"uid": 0, "unique": false, "allow_uid_change": true}));
        let p = plan(f.as_ref(), &existing("")).unwrap();
        assert!(
            f.apply(&p).unwrap().contains("usermod -o -u 0 hlt-foo\n"),
            "{}",
            f.apply(&p).unwrap()
        );
        // Converged: nothing to allow.
        assert!(plan(
            present(json!({"uid": 2001, "gid": 2001})).as_ref(),
            &existing("")
        )
        .unwrap()
        .is_noop());
        // Creation: -o with the uid; BusyBox's adduser cannot.
        let f = present(json!({"uid": 0, "unique": false}));
        let p = plan(f.as_ref(), DEFAULTS).unwrap();
        assert!(f.apply(&p).unwrap().contains("useradd -o -u 0 -m hlt-foo"));
        let e = plan(f.as_ref(), "accounts busybox\n").unwrap_err();
        assert!(e.contains("cannot be given a uid shared"), "{e}");
        let e = plan(present(json!({"unique": false})).as_ref(), DEFAULTS).unwrap_err();
        assert!(e.ends_with("unique: False needs a uid (useradd allows -o only with -u)"));
        assert!(
            plan(present(json!({"unique": false})).as_ref(), &existing(""))
                .unwrap()
                .is_noop()
        );
    }

    #[test]
    fn gecos_fields() {
        // All five on a new user; trailing empty parts dropped as Salt does.
        let f = present(json!({"fullname": "Foo", "roomnumber": 12, "workphone": "+1 555"}));
        let p = plan(f.as_ref(), DEFAULTS).unwrap();
        assert_eq!(p.changes["roomnumber"], "12");
        let script = f.apply(&p).unwrap();
        assert!(script.contains("-c 'Foo,12,+1 555' hlt-foo"), "{script}");
        // Only what differs changes, the rest of the field stays.
        let seen = |g: &str| existing("").replace("Foo Bar,,,", g);
        let f = present(json!({"roomnumber": "12", "other": "x,y"}));
        let p = plan(f.as_ref(), &seen("Foo Bar,,,")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"roomnumber": "12", "other": "x,y"})
        );
        assert!(f
            .apply(&p)
            .unwrap()
            .contains("usermod -c 'Foo Bar,12,,,x,y' hlt-foo"));
        assert!(plan(f.as_ref(), &seen("Foo Bar,12,,,x,y"))
            .unwrap()
            .is_noop());
        // A short field grows only as far as needed.
        let f = present(json!({"workphone": "5"}));
        let p = plan(f.as_ref(), &seen("Foo")).unwrap();
        assert!(f.apply(&p).unwrap().contains("usermod -c Foo,,5 hlt-foo"));
        // An empty part declared empty is converged.
        assert!(
            plan(present(json!({"homephone": ""})).as_ref(), &seen("Foo"))
                .unwrap()
                .is_noop()
        );
        // BusyBox: set at creation, refused on an existing user.
        let e = plan(
            f.as_ref(),
            &seen("Foo").replace("accounts shadow", "accounts busybox"),
        )
        .unwrap_err();
        assert!(e.contains("fullname (GECOS)"), "{e}");
    }

    #[test]
    fn expire() {
        assert_eq!(expire_days(IntOrText::Text("1970-01-01".into())), Ok(0));
        assert_eq!(expire_days(IntOrText::Text("2030-12-31".into())), Ok(22279));
        assert_eq!(expire_days(IntOrText::Text("2024-02-29".into())), Ok(19782));
        assert_eq!(expire_days(IntOrText::Text("-1".into())), Ok(-1));
        assert_eq!(expire_days(IntOrText::Int(19000)), Ok(19000));
        for bad in ["2023-02-29", "2030-13-01", "soon", "30-1-1", "1969-12-31"] {
            assert!(expire_days(IntOrText::Text(bad.into())).is_err(), "{bad}");
        }
        assert!(expire_days(IntOrText::Int(-2)).is_err());
        let f = present(json!({"expire": "2030-12-31"}));
        syntax_ok(&f.probe());
        assert!(f.probe().contains("cut -d: -f8"));
        let p = plan(f.as_ref(), &existing("expire \n")).unwrap();
        assert_eq!(p.changes["expire"], 22279);
        assert!(f.apply(&p).unwrap().ends_with("chage -E 22279 hlt-foo\n"));
        assert!(plan(f.as_ref(), &existing("expire 22279\n"))
            .unwrap()
            .is_noop());
        // -1: never; the shadow file's empty field.
        assert!(plan(
            present(json!({"expire": -1})).as_ref(),
            &existing("expire \n")
        )
        .unwrap()
        .is_noop());
        // A new user: set after useradd.
        let p = plan(f.as_ref(), DEFAULTS).unwrap();
        assert!(f
            .apply(&p)
            .unwrap()
            .contains("useradd -m hlt-foo\nchage -E 22279 hlt-foo\n"));
        // BusyBox has no chage.
        let bb = existing("expire \n").replace("accounts shadow", "accounts busybox");
        assert!(plan(f.as_ref(), &bb).unwrap_err().contains("expire"));
        assert!(plan(f.as_ref(), "accounts busybox\n")
            .unwrap_err()
            .contains("an account expiry"));
    }

    /// hash_password: the plaintext is hashed on the controller with the
    /// host's salt; the probe carries neither it nor the host's hash.
    #[test]
    fn hash_password() {
        let f = present(json!({"password": "s3cret pw", "hash_password": true}));
        let probe = f.probe();
        assert!(!probe.contains("s3cret"), "{probe}");
        syntax_ok(&probe);
        let host = accounts::sha_crypt("s3cret pw", "$6$abcdefgh").unwrap();
        let digest = |h: &str| {
            use sha2::Digest as _;
            data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(h.as_bytes()))
        };
        let seen = |h: &str| {
            existing(&format!(
                "password-setting {}\npassword-digest {}\n",
                &h[..h.rfind('$').unwrap()],
                digest(h)
            ))
        };
        assert!(plan(f.as_ref(), &seen(&host)).unwrap().is_noop());
        // Another password under the same salt: set, with that salt.
        let other = accounts::sha_crypt("other", "$6$abcdefgh").unwrap();
        let p = plan(f.as_ref(), &seen(&other)).unwrap();
        assert_eq!(p.changes["passwd"], REDACTED);
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(!format!("{p:?}").contains(&host[12..]));
        let script = f.apply(&p).unwrap();
        assert!(script.contains(&format!("printf '%s:%s\\n' hlt-foo '{host}' | chpasswd -e")));
        assert!(!script.contains("s3cret"));
        // No hash yet: a new $6$ salt.
        let p = plan(f.as_ref(), &existing("password unset\n")).unwrap();
        let script = f.apply(&p).unwrap();
        assert!(script.contains("hlt-foo '$6$"), "{script}");
        // A new user likewise; enforce_password False keeps a set one.
        assert!(plan(f.as_ref(), DEFAULTS)
            .unwrap()
            .changes
            .contains_key("passwd"));
        let keep = present(
            json!({"password": "s3cret pw", "hash_password": true, "enforce_password": false}),
        );
        assert!(plan(keep.as_ref(), &seen(&other)).unwrap().is_noop());
        // A yescrypt ($y$) hash: not re-creatable here, replaced by $6$.
        let p = plan(f.as_ref(), &existing("password differs\n")).unwrap();
        assert!(p.changes.contains_key("passwd"));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let bad = |name: &str, args: Value| {
            build_present(&chunk("user", "present", name, args), &ctx()).is_err()
        };
        assert!(bad("hlt-foo", json!({"shel": "/bin/sh"})));
        assert!(bad("hlt-foo", json!({"uid": "abc"})));
        assert!(bad("hlt-foo", json!({"uid": -1})));
        assert!(bad("hlt-foo", json!({"shell": "bash"})));
        assert!(bad("hlt-foo", json!({"groups": ["a:b"]})));
        assert!(bad("hlt-foo", json!({"fullname": "a,b"})));
        assert!(bad("hlt-foo", json!({"createhome": "maybe"})));
        assert!(bad("hlt-foo", json!({"roomnumber": "1,2"})));
        assert!(bad("hlt-foo", json!({"workphone": "a:b"})));
        assert!(bad("hlt-foo", json!({"expire": "tomorrow"})));
        assert!(bad("hlt-foo", json!({"unique": "no"})));
        assert!(bad(
            "hlt-foo",
            json!({"password": "", "hash_password": true})
        ));
        assert!(!bad(
            "hlt-foo",
            json!({"password": "a:b", "hash_password": true})
        ));
        assert!(!bad("hlt-foo", json!({"other": "a,b", "homephone": 5550})));
        assert!(bad("-o", json!({})));
        assert!(bad("a b", json!({})));
        assert!(!bad(
            "hlt-foo",
            json!({"uid": "2001", "gid": "users", "groups": "a, b"})
        ));
        assert!(build_absent(
            &chunk("user", "absent", "hlt-foo", json!({"purge": 1})),
            &ctx()
        )
        .is_err());
    }

    #[test]
    fn absent() {
        let f = build_absent(
            &chunk("user", "absent", "hlt-foo", json!({"purge": true})),
            &ctx(),
        )
        .unwrap();
        syntax_ok(&f.probe());
        let p = plan(f.as_ref(), "").unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "User hlt-foo is not present");
        let seen = "passwd hlt-foo:x:2001:2001::/home/hlt-foo:/bin/sh\naccounts shadow\ngroup hlt-foo:x:2001:\nprimary hlt-foo\nusergroups\n";
        let p = plan(f.as_ref(), seen).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hlt-foo group": "removed", "hlt-foo": "removed"})
        );
        assert!(f.apply(&p).unwrap().ends_with("userdel -r hlt-foo\n"));
        syntax_ok(&f.apply(&p).unwrap());
        // Someone else's primary group stays.
        let p = plan(f.as_ref(), &format!("{seen}primary other\n")).unwrap();
        assert_eq!(Value::Object(p.changes), json!({"hlt-foo": "removed"}));
    }

    /// Where shadow is missing: BusyBox's defaults and commands, and what
    /// it cannot change refused at plan time (so test=True says it too).
    #[test]
    fn busybox_hosts() {
        let bb = |t: &str| t.replace("accounts shadow", "accounts busybox");
        let f = present(json!({"groups": ["hlt-a"], "fullname": "Foo"}));
        // `useradd -D` answers nothing there: BusyBox's defaults.
        let p = plan(f.as_ref(), "accounts busybox\ngroup hlt-a:x:3001:\n").unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"name": "hlt-foo", "home": "/home/hlt-foo", "shell": "/bin/sh",
                   "groups": ["hlt-a"], "fullname": "Foo"})
        );
        let script = f.apply(&p).unwrap();
        assert!(
            script.contains(
                "adduser -D -h /home/hlt-foo -s /bin/sh -g Foo hlt-foo\naddgroup hlt-foo hlt-a\n"
            ),
            "{script}"
        );
        syntax_ok(&script);
        // Groups: addgroup / delgroup.
        let f = present(json!({"groups": ["hlt-b"]}));
        let p = plan(f.as_ref(), &bb(&existing(""))).unwrap();
        assert_eq!(p.changes["groups"], json!(["hlt-b"]));
        assert!(f
            .apply(&p)
            .unwrap()
            .ends_with("addgroup hlt-foo hlt-b\ndelgroup hlt-foo hlt-a\n"));
        // No usermod: refused, naming the state and the fields.
        let f = present(
            json!({"uid": 2002, "allow_uid_change": true, "shell": "/bin/bash", "groups": ["hlt-b"]}),
        );
        let e = plan(f.as_ref(), &bb(&existing(""))).unwrap_err();
        assert!(
            e.starts_with("user.present hlt-foo: this host has BusyBox's account tools and no usermod: the uid, shell of existing user hlt-foo cannot be changed"),
            "{e}"
        );
        // Converged is converged on either.
        let f = present(json!({"uid": 2001, "shell": "/bin/sh", "groups": ["hlt-a"]}));
        assert!(plan(f.as_ref(), &bb(&existing(""))).unwrap().is_noop());
        // Neither tool set.
        assert!(plan(f.as_ref(), "default HOME=/home\n")
            .unwrap_err()
            .starts_with("neither useradd"));
    }

    #[test]
    fn busybox_deluser_only_where_userdel_would_drop_the_group_too() {
        let f = build_absent(
            &chunk("user", "absent", "hlt-foo", json!({"purge": true})),
            &ctx(),
        )
        .unwrap();
        let seen =
            "passwd hlt-foo:x:2001:2001::/home/hlt-foo:/bin/sh\naccounts busybox\nusergroups\n";
        let p = plan(f.as_ref(), &format!("{seen}group hlt-foo:x:2001:\n")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hlt-foo group": "removed", "hlt-foo": "removed"})
        );
        assert!(f
            .apply(&p)
            .unwrap()
            .ends_with("deluser --remove-home hlt-foo\n"));
        assert_eq!(
            Value::Object(plan(f.as_ref(), seen).unwrap().changes),
            json!({"hlt-foo": "removed"})
        );
        let e = plan(f.as_ref(), &format!("{seen}group hlt-foo:x:2001:bob\n")).unwrap_err();
        assert!(e.contains("(it has members: bob)"), "{e}");
        let e = plan(
            f.as_ref(),
            &format!("{seen}group hlt-foo:x:2001:\nprimary bob\n"),
        )
        .unwrap_err();
        assert!(e.contains("(it is the primary group of bob)"), "{e}");
    }

    /// The probe as it was before it read groups with one getent and
    /// split without tr/sed/cut: the reference its answers must equal.
    fn probe_before(name: &str, look: &[&str]) -> String {
        let u = quote(name);
        format!(
            "{PATH_PRELUDE}command -v useradd >/dev/null 2>&1 || echo no-useradd\n\
             if pw=$(getent passwd {u}); then\n\
             printf 'passwd %s\\n' \"$pw\"\n\
             id -Gn {u} 2>/dev/null | tr ' ' '\\n' | sed 's/^/member /'\n\
             fi\n\
             [ -n \"${{pw:-}}\" ] && printf '%s\\n' \"$pw\" | cut -d: -f4 | {{ read -r g; e=$(getent group \"$g\") && printf 'group %s\\n' \"$e\"; }}\n\
             for g in {}; do e=$(getent group \"$g\") && printf 'group %s\\n' \"$e\"; done\n\
             useradd -D 2>/dev/null | sed 's/^/default /'\n\
             exit 0\n",
            look.iter().map(|g| quote(g)).collect::<Vec<_>>().join(" ")
        )
    }

    /// The probe answers as before on a real Debian (a fleet host), for
    /// users that exist or not, with groups that exist or not, by name and
    /// by gid, leaving out only what the plan does not read there: an
    /// existing user's membership and groups unless the state declares
    /// groups (or a gid), and `useradd -D` unless the user is missing. The
    /// plans made from both answers are the same.
    /// `HALITE_TEST_CONTAINER=<fleet container> cargo test --lib -- --ignored`.
    #[test]
    #[ignore = "needs a Debian podman container named in HALITE_TEST_CONTAINER"]
    fn probe_answers_as_before_in_a_container() {
        let sh = crate::testing::container_sh;
        for (name, args, look) in [
            ("root", json!({}), vec!["root"]),
            (
                "deploy",
                json!({"groups": ["sudo", "nosuchgroup", "adm"]}),
                vec!["sudo", "nosuchgroup", "adm", "deploy"],
            ),
            (
                "alice",
                json!({"gid": 100, "optional_groups": ["users"]}),
                vec!["users", "100", "alice"],
            ),
            (
                "nosuchuser",
                json!({"groups": ["sudo"]}),
                vec!["sudo", "nosuchuser"],
            ),
        ] {
            let declared = args.as_object().is_some_and(|a| !a.is_empty());
            let f = build_present(&chunk("user", "present", name, args), &ctx()).unwrap();
            let now = sh(&f.probe());
            // The one line the probe added since: the tool set.
            assert!(now.contains("accounts shadow\n"), "{now}");
            let before = sh(&probe_before(name, &look));
            let missing = !before.contains("passwd ");
            assert_eq!(now.contains("default "), missing, "{name}: {now}");
            let wanted: String = before
                .lines()
                .filter(|l| match l.split_once(' ').map_or(*l, |(k, _)| k) {
                    "member" | "group" => declared || missing,
                    "default" => missing,
                    _ => true,
                })
                .map(|l| format!("{l}\n"))
                .collect();
            let kept: String = now
                .lines()
                .filter(|l| !l.starts_with("accounts "))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(kept, wanted, "{name}");
            assert_eq!(
                format!("{:?}", plan(f.as_ref(), &now)),
                format!(
                    "{:?}",
                    plan(f.as_ref(), &format!("accounts shadow\n{before}"))
                ),
                "{name}: the same plan from both answers"
            );
        }
    }
}
