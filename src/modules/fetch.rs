//! Downloads on the host: the shell lines `pkg.installed`'s `sources` and
//! `file.managed`'s remote sources share. The host fetches with whatever it
//! has (curl, else wget); the controller never proxies the bytes.

use crate::transport::quote::quote;

/// Sets `h_dl` to the host's downloader (curl, else wget), or empty.
pub const DOWNLOADER: &str = "h_dl=\nfor h_t in curl wget; do\n\tif command -v \"$h_t\" >/dev/null 2>&1; then h_dl=$h_t; break; fi\ndone\n";

/// The URL schemes the host downloads (Salt's remote protocols that
/// curl and wget both speak).
pub const REMOTE_SCHEMES: [&str; 3] = ["http://", "https://", "ftp://"];

/// Whether `url` is one the host downloads.
pub fn is_remote(url: &str) -> bool {
    REMOTE_SCHEMES.iter().any(|p| url.starts_with(p))
}

/// `url` with its user and password (`https://USER:PASS@host/`) replaced
/// by `<redacted>`, as Salt's messages show URLs.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Lines downloading `url` to `dest` (a shell word) with `$h_dl`, saying
/// `@@fetch_failed URL` (redacted) and the tool's message, and setting
/// `h_rc`, when that fails. The URL never reaches a command line, where
/// any user of the host could read a password in it: the shell's own
/// `printf` hands it to curl as a config line on stdin (`-K -`); wget
/// reads it from stdin (`-i -`, GNU wget) when it holds a user or
/// password, else takes it as an argument (BusyBox's wget has no `-i`).
pub fn download(url: &str, dest: &str) -> String {
    let said = quote(&redact(url));
    let u = quote(url);
    let config = quote(&format!(
        "url = \"{}\"\n",
        url.replace('\\', "\\\\").replace('"', "\\\"")
    ));
    let wget = if has_userinfo(url) {
        format!("printf '%s\\n' {u} | wget -nv -O {dest} -i -")
    } else {
        format!("wget -nv -O {dest} -- {u}")
    };
    format!(
        "case $h_dl in\ncurl) h_e=$(printf '%s' {config} | curl -fsSL -o {dest} -K - 2>&1) ;;\nwget) h_e=$({wget} 2>&1) ;;\n*) h_e='neither curl nor wget is on the host'; false ;;\nesac || {{ printf '@@fetch_failed %s\\n%s\\n' {said} \"$h_e\"; h_rc=1; }}\n"
    )
}

/// Whether `url` carries a user or password (`scheme://USER[:PASS]@host`).
fn has_userinfo(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@'))
        .unwrap_or(false)
}

/// Lines downloading the first of `urls` that can be had to `dest`
/// (Salt's list of sources: the first that exists), after
/// [`DOWNLOADER`]: `h_rc` is 0 and `@@fetched URL` is said when one was,
/// else `h_rc` is 1 and each failure was said by [`download`].
pub fn download_first(urls: &[String], dest: &str) -> String {
    let mut s = String::from("h_rc=1\n");
    for url in urls {
        s.push_str(&format!(
            "if [ \"$h_rc\" -ne 0 ]; then\nh_rc=0\n{}[ \"$h_rc\" -ne 0 ] || printf '@@fetched %s\\n' {}\nfi\n",
            download(url, dest),
            quote(&redact(url))
        ));
    }
    s
}

/// What [`download_first`] said: the URL fetched, or each failure as
/// `(url, the tool's message)`.
pub fn fetch_report(out: &str) -> Result<String, Vec<(String, String)>> {
    let mut failures = Vec::new();
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        if let Some(url) = line.strip_prefix("@@fetched ") {
            return Ok(url.to_string());
        }
        if let Some(url) = line.strip_prefix("@@fetch_failed ") {
            let msg = lines.next().unwrap_or_default();
            failures.push((url.to_string(), msg.trim().to_string()));
        }
    }
    Err(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://u:secret@example.com/a"),
            "https://<redacted>@example.com/a"
        );
        assert_eq!(redact("ftp://example.com/a"), "ftp://example.com/a");
    }

    /// The first URL that can be had wins; the failures before it are
    /// said, and `fetch_report` names the one fetched (curl on `file://`
    /// URLs standing for a server).
    #[test]
    fn the_first_url_that_downloads_wins() {
        if !crate::testing::tool_at_hand("curl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("b.txt");
        std::fs::write(&src, "b\n").unwrap();
        let dest = dir.path().join("got");
        let urls = vec![
            "file:///nonexistent/halite-a".to_string(),
            format!("file://{}", src.display()),
        ];
        let out = sh(&format!(
            "h_dl=curl\n{}printf 'rc=%s\\n' \"$h_rc\"\n",
            download_first(&urls, &quote(dest.to_str().unwrap()))
        ));
        assert!(out.ends_with("rc=0\n"), "{out}");
        assert_eq!(fetch_report(&out), Ok(urls[1].clone()));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "b\n");

        let out = sh(&format!(
            "h_dl=\n{}printf 'rc=%s\\n' \"$h_rc\"\n",
            download_first(&urls[..1], "/dev/null")
        ));
        assert!(out.ends_with("rc=1\n"), "{out}");
        assert_eq!(
            fetch_report(&out),
            Err(vec![(
                urls[0].clone(),
                "neither curl nor wget is on the host".to_string()
            )])
        );
    }

    /// A password in a URL reaches neither curl's nor wget's command line
    /// (stand-ins record their arguments and stdin), and what the lines
    /// say back is redacted.
    #[test]
    fn a_password_in_a_url_never_reaches_a_command_line() {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["curl", "wget"] {
            std::fs::write(
                dir.path().join(tool),
                "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"$0.args\"\ncat > \"$0.stdin\"\necho 'failed' >&2\nexit 22\n",
            )
            .unwrap();
            let stand_in = dir.path().join(tool);
            std::process::Command::new("chmod")
                .args(["+x", stand_in.to_str().unwrap()])
                .status()
                .unwrap();
            let url = "https://ops:s3cr\"et@example.com/a \\b";
            let out = sh(&format!(
                "PATH={}:$PATH\nh_dl={tool}\nh_rc=0\n{}",
                quote(dir.path().to_str().unwrap()),
                download(url, "/dev/null")
            ));
            let args = std::fs::read_to_string(dir.path().join(format!("{tool}.args"))).unwrap();
            let stdin = std::fs::read_to_string(dir.path().join(format!("{tool}.stdin"))).unwrap();
            assert!(!args.contains("s3cr"), "{tool} {args}");
            assert!(stdin.contains("s3cr"), "{tool} {stdin}");
            if tool == "curl" {
                assert_eq!(
                    stdin,
                    "url = \"https://ops:s3cr\\\"et@example.com/a \\\\b\"\n"
                );
            }
            assert!(!out.contains("s3cr"), "{out}");
            assert!(
                out.starts_with("@@fetch_failed https://<redacted>@example.com/a"),
                "{out}"
            );
        }
    }
}
