//! Local accounts on the two tool sets a host may have: shadow's `useradd`,
//! `usermod`, `userdel`, `groupadd`, `groupmod`, `gpasswd`, `groupdel`
//! (Debian, RHEL, SUSE, Arch) or BusyBox's `adduser`, `addgroup`, `deluser`,
//! `delgroup` (Alpine and other small systems without shadow).
//!
//! The `user.*` and `group.*` states plan typed [`Change`]s from what they
//! observed; [`Tools::render`] turns one into shell for the tool set the
//! probe found ([`DETECT`]), and [`Tools::cannot`] says at plan time what
//! BusyBox cannot do at all: it has no `usermod` and no `groupmod`, so an
//! existing account's uid, gid, home, shell or GECOS cannot be changed
//! there (halite does not edit /etc/passwd by hand).

use std::collections::BTreeSet;

use crate::transport::quote::quote;

/// Sets `h_acct` (unless the run's shared probe set it already) to the
/// account tool set on PATH: `shadow` (useradd), `busybox` (BusyBox's
/// adduser, addgroup, deluser and delgroup) or `none`.
pub const DETECT: &str = r#"if [ -z "${h_acct-}" ]; then
	if command -v useradd >/dev/null 2>&1; then
		h_acct=shadow
	elif command -v adduser >/dev/null 2>&1 && command -v addgroup >/dev/null 2>&1 \
		&& command -v deluser >/dev/null 2>&1 && command -v delgroup >/dev/null 2>&1 \
		&& case $(adduser --help 2>&1) in *BusyBox*) true ;; *) false ;; esac; then
		h_acct=busybox
	else
		h_acct=none
	fi
fi
"#;

/// The probe line saying which tool set [`DETECT`] found.
pub const REPORT: &str = "printf 'accounts %s\\n' \"$h_acct\"\n";

/// The tool set a host manages its accounts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tools {
    Shadow,
    Busybox,
}

/// What BusyBox's adduser uses when not told otherwise; halite always
/// tells it (`-h`, `-s`), so a plan's home and shell are what is applied.
/// `/bin/sh` is also what Debian's `useradd -D` says.
pub const BUSYBOX_DEFAULTS: [(&str, &str); 2] = [("HOME", "/home"), ("SHELL", "/bin/sh")];

impl Tools {
    /// From the `accounts WORD` probe line's word; `None` for `none` (or
    /// anything else): neither tool set is there.
    pub fn parse(word: &str) -> Option<Tools> {
        match word.trim() {
            "shadow" => Some(Tools::Shadow),
            "busybox" => Some(Tools::Busybox),
            _ => None,
        }
    }
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewUser {
    pub name: String,
    pub uid: Option<u32>,
    /// The primary group when it exists already (name, gid); otherwise the
    /// tool makes a same-name group.
    pub primary: Option<(String, u32)>,
    /// Supplementary groups.
    pub groups: Vec<String>,
    /// As declared (shadow then uses `useradd -D`'s default).
    pub home: Option<String>,
    pub shell: Option<String>,
    /// What the plan reports when nothing is declared (the defaults).
    pub default_home: Option<String>,
    pub default_shell: Option<String>,
    pub createhome: bool,
    pub gecos: Option<String>,
    pub system: bool,
    /// `unique: False`: the uid may be another user's too (`-o`).
    pub non_unique: bool,
    /// Account expiry, days since 1970-01-01 (-1: never), set after creation.
    pub expire: Option<i64>,
    /// The crypt hash to set (stdin of `chpasswd -e`, never argv).
    pub password: Option<Hash>,
}

/// Supplementary groups to end with, and the ones the user is in now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSet {
    pub want: Vec<String>,
    pub current: Vec<String>,
}

/// Changes to an existing user; `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserMod {
    pub name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// The whole new GECOS field.
    pub gecos: Option<String>,
    pub groups: Option<GroupSet>,
    /// A declared home that does not exist: made as Salt's
    /// `file.mkdir(home, uid, gid, 0o755)` does.
    pub mkhome: Option<String>,
    /// `unique: False`: the new uid may be another user's too (`-o`).
    pub non_unique: bool,
    /// New account expiry, days since 1970-01-01 (-1: never).
    pub expire: Option<i64>,
    /// The crypt hash to set (stdin of `chpasswd -e`, never argv).
    pub password: Option<Hash>,
}

