//! OpenSSH client configuration (`~/.ssh/config`), read as `ssh` reads it.
//!
//! Users describe their fleets there (aliases, users, ports, keys, bastions),
//! so halite reads the same file and gives each host the values `ssh HOST`
//! would use: the first value obtained wins, `Host` and `Match` blocks apply
//! in file order, `Include` pulls in files (globs, relative to ~/.ssh) where
//! it is written. The expectations of the tests come from the real client
//! (`ssh -G`, see tests/compat/gen_ssh_config.py), not from reading its code.
//!
//! Parsing happens once, before anything connects: a line OpenSSH would
//! refuse (`Port abc`, a missing argument, an unknown keyword, a bad `Match`)
//! is an error naming the file and line. Keywords OpenSSH knows but halite
//! does not act on are ignored, as are deprecated ones (as OpenSSH does).
//! `Match exec` runs its command on the controller, as `ssh` does.
//! `Match canonical`, `final` and `localnetwork` are refused: halite cannot
//! honour them, and ignoring them would connect somewhere else than `ssh`
//! does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A parse or expansion error, always naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("cannot read ssh_config {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: line {line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A token (`%x`) that cannot be expanded, found while resolving `host`.
    #[error("{}: line {line}: {message} (resolving host {host})", path.display())]
    Token {
        path: PathBuf,
        line: usize,
        host: String,
        message: String,
    },
}

/// Where a directive was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: Arc<PathBuf>,
    pub line: usize,
}

impl Place {
    fn invalid(&self, message: impl Into<String>) -> SshConfigError {
        SshConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// A value and where it came from (for errors found when it is used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot<T> {
    pub value: T,
    pub at: Place,
}

/// One hop of a `ProxyJump` (`[user@]host[:port]` or `ssh://[user@]host[:port]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parse a `ProxyJump` / `ssh -J` value: comma-separated hops.
pub fn parse_jumps(text: &str) -> Result<Vec<Hop>, String> {
    let invalid = || format!("invalid ProxyJump \"{text}\"");
    let mut hops = Vec::new();
    for part in text.split(',') {
        let rest = part.strip_prefix("ssh://").unwrap_or(part);
        let (user, rest) = match rest.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(invalid()),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner.split_once(']').ok_or_else(invalid)?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(invalid()),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            Some(p) => Some(parse_port(p).ok_or_else(invalid)?),
            None => None,
        };
        if host.is_empty() || host.contains(['/', ' ', '%']) {
            return Err(invalid());
        }
        hops.push(Hop {
            user,
            host: host.to_string(),
            port,
        });
    }
    Ok(hops)
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&p| p > 0)
}

/// How `ssh` would reach a host: through jump hosts or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// `ProxyJump none` / `ProxyCommand none`: connect directly.
    Direct,
    Jump(Vec<Hop>),
    /// The command as written (tokens are expanded by [`Resolved::proxy_command`]).
    Command(Spot<String>),
}

/// `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strict {
    Yes,
    No,
    Ask,
    AcceptNew,
}

/// The values ssh_config gives one host. `None`: not set by any line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// `HostName`, `%h` already expanded.
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// As written (see [`Resolved::expand_path`]).
    pub identity_files: Vec<Spot<String>>,
    pub certificate_files: Vec<Spot<String>>,
    pub identities_only: Option<bool>,
    pub proxy: Option<Proxy>,
    /// `UserKnownHostsFile`, as written; `none` is kept as the word.
    pub known_hosts_files: Option<Spot<Vec<String>>>,
    pub strict: Option<Strict>,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: Option<u32>,
}

/// Who asks: the host as given (before `HostName`), what the inventory
/// already fixed (it wins, as `ssh -l`/`-p` do), and the local user.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub host: &'a str,
    pub user: Option<&'a str>,
    pub port: Option<u16>,
    pub local_user: &'a str,
    pub home: &'a Path,
}

/// Everything `%` tokens may stand for once a host is resolved.
pub struct Tokens<'a> {
    pub query: &'a Query<'a>,
    pub resolved: &'a Resolved,
}

