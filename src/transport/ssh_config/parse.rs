//! The lines of an ssh_config file: OpenSSH's word splitting, each keyword's
//! argument checked as `ssh` checks it (the same messages where they help),
//! `Include` expanded in place. What the lines mean for a host is the
//! parent module's business.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{
    expand_hostname, glob, parse_jumps, parse_port, tilde, Criterion, CriterionKind, Item, Place,
    Setting, Spot, SshConfigError, Strict,
};

/// OpenSSH (9.x) keywords halite reads nothing from: accepted and ignored.
/// A keyword in neither list is an error, as `ssh` makes it.
const IGNORED: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "casignaturealgorithms",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "checkhostip",
    "ciphers",
    "clearallforwardings",
    "compression",
    "connectionattempts",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gssapiauthentication",
    "gssapiclientidentity",
    "gssapidelegatecredentials",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapiserveridentity",
    "gssapitrustdns",
    "gatewayports",
    "globalknownhostsfile",
    "hashknownhosts",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "ipqos",
    "identityagent",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "pkcs11provider",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "preferredauthentications",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyauthentication",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "securitykeyprovider",
    "sendenv",
    "sessiontype",
    "setenv",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "syslogfacility",
    "tcpkeepalive",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
    "ignoreunknown",
    // aliases and deprecated or unsupported options OpenSSH still accepts
    "challengeresponseauthentication",
    "pubkeyacceptedkeytypes",
    "hostbasedkeytypes",
    "useroaming",
    "protocol",
    "cipher",
    "rhostsrsaauthentication",
    "rsaauthentication",
    "fallbacktorsh",
    "usersh",
    "useprivilegedport",
    "compressionlevel",
    "dsaauthentication",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "skeyauthentication",
    "tisauthentication",
    "smartcarddevice",
    // Keywords of later OpenSSH releases (9.3 to 10.x; 9.2, which the
    // fixture comes from, refuses them): a config written for a newer ssh
    // must not stop halite.
    "tag",
    "channeltimeout",
    "obscurekeystroketiming",
    "refuseconnection",
    "warnweakcrypto",
    "versionaddendum",
];

/// OpenSSH's own limit on nested `Include`s.
const MAX_DEPTH: usize = 16;

pub(super) struct Parser<'a> {
    pub(super) home: &'a Path,
    /// `IgnoreUnknown` patterns seen so far (in any block: see the module doc).
    pub(super) ignore_unknown: Vec<String>,
}

impl Parser<'_> {
    pub(super) fn file(&mut self, path: &Path, depth: usize) -> Result<Vec<Item>, SshConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| SshConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        self.text(&text, Arc::new(path.to_path_buf()), depth)
    }

    pub(super) fn text(
        &mut self,
        text: &str,
        path: Arc<PathBuf>,
        depth: usize,
    ) -> Result<Vec<Item>, SshConfigError> {
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = Place {
                path: path.clone(),
                line: i + 1,
            };
            let Some((keyword, args)) = split_line(line).map_err(|m| at.invalid(m))? else {
                continue;
            };
            if let Some(item) = self.directive(&keyword, args, &at, depth)? {
                items.push(item);
            }
        }
        Ok(items)
    }

    fn directive(
        &mut self,
        keyword: &str,
        args: Vec<String>,
        at: &Place,
        depth: usize,
    ) -> Result<Option<Item>, SshConfigError> {
        let key = keyword.to_lowercase();
        if args.is_empty() && key != "match" {
            return Err(at.invalid(format!("no argument after keyword \"{key}\"")));
        }
        let setting = match key.as_str() {
            "host" => return Ok(Some(Item::Host(args))),
            "match" => return parse_match(&args, at).map(|c| Some(Item::Match(c))),
            "include" => return self.include(&args, at, depth).map(Some),
            "ignoreunknown" => {
                self.ignore_unknown
                    .extend(args[0].split(',').map(str::to_lowercase));
                return Ok(None);
            }
            "hostname" => {
                let h = one(&key, args, at)?;
                // Only %h and %% may appear: checked now, so resolving cannot fail.
                expand_hostname(&h, "h").map_err(|m| at.invalid(m))?;
                Setting::HostName(h)
            }
            "user" => Setting::User(one(&key, args, at)?),
            "port" => {
                let p = one(&key, args, at)?;
                Setting::Port(parse_port(&p).ok_or_else(|| at.invalid(format!("Bad port '{p}'.")))?)
            }
            "identityfile" => Setting::IdentityFile(one(&key, args, at)?),
            "certificatefile" => Setting::CertificateFile(one(&key, args, at)?),
            "identitiesonly" => Setting::IdentitiesOnly(flag(&one(&key, args, at)?, at)?),
            "proxyjump" => {
                let v = one(&key, args, at)?;
                Setting::ProxyJump(if v.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(parse_jumps(&v).map_err(|m| at.invalid(m))?)
                })
            }
            // The rest of the line is the command, as ssh takes it.
            "proxycommand" => {
                let cmd = args.join(" ");
                Setting::ProxyCommand((!cmd.eq_ignore_ascii_case("none")).then_some(cmd))
            }
            "userknownhostsfile" => Setting::UserKnownHostsFile(args),
            "stricthostkeychecking" => Setting::Strict(strict(&one(&key, args, at)?, at)?),
            "connecttimeout" => Setting::ConnectTimeout(time(&one(&key, args, at)?, at)?),
            "serveraliveinterval" => Setting::ServerAliveInterval(time(&one(&key, args, at)?, at)?),
            "serveralivecountmax" => {
                let v = one(&key, args, at)?;
                Setting::ServerAliveCountMax(
                    v.parse()
                        .map_err(|_| at.invalid(format!("bad number '{v}'")))?,
                )
            }
            k if IGNORED.contains(&k) => return Ok(None),
            k if self.ignore_unknown.iter().any(|p| glob(p, k)) => return Ok(None),
            k => return Err(at.invalid(format!("Bad configuration option: {k}"))),
        };
        Ok(Some(Item::Set(Spot {
            value: setting,
            at: at.clone(),
        })))
    }

    /// Every file a glob names, each parsed now; none is not an error.
    fn include(
        &mut self,
        args: &[String],
        at: &Place,
        depth: usize,
    ) -> Result<Item, SshConfigError> {
        if depth >= MAX_DEPTH {
            return Err(at.invalid("Include nested too deeply"));
        }
        let mut files = Vec::new();
        for arg in args {
            let pattern = match tilde(arg, self.home) {
                p if p.is_absolute() => p,
                p => self.home.join(".ssh").join(p),
            };
            for path in expand_glob(&pattern) {
                files.push(self.file(&path, depth + 1)?);
            }
        }
        Ok(Item::Include(files))
    }
}