/// A password hash on its way to `chpasswd -e`: shown as Salt's
/// `XXX-REDACTED-XXX` wherever a plan is printed for debugging.
#[derive(Clone, PartialEq, Eq)]
pub struct Hash(pub String);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hash(XXX-REDACTED-XXX)")
    }
}

/// A group's members to change.
#[derive(Debug, Clone, PartialEq)]
pub enum Members {
    /// Exactly `want` (the group has `current` now).
    Exactly {
        want: Vec<String>,
        current: Vec<String>,
    },
    /// Add and remove these, leave the others.
    Change {
        add: Vec<String>,
        remove: Vec<String>,
    },
}

/// One account change, as the states plan it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    NewUser(NewUser),
    ModUser(UserMod),
    DelUser {
        name: String,
        purge: bool,
        force: bool,
    },
    NewGroup {
        name: String,
        gid: Option<u32>,
        system: bool,
        members: Vec<String>,
    },
    ModGroup {
        name: String,
        gid: Option<u32>,
        members: Members,
    },
    DelGroup {
        name: String,
    },
}

/// `a` without `b`, in `a`'s order.
fn minus<'a>(a: &'a [String], b: &[String]) -> Vec<&'a String> {
    let b: BTreeSet<&String> = b.iter().collect();
    a.iter().filter(|x| !b.contains(x)).collect()
}