impl Tokens<'_> {
    fn original(&self) -> String {
        self.query.host.to_lowercase()
    }
    fn hostname(&self) -> String {
        self.resolved
            .hostname
            .clone()
            .unwrap_or_else(|| self.original())
    }
    fn port(&self) -> String {
        self.resolved.port.unwrap_or(22).to_string()
    }
    fn user(&self) -> String {
        self.resolved
            .user
            .clone()
            .unwrap_or_else(|| self.query.local_user.to_string())
    }
}

impl Resolved {
    /// A file name (IdentityFile, CertificateFile, UserKnownHostsFile) with
    /// `~` and the tokens OpenSSH expands in it (`%% %d %h %i %k %L %l %n %p %r %u`).
    pub fn expand_path(
        &self,
        value: &Spot<String>,
        query: &Query,
    ) -> Result<PathBuf, SshConfigError> {
        let t = Tokens {
            query,
            resolved: self,
        };
        let local = local_hostname();
        let short = local.split('.').next().unwrap_or_default().to_string();
        let uid = users_uid();
        let text = expand(&value.value, |c| {
            Some(match c {
                'd' => query.home.display().to_string(),
                'h' => t.hostname(),
                'i' => uid.clone(),
                'k' | 'n' => t.original(),
                'L' => short.clone(),
                'l' => local.clone(),
                'p' => t.port(),
                'r' => t.user(),
                'u' => query.local_user.to_string(),
                _ => return None,
            })
        })
        .map_err(|message| token_error(&value.at, query, message))?;
        Ok(tilde(&text, query.home))
    }

    /// `UserKnownHostsFile`'s files, expanded; `None` when not set, an empty
    /// list for `none`.
    pub fn known_hosts(&self, query: &Query) -> Result<Option<Vec<PathBuf>>, SshConfigError> {
        let Some(files) = &self.known_hosts_files else {
            return Ok(None);
        };
        if files.value.len() == 1 && files.value[0].eq_ignore_ascii_case("none") {
            return Ok(Some(Vec::new()));
        }
        files
            .value
            .iter()
            .map(|f| {
                self.expand_path(
                    &Spot {
                        value: f.clone(),
                        at: files.at.clone(),
                    },
                    query,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The `ProxyCommand` with `%% %h %n %p %r` expanded.
    pub fn proxy_command(&self, query: &Query) -> Result<Option<String>, SshConfigError> {
        let Some(Proxy::Command(cmd)) = &self.proxy else {
            return Ok(None);
        };
        let t = Tokens {
            query,
            resolved: self,
        };
        expand(&cmd.value, |c| {
            Some(match c {
                'h' => t.hostname(),
                'n' => t.original(),
                'p' => t.port(),
                'r' => t.user(),
                _ => return None,
            })
        })
        .map(Some)
        .map_err(|message| token_error(&cmd.at, query, message))
    }
}

fn token_error(at: &Place, query: &Query, message: String) -> SshConfigError {
    SshConfigError::Token {
        path: at.path.to_path_buf(),
        line: at.line,
        host: query.host.to_string(),
        message,
    }
}

/// Expand `%x` tokens with `value`; `%%` is `%`. An unknown token is an
/// error, as in OpenSSH.
fn expand(text: &str, value: impl Fn(char) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match value(t) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("unknown or unsupported token %{t} in \"{text}\"")),
            },
            None => return Err(format!("a lone % at the end of \"{text}\"")),
        }
    }
    Ok(out)
}

/// `~` and `~/...` as the user's home.
fn tilde(text: &str, home: &Path) -> PathBuf {
    if text == "~" {
        home.to_path_buf()
    } else if let Some(rest) = text.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(text)
    }
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn users_uid() -> String {
    // The crate denies unsafe code (libc::getuid is an unsafe call), so the
    // uid comes from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_default()
}

/// A parsed configuration: its lines, with `Include`d files in place.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Host(Vec<String>),
    Match(Vec<Criterion>),
    /// The files one `Include` line matched, each with its own items.
    Include(Vec<Vec<Item>>),
    Set(Spot<Setting>),
}

