//! known_hosts handling: verify a server key, record a new one (--accept-new).
//!
//! halite reads the user's OpenSSH known_hosts file so that a fleet already
//! trusted by `ssh` is trusted by halite too, and records new keys in the same
//! format so `ssh` trusts what halite learnt. russh ships helpers for this,
//! but they reject a host as soon as *any* same-type line differs (even when
//! another line matches), stop at the first unparsable line and ignore
//! wildcards, negations and markers; a fleet's known_hosts has all of those,
//! so the format is read here, following sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
//!
//! The file is parsed once and cached (re-read when its size or mtime moves):
//! hundreds of parallel connections each look their host up in it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// One known_hosts line that names the host being checked.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number, for messages.
    pub line: usize,
    pub key: PublicKey,
    /// `@revoked`: this key must never be accepted.
    pub revoked: bool,
}

/// What known_hosts says about the key a server offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No line of the key's type names this host.
    Unknown,
    /// A line of the same key type names this host with another key.
    Changed {
        line: usize,
    },
    /// The key is marked `@revoked`.
    Revoked {
        line: usize,
    },
}

/// The name OpenSSH files a host under: `host`, or `[host]:port` off port 22.
pub fn host_name(host: &str, port: u16) -> String {
    // OpenSSH compares host names case-insensitively by lowercasing them first.
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// How a key is shown to a human: `ssh-ed25519 SHA256:…`, as `ssh` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// The lines of `path` that apply to `host`:`port`. A missing file has none.
pub fn lookup(path: &Path, host: &str, port: u16) -> io::Result<Vec<Entry>> {
    let name = host_name(host, port);
    let lines = cached_lines(path)?;
    Ok(lines
        .iter()
        .filter(|l| !l.cert_authority && matches_host(&l.patterns, &name))
        .filter_map(|l| match parse_key(&l.key) {
            Ok(key) => Some(Entry {
                line: l.number,
                key,
                revoked: l.revoked,
            }),
            Err(e) => {
                tracing::debug!(file = %path.display(), line = l.number, "skipping unparsable key: {e}");
                None
            }
        })
        .collect())
}

/// Judge `key` against the lines that apply to its host.
pub fn verify(entries: &[Entry], key: &PublicKey) -> Verdict {
    if let Some(e) = entries
        .iter()
        .find(|e| e.revoked && e.key.key_data() == key.key_data())
    {
        return Verdict::Revoked { line: e.line };
    }
    let plain = || entries.iter().filter(|e| !e.revoked);
    if plain().any(|e| e.key.key_data() == key.key_data()) {
        return Verdict::Known;
    }
    match plain().find(|e| e.key.algorithm() == key.algorithm()) {
        Some(e) => Verdict::Changed { line: e.line },
        None => Verdict::Unknown,
    }
}

/// The host key algorithms known_hosts already holds for a host, so that the
/// connection can ask for those first (as `ssh` does): a host recorded with
/// its ECDSA key must not be refused as unknown because it also has Ed25519.
pub fn known_algorithms(entries: &[Entry]) -> Vec<Algorithm> {
    let mut algs: Vec<Algorithm> = Vec::new();
    for e in entries.iter().filter(|e| !e.revoked) {
        let alg = e.key.algorithm();
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    algs
}

/// Serialises appends: many hosts are accepted in parallel, and two writers
/// interleaving (or both recording the same host) would corrupt the file.
static LEARN_LOCK: Mutex<()> = Mutex::new(());

/// Record `key` for `host`:`port` in `path` (creating the file and its
/// directory), unless a line recorded meanwhile already decides the host.
/// Returns the verdict after recording: `Known`, or `Changed`/`Revoked`
/// when another connection recorded a different key first.
pub fn learn(path: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<Verdict> {
    let _guard = LEARN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let verdict = verify(&lookup(path, host, port)?, key);
    if verdict != Verdict::Unknown {
        return Ok(verdict);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            // ~/.ssh must not be readable by others, as ssh creates it.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    let mut line = String::new();
    if file.seek(SeekFrom::End(-1)).is_ok() {
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let mut bare = key.clone();
    bare.set_comment("");
    let openssh = bare.to_openssh().map_err(io::Error::other)?;
    line.push_str(&host_name(host, port));
    line.push(' ');
    line.push_str(openssh.trim_end());
    line.push('\n');
    // One write on an O_APPEND descriptor: even another process appending at
    // the same time cannot split the line.
    file.write_all(line.as_bytes())?;
    file.flush()?;
    invalidate(path);
    Ok(Verdict::Known)
}

/// A known_hosts line split into fields, key not parsed yet: most lines name
/// other hosts, and parsing every key of a large file per host would dominate.
#[derive(Debug)]
struct Line {
    number: usize,
    cert_authority: bool,
    revoked: bool,
    patterns: String,
    /// `keytype base64`.
    key: String,
}

#[derive(Clone)]
struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    lines: Arc<Vec<Line>>,
}

fn cache() -> &'static Mutex<HashMap<PathBuf, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn invalidate(path: &Path) {
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(path);
}

fn cached_lines(path: &Path) -> io::Result<Arc<Vec<Line>>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Arc::new(Vec::new())),
        Err(e) => return Err(e),
    };
    let (modified, len) = (meta.modified().ok(), meta.len());
    if let Some(c) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(path) {
        if c.modified == modified && c.len == len {
            return Ok(c.lines.clone());
        }
    }
    // Bytes, not a String: a line of another encoding (or garbage) must cost
    // only that line, as in OpenSSH, not every host's check.
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let lines = Arc::new(parse(path, &bytes));
    cache().lock().unwrap_or_else(|p| p.into_inner()).insert(
        path.to_path_buf(),
        Cached {
            modified,
            len,
            lines: lines.clone(),
        },
    );
    Ok(lines)
}