impl Tools {
    /// What this tool set cannot do of `change`, as words for a state's
    /// comment ("the uid and shell of user hlt-foo"); `None` when it can.
    pub fn cannot(self, change: &Change) -> Option<String> {
        let (what, fields) = match (self, change) {
            (Tools::Shadow, _) => return None,
            (Tools::Busybox, Change::ModUser(m)) => (
                format!("user {}", m.name),
                [
                    ("uid", m.uid.is_some()),
                    ("gid", m.gid.is_some()),
                    ("home", m.home.is_some()),
                    ("shell", m.shell.is_some()),
                    ("fullname (GECOS)", m.gecos.is_some()),
                    ("expire", m.expire.is_some()),
                ]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(f, _)| *f)
                .collect::<Vec<_>>(),
            ),
            (Tools::Busybox, Change::ModGroup { name, gid, .. }) => (
                format!("group {name}"),
                if gid.is_some() { vec!["gid"] } else { vec![] },
            ),
            (Tools::Busybox, Change::NewUser(u)) => {
                let mut no = vec![];
                if u.non_unique && u.uid.is_some() {
                    no.push("a uid shared with another user (unique: False; adduser has no -o)");
                }
                if u.expire.is_some_and(|e| e != -1) {
                    no.push("an account expiry (expire; there is no chage)");
                }
                if no.is_empty() {
                    return None;
                }
                return Some(format!(
                    "this host has BusyBox's account tools: new user {} cannot be given {}",
                    u.name,
                    no.join(", ")
                ));
            }
            (Tools::Busybox, _) => return None,
        };
        if fields.is_empty() {
            return None;
        }
        let tool = if what.starts_with("user") {
            "usermod"
        } else {
            "groupmod"
        };
        Some(format!(
            "this host has BusyBox's account tools and no {tool}: the {} of existing {what} cannot be changed (halite does not edit /etc/passwd or /etc/group by hand)",
            fields.join(", ")
        ))
    }

    /// `change` as shell lines (the caller sets PATH and `set -e`).
    pub fn render(self, change: &Change) -> String {
        match (self, change) {
            (Tools::Shadow, Change::NewUser(u)) => {
                shadow_new_user(u) + &self.after(&u.name, u.expire, u.password.as_ref())
            }
            (Tools::Busybox, Change::NewUser(u)) => {
                busybox_new_user(u) + &self.after(&u.name, None, u.password.as_ref())
            }
            (Tools::Shadow, Change::ModUser(m)) => {
                shadow_mod_user(m) + &self.after(&m.name, m.expire, m.password.as_ref())
            }
            (Tools::Busybox, Change::ModUser(m)) => {
                busybox_mod_user(m) + &self.after(&m.name, None, m.password.as_ref())
            }
            (_, Change::DelUser { name, purge, force }) => {
                let mut cmd = vec![];
                match self {
                    Tools::Shadow => {
                        cmd.push("userdel");
                        if *purge {
                            cmd.push("-r");
                        }
                        if *force {
                            cmd.push("-f");
                        }
                    }
                    // deluser checks no logins: it always forces.
                    Tools::Busybox => {
                        cmd.push("deluser");
                        if *purge {
                            cmd.push("--remove-home");
                        }
                    }
                }
                format!("{} {}\n", cmd.join(" "), quote(name))
            }
            (
                _,
                Change::NewGroup {
                    name,
                    gid,
                    system,
                    members,
                },
            ) => self.new_group(name, *gid, *system, members),
            (_, Change::ModGroup { name, gid, members }) => self.mod_group(name, *gid, members),
            (Tools::Shadow, Change::DelGroup { name }) => format!("groupdel {}\n", quote(name)),
            (Tools::Busybox, Change::DelGroup { name }) => format!("delgroup {}\n", quote(name)),
        }
    }

    /// What follows creating or changing a user: shadow's `chage -E` for
    /// the expiry (as Salt's `shadow.set_expire`), then the password.
    fn after(self, user: &str, expire: Option<i64>, password: Option<&Hash>) -> String {
        let mut s = String::new();
        if let Some(days) = expire {
            s.push_str(&format!("chage -E {days} {}\n", quote(user)));
        }
        if let Some(h) = password {
            s.push_str(&self.password(user, &h.0));
        }
        s
    }

    /// Set the password hash from stdin, never argv: the same `chpasswd
    /// -e` on both (shadow's, or BusyBox's applet).
    pub fn password(self, user: &str, hash: &str) -> String {
        format!(
            "printf '%s:%s\\n' {} {} | chpasswd -e\n",
            quote(user),
            quote(hash)
        )
    }

    fn new_group(self, name: &str, gid: Option<u32>, system: bool, members: &[String]) -> String {
        let g = quote(name);
        let mut cmd = vec![match self {
            Tools::Shadow => "groupadd".to_string(),
            Tools::Busybox => "addgroup".to_string(),
        }];
        if system {
            cmd.push(match self {
                Tools::Shadow => "-r".into(),
                Tools::Busybox => "-S".into(),
            });
        }
        if let Some(n) = gid {
            cmd.push(format!("-g {n}"));
        }
        cmd.push(g.clone());
        let mut s = cmd.join(" ");
        s.push('\n');
        match self {
            Tools::Shadow if !members.is_empty() => s.push_str(&format!(
                "gpasswd -M {} {g} >/dev/null\n",
                quote(&members.join(","))
            )),
            Tools::Shadow => {}
            Tools::Busybox => {
                for u in members {
                    s.push_str(&format!("addgroup {} {g}\n", quote(u)));
                }
            }
        }
        s
    }

    fn mod_group(self, name: &str, gid: Option<u32>, members: &Members) -> String {
        let g = quote(name);
        let mut s = String::new();
        if let (Tools::Shadow, Some(n)) = (self, gid) {
            s.push_str(&format!("groupmod -g {n} {g}\n"));
        }
        let (add, remove): (Vec<&String>, Vec<&String>) = match (self, members) {
            (Tools::Shadow, Members::Exactly { want, .. }) => {
                s.push_str(&format!(
                    "gpasswd -M {} {g} >/dev/null\n",
                    quote(&want.join(","))
                ));
                (vec![], vec![])
            }
            (Tools::Busybox, Members::Exactly { want, current }) => {
                (minus(want, current), minus(current, want))
            }
            (_, Members::Change { add, remove }) => (add.iter().collect(), remove.iter().collect()),
        };
        let (plus, less) = match self {
            Tools::Shadow => ("gpasswd -a", "gpasswd -d"),
            Tools::Busybox => ("addgroup", "delgroup"),
        };
        let hush = if self == Tools::Shadow {
            " >/dev/null"
        } else {
            ""
        };
        for u in add {
            s.push_str(&format!("{plus} {} {g}{hush}\n", quote(u)));
        }
        for u in remove {
            s.push_str(&format!("{less} {} {g}{hush}\n", quote(u)));
        }
        s
    }
}

/// The crypt(3) alphabet of SHA-crypt salts and hashes.
const CRYPT_B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The order SHA-crypt writes the digest's bytes in, three at a time
/// (Drepper's specification), for SHA-256 and SHA-512.
const ORDER_256: [usize; 32] = [
    20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28,
    18, 29, 19, 9, 30, 31,
];
const ORDER_512: [usize; 64] = [
    42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8,
    50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58,
    37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
];