#[derive(Debug, Clone)]
struct Criterion {
    negated: bool,
    kind: CriterionKind,
}

#[derive(Debug, Clone)]
enum CriterionKind {
    All,
    Host(String),
    OriginalHost(String),
    User(String),
    LocalUser(String),
    /// `Match exec CMD`: the command (tokens expanded) exits 0.
    Exec(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Setting {
    HostName(String),
    User(String),
    Port(u16),
    IdentityFile(String),
    CertificateFile(String),
    IdentitiesOnly(bool),
    ProxyJump(Option<Vec<Hop>>),
    ProxyCommand(Option<String>),
    UserKnownHostsFile(Vec<String>),
    Strict(Strict),
    ConnectTimeout(Duration),
    ServerAliveInterval(Duration),
    ServerAliveCountMax(u32),
}

impl SshConfig {
    /// Read `path` and every file it includes. `home` is where `~` and
    /// relative `Include`s point (`~/.ssh/`).
    pub fn load(path: &Path, home: &Path) -> Result<SshConfig, SshConfigError> {
        let mut parser = parse::Parser {
            home,
            ignore_unknown: Vec::new(),
        };
        Ok(SshConfig {
            items: parser.file(path, 0)?,
        })
    }

    /// Parse `text` as if read from `path` (for tests).
    pub fn parse(text: &str, path: &Path, home: &Path) -> Result<SshConfig, SshConfigError> {
        let mut parser = parse::Parser {
            home,
            ignore_unknown: Vec::new(),
        };
        Ok(SshConfig {
            items: parser.text(text, Arc::new(path.to_path_buf()), 0)?,
        })
    }

    /// The values `ssh` would use for `query.host`.
    pub fn resolve(&self, query: &Query) -> Result<Resolved, SshConfigError> {
        let mut r = Resolved {
            user: query.user.map(str::to_string),
            port: query.port,
            ..Resolved::default()
        };
        walk(&self.items, query, &mut r, true);
        if let Some(h) = &r.hostname {
            let original = query.host.to_lowercase();
            r.hostname = Some(expand_hostname(h, &original).unwrap_or_else(|_| h.clone()));
        }
        Ok(r)
    }
}

fn expand_hostname(h: &str, original: &str) -> Result<String, String> {
    expand(h, |c| (c == 'h').then(|| original.to_string()))
}

/// Apply `items` to `r`; `active` says whether the enclosing block applies.
/// Returns nothing: an included file's `Host` lines end at its end.
fn walk(items: &[Item], q: &Query, r: &mut Resolved, outer: bool) {
    let mut active = outer;
    for item in items {
        match item {
            Item::Host(patterns) => active = outer && host_matches(patterns, q),
            Item::Match(criteria) => active = outer && match_matches(criteria, q, r),
            Item::Include(files) if active => {
                for f in files {
                    walk(f, q, r, true);
                }
            }
            Item::Include(_) => {}
            Item::Set(s) if active => apply(r, s),
            Item::Set(_) => {}
        }
    }
}

fn host_matches(patterns: &[String], q: &Query) -> bool {
    let host = q.host.to_lowercase();
    let mut hit = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if glob(neg, &host) => return false,
            Some(_) => {}
            None => hit |= glob(p, &host),
        }
    }
    hit
}

fn match_matches(criteria: &[Criterion], q: &Query, r: &Resolved) -> bool {
    let original = q.host.to_lowercase();
    let host = match &r.hostname {
        Some(h) => expand_hostname(h, &original).unwrap_or_else(|_| h.clone()),
        None => original.clone(),
    };
    let user = r.user.clone().unwrap_or_else(|| q.local_user.to_string());
    criteria.iter().all(|c| {
        let hit = match &c.kind {
            CriterionKind::All => true,
            CriterionKind::Host(list) => pattern_list(list, &host.to_lowercase(), true),
            CriterionKind::OriginalHost(list) => pattern_list(list, &original, true),
            CriterionKind::User(list) => pattern_list(list, &user, false),
            CriterionKind::LocalUser(list) => pattern_list(list, q.local_user, false),
            CriterionKind::Exec(cmd) => exec_matches(cmd, q, &host, &original, &user, r),
        };
        hit != c.negated
    })
}

