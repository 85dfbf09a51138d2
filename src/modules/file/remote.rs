//! `file.managed`'s remote sources (`http://`, `https://`, `ftp://`):
//! the HOST downloads them (curl, else wget: [`crate::modules::fetch`]),
//! never the controller. With `source_hash` the probe only hashes the
//! file already there (a converged file costs no download); the apply
//! downloads next to the target, checks the hash, then installs. With
//! `skip_verify` there is no hash to compare, so the probe downloads to a
//! temporary file, reports its sha256 (and its content, for the diff) and
//! removes it; the apply then insists on those same bytes, so what
//! test=True announced is what the apply does.

use crate::modules::fetch::{download_first, fetch_report, redact, DOWNLOADER};
use crate::transport::quote::quote;

/// Prefix of the lines the remote part of the probe prints (the file
/// probe's own lines start with `halite-file:`).
const TAG: &str = "halite-remote:";

/// Salt's hash types, by the length of their hex digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Salt's order in its messages.
const KINDS: [HashKind; 6] = [
    HashKind::Sha512,
    HashKind::Sha384,
    HashKind::Sha256,
    HashKind::Sha224,
    HashKind::Sha1,
    HashKind::Md5,
];

impl HashKind {
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "md5",
            HashKind::Sha1 => "sha1",
            HashKind::Sha224 => "sha224",
            HashKind::Sha256 => "sha256",
            HashKind::Sha384 => "sha384",
            HashKind::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            HashKind::Md5 => 32,
            HashKind::Sha1 => 40,
            HashKind::Sha224 => 56,
            HashKind::Sha256 => 64,
            HashKind::Sha384 => 96,
            HashKind::Sha512 => 128,
        }
    }

    /// The coreutils (and busybox) tool printing this digest.
    fn tool(self) -> String {
        format!("{}sum", self.name())
    }

    fn by_len(len: usize) -> Option<HashKind> {
        KINDS.into_iter().find(|k| k.hex_len() == len)
    }

    /// This digest of `bytes`, lowercase hex (for bytes the controller
    /// holds, such as a `salt://` archive).
    pub fn hex_of(self, bytes: &[u8]) -> String {
        use sha2::Digest as _;
        let hexed = |d: &[u8]| data_encoding::HEXLOWER.encode(d);
        match self {
            HashKind::Md5 => format!("{:x}", md5::compute(bytes)),
            HashKind::Sha1 => hexed(&sha1::Sha1::digest(bytes)),
            HashKind::Sha224 => hexed(&sha2::Sha224::digest(bytes)),
            HashKind::Sha256 => hexed(&sha2::Sha256::digest(bytes)),
            HashKind::Sha384 => hexed(&sha2::Sha384::digest(bytes)),
            HashKind::Sha512 => hexed(&sha2::Sha512::digest(bytes)),
        }
    }
}

/// A digest the downloaded file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub kind: HashKind,
    /// Lowercase hex.
    pub hex: String,
}

/// How the downloaded bytes are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `source_hash`.
    Hash(Digest),
    /// `skip_verify: True`: no hash is known before the probe downloads.
    Skip,
    /// `source_hash` names a file of hashes the host has (an absolute
    /// path) or downloads (a URL): the probe reads it, the plan picks the
    /// digest ([`extract_hash`]) with `source_hash_name`.
    HashFile {
        location: String,
        name: Option<String>,
    },
}

/// A remote source: the URLs to try in order (Salt's list of sources:
/// the first that can be had) and how its bytes are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub urls: Vec<String>,
    pub check: Check,
}

/// Salt's words for a `source_hash` it cannot read.
fn invalid_format(source_hash: &str) -> String {
    let kinds: Vec<String> = {
        let mut k = KINDS.to_vec();
        k.sort_by_key(|k| k.hex_len());
        k.iter()
            .map(|k| format!("{} ({})", k.name(), k.hex_len()))
            .collect()
    };
    format!(
        "Source hash {source_hash} format is invalid. The supported formats are: 1) a hash, \
         2) an expression in the format <hash_type>=<hash>, or 3) either a path to a local \
         file containing hashes, or a URI of a remote hash file. Supported protocols for \
         remote hash files are: salt, file, http, https, ftp, swift, s3. The hash may also \
         not be of a valid length, the following are supported hash types and lengths: {}.",
        kinds.join(", ")
    )
}