/// SHA-crypt (`$5$` or `$6$`) of `password` with the `setting` of an
/// existing hash (`$6$SALT` or `$6$rounds=N$SALT`, what precedes its last
/// `$`), as glibc's crypt(3) computes it: so a plaintext password hashed
/// again with the salt of the hash on the host gives that same hash when
/// it is the same password. `None`: not a SHA-crypt setting.
pub fn sha_crypt(password: &str, setting: &str) -> Option<String> {
    let rest = setting.strip_prefix('$')?;
    let (id, rest) = rest.split_once('$')?;
    let (rounds, salt) = match rest.split_once('$') {
        Some((r, salt)) => {
            let n: u64 = r.strip_prefix("rounds=")?.parse().ok()?;
            // glibc clamps the count and writes the clamped one.
            let n = n.clamp(1_000, 999_999_999) as u32;
            (Some(n), salt)
        }
        None => (None, rest),
    };
    // At most 16 salt characters count (and are written).
    let salt: String = salt.chars().take(16).collect();
    if salt.contains(['$', ':', '\n']) {
        return None;
    }
    let params = sha_crypt::Params::new(rounds.unwrap_or(5_000)).ok()?;
    let encoded = match id {
        "5" => encode(
            &sha_crypt::sha256_crypt(password.as_bytes(), salt.as_bytes(), params),
            &ORDER_256,
        ),
        "6" => encode(
            &sha_crypt::sha512_crypt(password.as_bytes(), salt.as_bytes(), params),
            &ORDER_512,
        ),
        _ => return None,
    };
    let rounds = rounds.map(|n| format!("rounds={n}$")).unwrap_or_default();
    Some(format!("${id}${rounds}{salt}${encoded}"))
}

/// A new `$6$` setting with 16 random salt characters from the kernel.
pub fn new_sha512_setting() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    // 256 is a multiple of 64: every character equally likely.
    let salt: String = bytes
        .iter()
        .map(|b| CRYPT_B64[usize::from(b % 64)] as char)
        .collect();
    Ok(format!("$6${salt}"))
}

/// crypt's base64: the digest in `order`, three bytes (little-endian) to
/// four characters, the last one or two bytes to two or three.
fn encode(digest: &[u8], order: &[usize]) -> String {
    let bytes: Vec<u8> = order.iter().map(|&i| digest[i]).collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut w = chunk
            .iter()
            .enumerate()
            .fold(0u32, |w, (i, b)| w | (u32::from(*b) << (8 * i)));
        for _ in 0..=chunk.len() {
            out.push(CRYPT_B64[(w & 0x3f) as usize] as char);
            w >>= 6;
        }
    }
    out
}

fn shadow_new_user(u: &NewUser) -> String {
    let mut cmd = vec!["useradd".to_string()];
    if u.system {
        cmd.push("-r".into());
    }
    if let Some(n) = u.uid {
        if u.non_unique {
            cmd.push("-o".into());
        }
        cmd.push(format!("-u {n}"));
    }
    if let Some((_, gid)) = &u.primary {
        cmd.push(format!("-g {gid}"));
    }
    if !u.groups.is_empty() {
        cmd.push(format!("-G {}", quote(&u.groups.join(","))));
    }
    if let Some(h) = &u.home {
        cmd.push(format!("-d {}", quote(h)));
    }
    cmd.push(if u.createhome { "-m" } else { "-M" }.into());
    if let Some(sh) = &u.shell {
        cmd.push(format!("-s {}", quote(sh)));
    }
    if let Some(f) = &u.gecos {
        cmd.push(format!("-c {}", quote(f)));
    }
    cmd.push(quote(&u.name));
    cmd.join(" ") + "\n"
}

