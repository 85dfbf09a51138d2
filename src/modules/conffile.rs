//! A small text file a state edits (`/etc/sysctl.d/99-salt.conf`,
//! `/etc/hosts`, an ini file): read by the probe for a pure plan on the
//! controller; written whole and atomically, only if it is still what was
//! read (`ini`), where the edit is not remade on the host (`sysctl`,
//! `host`). Shared so that these modules read their files one way.

use sha2::Digest as _;

use crate::transport::quote::quote;

/// A larger file is refused rather than shipped and rewritten.
pub const MAX_SIZE: usize = 1024 * 1024;

/// A file as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// `None`: nothing is at the path.
    pub text: Option<String>,
}

impl Read {
    /// The content's hash, the apply's guard (`None`: the file was missing).
    pub fn sha256(&self) -> Option<String> {
        self.text.as_deref().map(sha256)
    }
}

pub fn sha256(text: &str) -> String {
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(text.as_bytes()))
}

/// A read-only snippet reporting the file at the shell word `path` (a
/// quoted value or `"$var"`) under `tag`: its content, `missing`,
/// `notfile` or `toolarge`. It does not exit, so a probe may go on.
pub fn probe(path: &str, tag: &str) -> String {
    format!(
        "if [ -f {path} ]; then\n\
         if [ \"$(wc -c < {path})\" -gt {MAX_SIZE} ]; then echo '{tag} toolarge'\n\
         else echo '{tag} content'; base64 < {path}; echo '{tag} end'; fi\n\
         elif [ -e {path} ] || [ -L {path} ]; then echo '{tag} notfile'\n\
         else echo '{tag} missing'; fi\n"
    )
}

/// The file in [`probe`]'s output (its other tagged lines are the
/// caller's, returned as they are). `path` names the file in errors.
pub fn parse(text: &str, tag: &str, path: &str) -> Result<(Read, Vec<String>), String> {
    let (tags, content) = super::tagged_probe(text, tag, path)?;
    let mut rest = Vec::new();
    let mut missing = false;
    for t in tags {
        match t.as_str() {
            "missing" => missing = true,
            "notfile" => return Err(format!("{path} exists and is not a regular file")),
            "toolarge" => return Err(format!("{path} is larger than {MAX_SIZE} bytes")),
            _ => rest.push(t),
        }
    }
    match (content, missing) {
        (Some(c), false) => Ok((Read { text: Some(c) }, rest)),
        (None, true) => Ok((Read { text: None }, rest)),
        _ => Err(format!("cannot read {path}: {}", text.trim())),
    }
}

/// Shell lines writing `content` to the file at the shell word `path`
/// atomically (the `file` module's write: a new file gets the umask's
/// mode, a replaced one keeps its owner and mode), only if it still has
/// the hash `sha256` (`None`: only if it is still missing).
pub fn write(path: &str, content: &str, sha256: Option<&str>) -> String {
    let guard = match sha256 {
        Some(sha) => format!(
            "[ \"$(sha256sum < \"$p\" | cut -d ' ' -f 1)\" = {} ] || {{ echo \"$p changed on the host after it was read; not overwritten\"; fail; }}\n",
            quote(sha)
        ),
        None => "if [ -e \"$p\" ] || [ -L \"$p\" ]; then echo \"$p appeared on the host after it was read; not overwritten\"; fail; fi\n".into(),
    };
    format!(
        "p={path}\nd=$(dirname -- \"$p\")\n{}",
        super::file::write_snippet(
            content.as_bytes(),
            &super::file::Perms::default(),
            false,
            &guard
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (String, i32) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// Read, rewrite, and refuse to overwrite a file that changed since.
    #[test]
    fn probe_write_and_guard_through_sh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.conf");
        let word = quote(&path.display().to_string());
        let (out, _) = sh(&probe(&word, "T:"));
        let (r, _) = parse(&out, "T:", "x").unwrap();
        assert_eq!(r.text, None);
        let (_, rc) = sh(&write(&word, "a = 1\n", None));
        assert_eq!(rc, 0);
        let (out, _) = sh(&probe(&word, "T:"));
        let (r, _) = parse(&out, "T:", "x").unwrap();
        assert_eq!(r.text.as_deref(), Some("a = 1\n"));
        let stale = sha256("other");
        let (out, rc) = sh(&write(&word, "b\n", Some(&stale)));
        assert_ne!(rc, 0);
        assert!(out.contains("changed on the host"), "{out}");
        let (_, rc) = sh(&write(&word, "b\n", r.sha256().as_deref()));
        assert_eq!(rc, 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        let (out, _) = sh(&probe(&quote(&dir.path().display().to_string()), "T:"));
        assert!(parse(&out, "T:", "d")
            .unwrap_err()
            .contains("not a regular"));
    }
}