/// `Match exec`: run the command as OpenSSH does (`/bin/sh -c`, tokens
/// `%% %d %h %k %L %l %n %p %r %u` expanded, no input or output) on the
/// controller; exit 0 is a match. A command that cannot be run, or a token
/// halite does not expand (`%C`, `%i`), is no match, and says so in the log.
fn exec_matches(
    cmd: &str,
    q: &Query,
    host: &str,
    original: &str,
    user: &str,
    r: &Resolved,
) -> bool {
    let local = local_hostname();
    let short = local.split('.').next().unwrap_or_default().to_string();
    let port = r.port.unwrap_or(22).to_string();
    let text = match expand(cmd, |c| {
        Some(match c {
            'd' => q.home.display().to_string(),
            'h' => host.to_string(),
            'k' | 'n' => original.to_string(),
            'L' => short.clone(),
            'l' => local.clone(),
            'p' => port.clone(),
            'r' => user.to_string(),
            'u' => q.local_user.to_string(),
            _ => return None,
        })
    }) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(
                "ssh_config Match exec `{cmd}` for {}: {e}; taken as no match",
                q.host
            );
            return false;
        }
    };
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&text)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
    {
        Ok(status) => status.success(),
        Err(e) => {
            tracing::warn!("ssh_config Match exec `{text}`: cannot run it: {e}; taken as no match");
            false
        }
    }
}

/// OpenSSH's pattern-list: comma-separated, `!` negates; a negated match
/// wins over any positive one.
fn pattern_list(list: &str, value: &str, lower: bool) -> bool {
    let mut hit = false;
    for p in list.split(',') {
        let p = if lower {
            p.to_lowercase()
        } else {
            p.to_string()
        };
        match p.strip_prefix('!') {
            Some(neg) if glob(neg, value) => return false,
            Some(_) => {}
            None => hit |= glob(&p, value),
        }
    }
    hit
}

/// `*` and `?` wildcards.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// First value wins; file lists accumulate.
fn apply(r: &mut Resolved, s: &Spot<Setting>) {
    fn first<T: Clone>(slot: &mut Option<T>, v: &T) {
        if slot.is_none() {
            *slot = Some(v.clone());
        }
    }
    match &s.value {
        Setting::HostName(h) => first(&mut r.hostname, h),
        Setting::User(u) => first(&mut r.user, u),
        Setting::Port(p) => first(&mut r.port, p),
        Setting::IdentityFile(f) => r.identity_files.push(Spot {
            value: f.clone(),
            at: s.at.clone(),
        }),
        Setting::CertificateFile(f) => r.certificate_files.push(Spot {
            value: f.clone(),
            at: s.at.clone(),
        }),
        Setting::IdentitiesOnly(b) => first(&mut r.identities_only, b),
        Setting::ProxyJump(hops) => first(
            &mut r.proxy,
            &match hops {
                Some(h) => Proxy::Jump(h.clone()),
                None => Proxy::Direct,
            },
        ),
        Setting::ProxyCommand(cmd) => first(
            &mut r.proxy,
            &match cmd {
                Some(c) => Proxy::Command(Spot {
                    value: c.clone(),
                    at: s.at.clone(),
                }),
                None => Proxy::Direct,
            },
        ),
        Setting::UserKnownHostsFile(files) => first(
            &mut r.known_hosts_files,
            &Spot {
                value: files.clone(),
                at: s.at.clone(),
            },
        ),
        Setting::Strict(v) => first(&mut r.strict, v),
        Setting::ConnectTimeout(d) => first(&mut r.connect_timeout, d),
        Setting::ServerAliveInterval(d) => first(&mut r.server_alive_interval, d),
        Setting::ServerAliveCountMax(n) => first(&mut r.server_alive_count_max, n),
    }
}

mod parse;
#[cfg(test)]
mod tests;