/// BusyBox's adduser: `-G` is the PRIMARY group there (listed as a member
/// of it too, which shadow does not do: undone), supplementary groups come
/// one `addgroup USER GROUP` each, and a system user without a group would
/// get `nogroup`: its same-name group is made first, as shadow's does.
fn busybox_new_user(u: &NewUser) -> String {
    let n = quote(&u.name);
    let mut s = String::new();
    let mut primary = u.primary.as_ref().map(|(g, _)| g.clone());
    if u.system && primary.is_none() {
        s.push_str(&format!("addgroup -S {n}\n"));
        primary = Some(u.name.clone());
    }
    let mut cmd = vec!["adduser -D".to_string()];
    if u.system {
        cmd.push("-S".into());
    }
    if let Some(id) = u.uid {
        cmd.push(format!("-u {id}"));
    }
    if let Some(g) = &primary {
        cmd.push(format!("-G {}", quote(g)));
    }
    if let Some(h) = u.home.as_ref().or(u.default_home.as_ref()) {
        cmd.push(format!("-h {}", quote(h)));
    }
    if !u.createhome {
        cmd.push("-H".into());
    }
    if let Some(sh) = u.shell.as_ref().or(u.default_shell.as_ref()) {
        cmd.push(format!("-s {}", quote(sh)));
    }
    cmd.push(format!("-g {}", quote(u.gecos.as_deref().unwrap_or(""))));
    cmd.push(n.clone());
    s.push_str(&cmd.join(" "));
    s.push('\n');
    if let Some(g) = &primary {
        s.push_str(&format!("delgroup {n} {}\n", quote(g)));
    }
    for g in &u.groups {
        s.push_str(&format!("addgroup {n} {}\n", quote(g)));
    }
    s
}

fn shadow_mod_user(m: &UserMod) -> String {
    let mut cmd = vec!["usermod".to_string()];
    if let Some(n) = m.uid {
        if m.non_unique {
            cmd.push("-o".into());
        }
        cmd.push(format!("-u {n}"));
    }
    if let Some(n) = m.gid {
        cmd.push(format!("-g {n}"));
    }
    if let Some(h) = &m.home {
        cmd.push(format!("-d {}", quote(h)));
    }
    if let Some(sh) = &m.shell {
        cmd.push(format!("-s {}", quote(sh)));
    }
    if let Some(g) = &m.gecos {
        cmd.push(format!("-c {}", quote(g)));
    }
    if let Some(g) = &m.groups {
        cmd.push(format!("-G {}", quote(&g.want.join(","))));
    }
    let mut s = String::new();
    if cmd.len() > 1 {
        cmd.push(quote(&m.name));
        s.push_str(&cmd.join(" "));
        s.push('\n');
    }
    s.push_str(&mkhome(m));
    s
}

/// Only what BusyBox can do ([`Tools::cannot`] refused the rest).
fn busybox_mod_user(m: &UserMod) -> String {
    let n = quote(&m.name);
    let mut s = String::new();
    if let Some(g) = &m.groups {
        for add in minus(&g.want, &g.current) {
            s.push_str(&format!("addgroup {n} {}\n", quote(add)));
        }
        for del in minus(&g.current, &g.want) {
            s.push_str(&format!("delgroup {n} {}\n", quote(del)));
        }
    }
    s.push_str(&mkhome(m));
    s
}