/// Files matching `pattern` (`*`, `?` in any component), sorted as glob(3)
/// sorts; names starting with `.` only match a pattern starting with `.`.
fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for comp in pattern.components().skip(1) {
        let part = comp.as_os_str().to_string_lossy();
        let wild = part.contains(['*', '?']);
        let mut next = Vec::new();
        for dir in &found {
            if !wild {
                next.push(dir.join(&*part));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || part.starts_with('.')) && glob(&part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

fn one(key: &str, mut args: Vec<String>, at: &Place) -> Result<String, SshConfigError> {
    if args.len() > 1 {
        return Err(at.invalid(format!("keyword {key} extra arguments at end of line")));
    }
    Ok(args.remove(0))
}

fn flag(v: &str, at: &Place) -> Result<bool, SshConfigError> {
    match v.to_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(at.invalid(format!("unsupported option \"{v}\"."))),
    }
}

fn strict(v: &str, at: &Place) -> Result<Strict, SshConfigError> {
    match v.to_lowercase().as_str() {
        "yes" | "true" => Ok(Strict::Yes),
        "no" | "false" | "off" => Ok(Strict::No),
        "ask" => Ok(Strict::Ask),
        "accept-new" => Ok(Strict::AcceptNew),
        _ => Err(at.invalid(format!("unsupported option \"{v}\"."))),
    }
}

/// OpenSSH's time format: `90`, `1m30s`, `1h` (s m h d w).
fn time(v: &str, at: &Place) -> Result<Duration, SshConfigError> {
    let bad = || at.invalid("invalid time value.");
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(mult));
        num.clear();
    }
    if !num.is_empty() {
        total = total.saturating_add(num.parse::<u64>().map_err(|_| bad())?);
    } else if v.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn parse_match(args: &[String], at: &Place) -> Result<Vec<Criterion>, SshConfigError> {
    if args.is_empty() {
        return Err(at.invalid("no argument after keyword \"match\""));
    }
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(word) = it.next() {
        let (negated, name) = match word.strip_prefix('!') {
            Some(n) => (true, n.to_lowercase()),
            None => (false, word.to_lowercase()),
        };
        let kind = match name.as_str() {
            "all" => {
                if args.len() > 1 {
                    return Err(at.invalid("Match all must appear alone"));
                }
                CriterionKind::All
            }
            // Later OpenSSH releases' criteria too (tagged, version,
            // sessiontype, command): refused by name, not as unknown.
            "canonical" | "final" | "localnetwork" | "tagged" | "version"
            | "sessiontype" | "command" => {
                return Err(at.invalid(format!(
                    "Match {name} is not supported by halite (use --ssh-config FILE with a file without it, or --ssh-config none)"
                )))
            }
            "exec" => CriterionKind::Exec(
                it.next()
                    .ok_or_else(|| at.invalid("Missing Match criteria for exec"))?
                    .clone(),
            ),
            "host" | "originalhost" | "user" | "localuser" => {
                let arg = it
                    .next()
                    .ok_or_else(|| at.invalid(format!("Missing Match criteria for {name}")))?
                    .clone();
                match name.as_str() {
                    "host" => CriterionKind::Host(arg),
                    "originalhost" => CriterionKind::OriginalHost(arg),
                    "user" => CriterionKind::User(arg),
                    _ => CriterionKind::LocalUser(arg),
                }
            }
            _ => return Err(at.invalid(format!("Bad Match condition: {word}"))),
        };
        out.push(Criterion { negated, kind });
    }
    Ok(out)
}

/// A line as keyword and arguments (OpenSSH's rules: `Key value`,
/// `Key=value`, double or single quotes, `\` escapes, `#` starting a word
/// begins a comment). `None` for blank and comment lines.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_string();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    Ok(Some((keyword, words(rest)?)))
}

fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => return Ok(out),
            _ => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('\\' | '"' | '\'' | ' ')) => {
                        word.push(n);
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                '"' | '\'' if quote == Some(c) => quote = None,
                '"' | '\'' if quote.is_none() => quote = Some(c),
                c => word.push(c),
            }
        }
        if quote.is_some() {
            return Err("invalid quotes".into());
        }
        out.push(word);
    }
}