/// `source_hash` as Salt reads it: `TYPE=HEX` or a bare hex digest (its
/// type told by its length). A file of hashes on the host or at a URL is
/// refused by name (a `salt://` one is read by the caller, see
/// [`extract_hash`]).
pub fn parse_source_hash(source_hash: &str) -> Result<Digest, String> {
    let s = source_hash.trim();
    if s.starts_with('/') || s.contains("://") {
        return Err(format!(
            "source_hash {s}: a file of hashes must be a salt://, http(s)://, ftp:// or \
             file:// URL or an absolute path"
        ));
    }
    let is_hex = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    let (kind, hex) = match s.split_once('=') {
        Some((kind, hex)) => {
            let (kind, hex) = (kind.trim(), hex.trim());
            let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            let Some(k) = KINDS.into_iter().find(|k| k.name() == kind) else {
                return Err(format!(
                    "Invalid hash type '{kind}'. Supported hash types are: {}. Either remove \
                     the hash type and simply use '{hex}' as the source_hash, or change the \
                     hash type to a supported type.",
                    names.join(", ")
                ));
            };
            let Some(by_len) = HashKind::by_len(hex.len()).filter(|_| is_hex(hex)) else {
                return Err(invalid_format(s));
            };
            if by_len != k {
                return Err(format!(
                    "Invalid length ({}) for hash type '{kind}'. Either remove the hash type \
                     and simply use '{hex}' as the source_hash, or change the hash type to '{}'",
                    hex.len(),
                    by_len.name()
                ));
            }
            (k, hex)
        }
        None => match HashKind::by_len(s.len()).filter(|_| is_hex(s)) {
            Some(k) => (k, s),
            None => return Err(invalid_format(s)),
        },
    };
    Ok(Digest {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

/// The digest a file of hashes (`sha256sum` output, a BSD-style list...)
/// gives for the managed file, as Salt's `file.extract_hash` picks it: the
/// first hash on a line ending with `source_hash_name`, else with the
/// target's file name, else with the source's file name (or starting with
/// the name, path or URL, then blanks); else the first hash in the file.
/// A line's hash is its first run of 32 to 128 hex digits touching no
/// other letter or digit, of one of Salt's lengths.
pub fn extract_hash(
    text: &str,
    name: &str,
    source: &str,
    source_hash_name: Option<&str>,
) -> Option<Digest> {
    fn basename(p: &str) -> &str {
        p.rsplit('/').next().unwrap_or(p)
    }
    fn first_hash(line: &str) -> Option<Digest> {
        let run = line
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| (32..=128).contains(&w.len()) && w.chars().all(|c| c.is_ascii_hexdigit()))?;
        Some(Digest {
            kind: HashKind::by_len(run.len())?,
            hex: run.to_ascii_lowercase(),
        })
    }
    // `line` ends with `tail` just after one of `seps`, or starts with
    // `head` and blanks.
    fn names(line: &str, tail: &str, seps: &str, head: &str) -> bool {
        if !tail.is_empty() && line.ends_with(tail) {
            let before = line[..line.len() - tail.len()].chars().next_back();
            return before.is_some_and(|c| seps.contains(c));
        }
        !head.is_empty()
            && line
                .strip_prefix(head)
                .is_some_and(|rest| rest.starts_with(char::is_whitespace))
    }
    const BLANKS: &str = " \t\n\r\x0b\x0c";
    const SEPS: &str = " \t\n\r\x0b\x0c\\/*";
    let url_path = source.split_once("://").map_or(source, |(_, rest)| {
        rest.split_once('/').map_or(rest, |(_, p)| p)
    });
    let url_path = url_path.split(['?', '#']).next().unwrap_or_default();
    let source_base = basename(url_path);
    let mut partial = None;
    let mut found: [Option<Digest>; 3] = [None, None, None];
    for line in text.lines() {
        let line = line.trim();
        let Some(hash) = first_hash(line) else {
            continue;
        };
        partial.get_or_insert_with(|| hash.clone());
        if let Some(shn) = source_hash_name {
            if found[0].is_none() && names(line, shn, BLANKS, shn) {
                found[0] = Some(hash.clone());
            }
        }
        if found[1].is_none() && names(line, basename(name), SEPS, name) {
            found[1] = Some(hash.clone());
        }
        if found[2].is_none() && names(line, source_base, SEPS, source) {
            found[2] = Some(hash);
        }
    }
    found.into_iter().flatten().next().or(partial)
}

/// Salt's words when a file of hashes gives no hash.
pub fn no_hash_in_file(source_hash: &str) -> String {
    invalid_format(source_hash)
}

/// The most of a file of hashes the probe reads.
const HASH_FILE_LIMIT: u64 = 1024 * 1024;

/// What the remote part of the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteFacts {
    /// The target's digest of the wanted kind (when not sha256, which
    /// comes from the file probe itself).
    pub sum: Option<String>,
    /// The digest the source must have (`source_hash`, or the one a file
    /// of hashes gives); `skip_verify`: the sha256 of the probe's download.
    pub digest: Option<Digest>,
    /// `skip_verify`: the sha256 of what the probe downloaded.
    pub fetched_sha256: Option<String>,
    /// ...and its bytes, when small enough to diff.
    pub fetched: Option<Vec<u8>>,
}

impl Remote {
    /// Shell lines run before the file probe (which then says what is at
    /// `path`): the target's digest when it is not sha256, or (with
    /// `skip_verify`) the download's sha256 and content.
    pub fn probe(&self, path: &str) -> String {
        match &self.check {
            Check::Hash(d) if d.kind == HashKind::Sha256 => String::new(),
            Check::Hash(d) => format!(
                "if [ -f {p} ] && h_s=$({tool} < {p}); then echo \"{TAG} sum ${{h_s%% *}}\"; fi\n",
                p = quote(path),
                tool = d.kind.tool()
            ),
            Check::HashFile { location, .. } => {
                let get = if crate::modules::fetch::is_remote(location) {
                    format!(
                        "{DOWNLOADER}{}",
                        download_first(std::slice::from_ref(location), "\"$h_hf\"")
                    )
                } else {
                    let file = location.strip_prefix("file://").unwrap_or(location);
                    format!(
                        "h_rc=0\nh_e=$(cat -- {f} 2>&1 > \"$h_hf\") || {{ printf '@@fetch_failed %s\\n%s\\n' {f} \"$h_e\"; h_rc=1; }}\n",
                        f = quote(file)
                    )
                };
                let mut sums = String::new();
                for k in KINDS {
                    if k == HashKind::Sha256 {
                        continue;
                    }
                    sums.push_str(&format!(
                        "if [ -f {p} ] && grep -Eiq '(^|[^a-z0-9])[a-f0-9]{{{n}}}([^a-z0-9]|$)' \"$h_hf\" && h_s=$({tool} < {p}); then echo \"{TAG} sum-{kind} ${{h_s%% *}}\"; fi\n",
                        p = quote(path),
                        n = k.hex_len(),
                        tool = k.tool(),
                        kind = k.name(),
                    ));
                }
                format!(
                    "h_hf=$(mktemp \"${{TMPDIR:-/tmp}}/.halite-sums.XXXXXX\") || exit 1\n\
                     {get}if [ \"$h_rc\" -eq 0 ]; then\n\
                     echo '{TAG} hashes'; head -c {limit} \"$h_hf\" | base64; echo '{TAG} end'\n\
                     {sums}fi\nrm -f -- \"$h_hf\"\n",
                    limit = HASH_FILE_LIMIT,
                )
            }
            Check::Skip => format!(
                "{DOWNLOADER}h_dt=$(mktemp \"${{TMPDIR:-/tmp}}/.halite-dl.XXXXXX\") || exit 1\n\
                 {fetch}if [ \"$h_rc\" -eq 0 ]; then\n\
                 h_s=$(sha256sum < \"$h_dt\") && echo \"{TAG} sha256 ${{h_s%% *}}\"\n\
                 if [ \"$(wc -c < \"$h_dt\")\" -le {limit} ]; then echo '{TAG} content'; base64 < \"$h_dt\"; echo '{TAG} end'; fi\n\
                 fi\nrm -f -- \"$h_dt\"\n",
                fetch = download_first(&self.urls, "\"$h_dt\""),
                limit = super::DIFF_LIMIT,
            ),
        }
    }

    /// Read [`Remote::probe`]'s lines for the target `name`; a failed
    /// download (`skip_verify`) is Salt's "Failed to cache" error, a file
    /// of hashes that cannot be had Salt's "Source hash file ... not found".
    pub fn parse(&self, name: &str, text: &str) -> Result<RemoteFacts, String> {
        let mut f = RemoteFacts::default();
        let mut hashes: Option<Vec<u8>> = None;
        let mut sums: Vec<(String, String)> = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.strip_prefix(TAG) else {
                continue;
            };
            let (key, val) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
            match key {
                "sum" => f.sum = Some(val.to_ascii_lowercase()),
                k if k.starts_with("sum-") => {
                    sums.push((k[4..].to_string(), val.to_ascii_lowercase()))
                }
                "hashes" => {
                    let mut b64 = String::new();
                    for l in lines.by_ref() {
                        if l.starts_with(TAG) {
                            break;
                        }
                        b64.push_str(l.trim());
                    }
                    hashes = data_encoding::BASE64.decode(b64.as_bytes()).ok();
                }
                "sha256" => f.fetched_sha256 = Some(val.to_ascii_lowercase()),
                "content" => {
                    let mut b64 = String::new();
                    for l in lines.by_ref() {
                        if l.starts_with(TAG) {
                            break;
                        }
                        b64.push_str(l.trim());
                    }
                    f.fetched = data_encoding::BASE64.decode(b64.as_bytes()).ok();
                }
                _ => {}
            }
        }
        f.digest = match &self.check {
            Check::Hash(d) => Some(d.clone()),
            Check::Skip => {
                let Some(hex) = f.fetched_sha256.clone() else {
                    return Err(self.failure("", None, text).unwrap_or_else(|| {
                        format!("unexpected probe output (no download): {}", text.trim())
                    }));
                };
                Some(Digest {
                    kind: HashKind::Sha256,
                    hex,
                })
            }
            Check::HashFile {
                location,
                name: shn,
            } => {
                let Some(bytes) = hashes else {
                    let why = fetch_report(text)
                        .err()
                        .and_then(|e| e.into_iter().next())
                        .map_or(String::new(), |(_, msg)| format!(" ({msg})"));
                    return Err(format!(
                        "Source hash file {} not found{why}",
                        redact(location)
                    ));
                };
                let d = extract_hash(
                    &String::from_utf8_lossy(&bytes),
                    name,
                    &self.urls[0],
                    shn.as_deref(),
                )
                .ok_or_else(|| invalid_format(&redact(location)))?;
                f.sum = sums
                    .into_iter()
                    .find(|(k, _)| k == d.kind.name())
                    .map(|(_, v)| v);
                Some(d)
            }
        };
        Ok(f)
    }

    /// The digest the apply's download must have (see [`RemoteFacts`]).
    pub fn expected(&self, facts: &RemoteFacts) -> Option<Digest> {
        facts.digest.clone()
    }

    /// Lines filling `$tmp` (the write's temporary file; `fail` removes
    /// it and exits): the download, then the digest check.
    pub fn fill(&self, expect: &Digest) -> String {
        format!(
            "{DOWNLOADER}{fetch}[ \"$h_rc\" -eq 0 ] || fail\n\
             h_s=$({tool} < \"$tmp\") || fail\nh_s=${{h_s%% *}}\n\
             [ \"$h_s\" = {hex} ] || {{ printf '@@hash_mismatch %s\\n' \"$h_s\"; fail; }}\n",
            fetch = download_first(&self.urls, "\"$tmp\""),
            tool = expect.kind.tool(),
            hex = quote(&expect.hex),
        )
    }

    /// The apply's (or the probe's) download failure or hash mismatch
    /// in Salt's words, if its output says one.
    pub fn failure(&self, name: &str, expect: Option<&Digest>, out: &str) -> Option<String> {
        if let Some(line) = out.lines().find_map(|l| l.strip_prefix("@@hash_mismatch ")) {
            return Some(match (&self.check, expect) {
                (Check::Skip, _) | (_, None) => format!(
                    "The content of {} changed since the probe downloaded it (sha256 now {})",
                    self.urls
                        .iter()
                        .map(|u| redact(u))
                        .collect::<Vec<_>>()
                        .join(", "),
                    line.trim()
                ),
                (_, Some(d)) => format!(
                    "Specified {} checksum for {name} ({}) does not match actual checksum ({})",
                    d.kind.name(),
                    d.hex,
                    line.trim()
                ),
            });
        }
        match fetch_report(out) {
            Ok(_) => None,
            Err(failures) if failures.is_empty() => None,
            Err(failures) => Some(
                failures
                    .iter()
                    .map(|(url, msg)| format!("Failed to cache {}: {msg}", redact(url)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hash_forms_and_salts_errors() {
        let md5 = "79eef25f9b0b2c642c62b7f737d4f53f";
        assert_eq!(
            parse_source_hash(md5),
            Ok(Digest {
                kind: HashKind::Md5,
                hex: md5.into()
            })
        );
        let sha = "A".repeat(64);
        assert_eq!(
            parse_source_hash(&format!("sha256={sha}")),
            Ok(Digest {
                kind: HashKind::Sha256,
                hex: sha.to_ascii_lowercase()
            })
        );
        assert_eq!(
            parse_source_hash(&format!("sha512 = {}", "0".repeat(128))).map(|d| d.kind),
            Ok(HashKind::Sha512)
        );
        let e = parse_source_hash("xyz").unwrap_err();
        assert!(e.starts_with("Source hash xyz format is invalid."), "{e}");
        assert!(
            e.ends_with(
                "md5 (32), sha1 (40), sha224 (56), sha256 (64), sha384 (96), sha512 (128)."
            ),
            "{e}"
        );
        let zeros = "0".repeat(64);
        assert_eq!(
            parse_source_hash(&format!("sha3={zeros}")).unwrap_err(),
            format!("Invalid hash type 'sha3'. Supported hash types are: sha512, sha384, sha256, sha224, sha1, md5. Either remove the hash type and simply use '{zeros}' as the source_hash, or change the hash type to a supported type.")
        );
        assert_eq!(
            parse_source_hash(&format!("md5={zeros}")).unwrap_err(),
            format!("Invalid length (64) for hash type 'md5'. Either remove the hash type and simply use '{zeros}' as the source_hash, or change the hash type to 'sha256'")
        );
        assert!(parse_source_hash("md5=xyz").is_err());
        assert!(parse_source_hash(&"g".repeat(32)).is_err());
        for file in ["s3://bucket/SHA256SUMS", "swift://c/sums"] {
            let e = parse_source_hash(file).unwrap_err();
            assert!(e.contains("a file of hashes must be"), "{e}");
        }
    }

    #[test]
    fn hash_files_pick_as_salt_does() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(32);
        let text = format!("{c}  other.tar.gz\n{a}  ./dir/app.tar.gz\n{b} *app.bin\n");
        let get = |name: &str, source: &str, shn: Option<&str>| {
            extract_hash(&text, name, source, shn).map(|d| d.hex)
        };
        // source_hash_name first, then the target's file name, then the
        // source's.
        assert_eq!(
            get("/opt/x", "https://h/d/app.tar.gz", None),
            Some(a.clone())
        );
        assert_eq!(
            get("/opt/app.bin", "https://h/d/app.tar.gz", None),
            Some(b.clone())
        );
        assert_eq!(
            get(
                "/opt/app.bin",
                "https://h/d/app.tar.gz",
                Some("other.tar.gz")
            ),
            Some(c.clone())
        );
        // Nothing named: the first hash of the file.
        assert_eq!(get("/opt/x", "https://h/none", None), Some(c.clone()));
        // A line starting with the target's path names it; BSD's
        // `SHA256 (y) = HEX` names nothing (Salt looks at the line's end).
        let bsd = format!("SHA256 (y) = {b}\n/opt/x {a}\n");
        assert_eq!(
            extract_hash(&bsd, "/opt/y", "https://h/y", None).map(|d| d.hex),
            Some(b.clone())
        );
        assert_eq!(
            extract_hash(&bsd, "/opt/x", "https://h/z", None).map(|d| d.hex),
            Some(a.clone())
        );
        // No hash of a known length.
        assert_eq!(extract_hash("abc x\n", "/x", "https://h/x", None), None);
        assert_eq!(
            extract_hash(
                &format!("{}  x\n", "d".repeat(50)),
                "/x",
                "https://h/x",
                None
            ),
            None
        );
    }

    fn remote(check: Check) -> Remote {
        Remote {
            urls: vec!["https://example.com/a".into()],
            check,
        }
    }

    /// The probe's and the apply's lines under `sh`, with the controller's
    /// curl on a `file://` URL standing for a server.
    #[test]
    fn probe_and_fill_under_sh() {
        if !crate::testing::tool_at_hand("curl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::write(&src, "hello remote\n").unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "old\n").unwrap();
        let sh = |script: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", script])
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&out.stdout).to_string(),
                out.status.code(),
            )
        };
        let r = Remote {
            urls: vec![format!("file://{}", src.display())],
            check: Check::Skip,
        };
        let (out, _) = sh(&r.probe(target.to_str().unwrap()));
        let f = r.parse("/t", &out).unwrap();
        let sha = "12543eb212bfaeb4ba048745a032a4d4ad9f61231c89f503ef57228d5af52c8a";
        assert_eq!(f.fetched_sha256.as_deref(), Some(sha));
        assert_eq!(f.fetched.as_deref(), Some(&b"hello remote\n"[..]));

        let md5 = Check::Hash(parse_source_hash("md5=d41d8cd98f00b204e9800998ecf8427e").unwrap());
        let r5 = Remote {
            check: md5,
            ..r.clone()
        };
        let (out, _) = sh(&r5.probe(target.to_str().unwrap()));
        // md5 of "old\n".
        assert_eq!(
            r5.parse("/t", &out).unwrap().sum.as_deref(),
            Some("814fa5ca98406a903e22b43d9b610105")
        );

        let fill = |r: &Remote, d: &Digest| {
            sh(&format!(
                "tmp={}\nfail() {{ rm -f -- \"$tmp\"; exit 1; }}\n{}echo filled\n",
                quote(dir.path().join("tmp").to_str().unwrap()),
                r.fill(d)
            ))
        };
        let good = r.expected(&f).unwrap();
        let (out, rc) = fill(&r, &good);
        assert_eq!(rc, Some(0), "{out}");
        assert!(out.ends_with("filled\n"), "{out}");
        let bad = Digest {
            kind: HashKind::Sha256,
            hex: "0".repeat(64),
        };
        let r0 = Remote {
            check: Check::Hash(bad.clone()),
            ..r.clone()
        };
        let (out, rc) = fill(&r0, &bad);
        assert_eq!(rc, Some(1));
        assert!(!dir.path().join("tmp").exists());
        assert_eq!(
            r0.failure("/etc/a", Some(&bad), &out).unwrap(),
            format!(
                "Specified sha256 checksum for /etc/a ({}) does not match actual checksum ({sha})",
                bad.hex
            )
        );
    }

    /// A file of hashes on the host: read by the probe (with the
    /// target's digest of each kind it holds), picked by the plan.
    #[test]
    fn a_hash_file_on_the_host_under_sh() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("app.conf");
        std::fs::write(&target, "old\n").unwrap();
        let sums = dir.path().join("SUMS");
        let md5 = "9f9f90dbe3e5ee1218c86b8839db1995";
        std::fs::write(
            &sums,
            format!("{}  other\n{md5}  app.conf\n", "e".repeat(64)),
        )
        .unwrap();
        let r = Remote {
            urls: vec!["https://example.com/d/app.conf".into()],
            check: Check::HashFile {
                location: sums.to_str().unwrap().into(),
                name: None,
            },
        };
        let out = std::process::Command::new("sh")
            .args(["-c", &r.probe(target.to_str().unwrap())])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout).to_string();
        let f = r.parse(target.to_str().unwrap(), &out).unwrap();
        assert_eq!(
            f.digest,
            Some(Digest {
                kind: HashKind::Md5,
                hex: md5.into()
            })
        );
        // md5 of "old\n", the target's.
        assert_eq!(f.sum.as_deref(), Some("814fa5ca98406a903e22b43d9b610105"));
        let missing = Remote {
            check: Check::HashFile {
                location: "/nonexistent/SUMS".into(),
                name: None,
            },
            ..r.clone()
        };
        let out = std::process::Command::new("sh")
            .args(["-c", &missing.probe("/nonexistent/t")])
            .output()
            .unwrap();
        let e = missing
            .parse("/t", &String::from_utf8_lossy(&out.stdout))
            .unwrap_err();
        assert!(
            e.starts_with("Source hash file /nonexistent/SUMS not found ("),
            "{e}"
        );
    }

    #[test]
    fn a_failed_download_is_salts_failed_to_cache() {
        let r = remote(Check::Skip);
        let out = "@@fetch_failed https://example.com/a\ncurl: (22) The requested URL returned error: 404\n";
        assert_eq!(
            r.parse("/t", out).unwrap_err(),
            "Failed to cache https://example.com/a: curl: (22) The requested URL returned error: 404"
        );
        assert_eq!(
            r.failure("/etc/a", None, "@@fetched https://example.com/a\n"),
            None
        );
    }
}