/// The lines that can apply to some host. Like OpenSSH, a line that cannot
/// be understood is skipped (with a debug message), never an error. A
/// non-UTF-8 byte makes its field match no host name and parse as no key, so
/// only a line with such a byte in its comment is still used, as in OpenSSH.
fn parse(path: &Path, bytes: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        if let Cow::Owned(_) = text {
            tracing::debug!(file = %path.display(), line = i + 1, "line is not UTF-8");
        }
        out.extend(parse_line(i + 1, &text));
    }
    out
}

/// One line's fields; `None` for comments, blank and malformed lines.
fn parse_line(number: usize, raw: &str) -> Option<Line> {
    let mut fields = raw.split_whitespace();
    let mut first = fields.next()?;
    if first.starts_with('#') {
        return None;
    }
    let (mut cert_authority, mut revoked) = (false, false);
    if first.starts_with('@') {
        match first {
            "@cert-authority" => cert_authority = true,
            "@revoked" => revoked = true,
            _ => return None,
        }
        first = fields.next()?;
    }
    let (keytype, blob) = (fields.next()?, fields.next()?);
    Some(Line {
        number,
        cert_authority,
        revoked,
        patterns: first.to_string(),
        key: format!("{keytype} {blob}"),
    })
}

fn parse_key(text: &str) -> Result<PublicKey, russh::keys::ssh_key::Error> {
    PublicKey::from_openssh(text)
}

/// OpenSSH's rule: a line applies when some pattern matches and no negated
/// (`!pattern`) one does.
fn matches_host(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return matches_hashed(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as HashKnownHosts writes.
fn matches_hashed(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        data_encoding::BASE64.decode(salt.as_bytes()),
        data_encoding::BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// `*` and `?` wildcards, as in ssh_config patterns.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn entries(text: &str, host: &str, port: u16) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, text).unwrap();
        lookup(&path, host, port).unwrap()
    }

    #[test]
    fn a_matching_line_wins_over_a_stale_one() {
        let text = format!("web1 {ED2}\nweb1 {ED1}\n");
        assert_eq!(
            verify(&entries(&text, "web1", 22), &key(ED1)),
            Verdict::Known
        );
    }

    #[test]
    fn another_key_of_the_same_type_is_a_change_naming_the_line() {
        let text = format!("# comment\n\nother {ED1}\n[web1]:2222 {ED2}\n");
        assert_eq!(
            verify(&entries(&text, "web1", 2222), &key(ED1)),
            Verdict::Changed { line: 4 }
        );
        // Port 22 entries do not cover other ports.
        assert_eq!(
            verify(&entries(&text, "web1", 22), &key(ED1)),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_wildcard_negated_and_marked_lines() {
        // From russh's own tests: hashes "example.com".
        let hashed = "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";
        let es = entries(hashed, "example.com", 22);
        assert_eq!(es.len(), 1);
        assert!(entries(hashed, "example.org", 22).is_empty());

        let text = format!("*.lab,!db?.lab\t{ED1}\n");
        assert_eq!(entries(&text, "web1.lab", 22).len(), 1);
        assert!(entries(&text, "db1.lab", 22).is_empty());

        let text = format!("@cert-authority *.lab {ED2}\n@revoked web1.lab {ED1}\n");
        assert_eq!(
            verify(&entries(&text, "web1.lab", 22), &key(ED1)),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_costs_only_that_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        // A host name and a key with a stray byte, a garbage line, a good
        // line whose comment is Latin-1, then a line for other hosts.
        let mut text = b"web\xff1 ".to_vec();
        text.extend_from_slice(ED2.as_bytes());
        text.extend_from_slice(b"\n\xfe\xfd garbage\nweb1 ssh-ed25519 AAAA\xff\nweb1 ");
        text.extend_from_slice(ED1.as_bytes());
        text.extend_from_slice(b" comment \xe9t\xe9\n*.lab ");
        text.extend_from_slice(ED1.as_bytes());
        text.push(b'\n');
        fs::write(&path, &text).unwrap();
        let es = lookup(&path, "web1", 22).unwrap();
        assert_eq!(es.len(), 1, "{es:?}");
        assert_eq!(es[0].line, 4);
        assert_eq!(verify(&es, &key(ED1)), Verdict::Known);
        assert_eq!(lookup(&path, "db.lab", 22).unwrap()[0].line, 5);
    }

    #[test]
    fn learning_appends_once_and_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        assert_eq!(
            learn(&path, "10.0.0.1", 2222, &key(ED1)).unwrap(),
            Verdict::Known
        );
        assert_eq!(
            learn(&path, "10.0.0.1", 2222, &key(ED1)).unwrap(),
            Verdict::Known
        );
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[10.0.0.1]:2222 {ED1}\n"));
        assert_eq!(
            learn(&path, "10.0.0.1", 2222, &key(ED2)).unwrap(),
            Verdict::Changed { line: 1 }
        );
    }
}