fn mkhome(m: &UserMod) -> String {
    match &m.mkhome {
        Some(h) => {
            let (u, h) = (quote(&m.name), quote(h));
            format!("mkdir -p {h}\nchown {u}: {h}\nchmod 0755 {h}\n")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// DETECT under a PATH holding only stand-ins: shadow wins when both
    /// are there, BusyBox's adduser is told from Debian's by its --help.
    #[test]
    fn detect_finds_the_tool_set() {
        let dir = std::env::temp_dir().join(format!("halite-acct-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let tool = |name: &str, body: &str| {
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let run = || {
            sh(&format!(
                "PATH={}:/usr/bin:/bin\n{DETECT}{REPORT}",
                quote(bin.to_str().unwrap())
            ))
        };
        // Debian's adduser (a perl wrapper of useradd) without useradd.
        for a in ["addgroup", "deluser", "delgroup"] {
            tool(a, "exit 0");
        }
        tool("adduser", "echo 'adduser [--uid ID] USER' >&2; exit 1");
        assert_eq!(run(), "accounts none\n");
        tool(
            "adduser",
            "echo 'BusyBox v1.35.0 multi-call binary.' >&2; exit 1",
        );
        assert_eq!(run(), "accounts busybox\n");
        tool("useradd", "exit 0");
        assert_eq!(run(), "accounts shadow\n");
        // Already set by the shared probe: kept.
        assert_eq!(
            sh(&format!("h_acct=busybox\n{DETECT}{REPORT}")),
            "accounts busybox\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(Tools::parse("busybox"), Some(Tools::Busybox));
        assert_eq!(Tools::parse("shadow\n"), Some(Tools::Shadow));
        assert_eq!(Tools::parse("none"), None);
    }

    fn new_user() -> NewUser {
        NewUser {
            name: "hlt-foo".into(),
            uid: Some(2001),
            groups: strings(&["hlt-a", "it's"]),
            default_home: Some("/home/hlt-foo".into()),
            default_shell: Some("/bin/sh".into()),
            createhome: true,
            ..NewUser::default()
        }
    }

    #[test]
    fn a_new_user_on_each_tool_set() {
        let c = Change::NewUser(new_user());
        assert_eq!(
            Tools::Shadow.render(&c),
            "useradd -u 2001 -G 'hlt-a,it'\\''s' -m hlt-foo\n"
        );
        assert_eq!(
            Tools::Busybox.render(&c),
            "adduser -D -u 2001 -h /home/hlt-foo -s /bin/sh -g '' hlt-foo\n\
             addgroup hlt-foo hlt-a\naddgroup hlt-foo 'it'\\''s'\n"
        );
        let c = Change::NewUser(NewUser {
            primary: Some(("hlt g".into(), 3000)),
            home: Some("/srv/x y".into()),
            shell: Some("/bin/bash".into()),
            gecos: Some("Foo Bar".into()),
            createhome: false,
            system: true,
            groups: vec![],
            ..new_user()
        });
        assert_eq!(
            Tools::Shadow.render(&c),
            "useradd -r -u 2001 -g 3000 -d '/srv/x y' -M -s /bin/bash -c 'Foo Bar' hlt-foo\n"
        );
        assert_eq!(
            Tools::Busybox.render(&c),
            "adduser -D -S -u 2001 -G 'hlt g' -h '/srv/x y' -H -s /bin/bash -g 'Foo Bar' hlt-foo\n\
             delgroup hlt-foo 'hlt g'\n"
        );
        // A system user without a group: its own, not BusyBox's nogroup.
        let c = Change::NewUser(NewUser {
            system: true,
            groups: vec![],
            uid: None,
            ..new_user()
        });
        assert_eq!(
            Tools::Busybox.render(&c),
            "addgroup -S hlt-foo\nadduser -D -S -G hlt-foo -h /home/hlt-foo -s /bin/sh -g '' hlt-foo\n\
             delgroup hlt-foo hlt-foo\n"
        );
    }

    #[test]
    fn busybox_changes_only_groups_and_home_of_an_existing_user() {
        let m = UserMod {
            name: "hlt-foo".into(),
            groups: Some(GroupSet {
                want: strings(&["b", "c"]),
                current: strings(&["a", "b"]),
            }),
            mkhome: Some("/home/hlt-foo".into()),
            ..UserMod::default()
        };
        let c = Change::ModUser(m.clone());
        assert_eq!(Tools::Busybox.cannot(&c), None);
        assert_eq!(
            Tools::Busybox.render(&c),
            "addgroup hlt-foo c\ndelgroup hlt-foo a\n\
             mkdir -p /home/hlt-foo\nchown hlt-foo: /home/hlt-foo\nchmod 0755 /home/hlt-foo\n"
        );
        assert_eq!(
            Tools::Shadow.render(&c),
            "usermod -G b,c hlt-foo\n\
             mkdir -p /home/hlt-foo\nchown hlt-foo: /home/hlt-foo\nchmod 0755 /home/hlt-foo\n"
        );
        let c = Change::ModUser(UserMod {
            uid: Some(7),
            shell: Some("/bin/bash".into()),
            gecos: Some("X,,,".into()),
            ..m
        });
        assert_eq!(Tools::Shadow.cannot(&c), None);
        assert_eq!(
            Tools::Busybox.cannot(&c).unwrap(),
            "this host has BusyBox's account tools and no usermod: the uid, shell, fullname (GECOS) \
             of existing user hlt-foo cannot be changed (halite does not edit /etc/passwd or /etc/group by hand)"
        );
    }

    #[test]
    fn groups_on_each_tool_set() {
        let c = Change::NewGroup {
            name: "hlt-grp".into(),
            gid: Some(3100),
            system: true,
            members: strings(&["a", "b"]),
        };
        assert_eq!(
            Tools::Shadow.render(&c),
            "groupadd -r -g 3100 hlt-grp\ngpasswd -M a,b hlt-grp >/dev/null\n"
        );
        assert_eq!(
            Tools::Busybox.render(&c),
            "addgroup -S -g 3100 hlt-grp\naddgroup a hlt-grp\naddgroup b hlt-grp\n"
        );
        let exactly = Members::Exactly {
            want: strings(&["b", "c"]),
            current: strings(&["a", "b"]),
        };
        let c = Change::ModGroup {
            name: "hlt-grp".into(),
            gid: None,
            members: exactly.clone(),
        };
        assert_eq!(
            Tools::Shadow.render(&c),
            "gpasswd -M b,c hlt-grp >/dev/null\n"
        );
        assert_eq!(
            Tools::Busybox.render(&c),
            "addgroup c hlt-grp\ndelgroup a hlt-grp\n"
        );
        let c = Change::ModGroup {
            name: "hlt-grp".into(),
            gid: Some(3101),
            members: Members::Change {
                add: strings(&["c"]),
                remove: strings(&["a"]),
            },
        };
        assert_eq!(
            Tools::Shadow.render(&c),
            "groupmod -g 3101 hlt-grp\ngpasswd -a c hlt-grp >/dev/null\ngpasswd -d a hlt-grp >/dev/null\n"
        );
        assert!(Tools::Busybox
            .cannot(&c)
            .unwrap()
            .contains("no groupmod: the gid of existing group hlt-grp cannot be changed"));
        let del = Change::DelGroup {
            name: "hlt-grp".into(),
        };
        assert_eq!(Tools::Busybox.render(&del), "delgroup hlt-grp\n");
        assert_eq!(Tools::Shadow.render(&del), "groupdel hlt-grp\n");
    }

    /// Hashes glibc (openssl passwd) and the crate's own vectors wrote.
    #[test]
    fn sha_crypt_as_glibc() {
        let same = |pw: &str, hash: &str| {
            let setting = &hash[..hash.rfind('$').unwrap()];
            assert_eq!(sha_crypt(pw, setting).as_deref(), Some(hash), "{hash}");
        };
        same("pw", "$6$abcdefgh$KQeXafAQAaOoKTevphVU215RvJdgzyfASRasIOuh12hO8u0r1bGW92ZnTmC9IjsiQ8VPiTXBiZF49dFL1U4wX/");
        same(
            "pw",
            "$5$abcdefgh$ijtOJ//yvc/9bq1g0llFn9dB688BwBDRD90DlKKSKE1",
        );
        same("foobar", "$6$bbe605c2cce4c642$BiBOywFAm9kdv6ZPpj2GaKVqeh/.c21pf1uFBaq.e59KEE2Ej74iJleXaLXURYV6uh5LF4K7dDc4vtRtPiiKB/");
        same(
            "foobar",
            "$5$9aEeVXnCiCNHUjO/$FrVBcjyJukRaE6inMYazyQv1DBnwaKfom.71ebgQR/0",
        );
        same("foobar", "$6$rounds=10000$exn6tVc2j/MZD8uG$q.Qis0nwVTtKqvr9TB1DBJ1aPYNL1dpdOiYskPIwJ4Q//OT2IoOaSvToOPP8EsR51AFiWW.Xg9039Z7A8e7cb/");
        assert_eq!(sha_crypt("pw", "$y$j9T$abc"), None);
        assert_eq!(sha_crypt("pw", "$1$abc"), None);
        assert_eq!(sha_crypt("pw", "!"), None);
        let s = new_sha512_setting().unwrap();
        assert!(s.starts_with("$6$") && s.len() == 19, "{s}");
        assert_ne!(s, new_sha512_setting().unwrap());
    }

    #[test]
    fn deleting_a_user_and_setting_a_password() {
        let c = Change::DelUser {
            name: "hlt-foo".into(),
            purge: true,
            force: true,
        };
        assert_eq!(Tools::Shadow.render(&c), "userdel -r -f hlt-foo\n");
        assert_eq!(Tools::Busybox.render(&c), "deluser --remove-home hlt-foo\n");
        assert_eq!(
            Tools::Busybox.password("hlt-foo", "$6$x$y"),
            "printf '%s:%s\\n' hlt-foo '$6$x$y' | chpasswd -e\n"
        );
    }
}
