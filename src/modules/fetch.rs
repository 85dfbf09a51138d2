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
/// `@@fetch_failed URL` and the tool's message, and setting `h_rc`, when
/// that fails.
pub fn download(url: &str, dest: &str) -> String {
    let u = quote(url);
    format!(
        "case $h_dl in\ncurl) h_e=$(curl -fsSL -o {dest} -- {u} 2>&1) ;;\nwget) h_e=$(wget -nv -O {dest} -- {u} 2>&1) ;;\n*) h_e='neither curl nor wget is on the host'; false ;;\nesac || {{ printf '@@fetch_failed %s\\n%s\\n' {u} \"$h_e\"; h_rc=1; }}\n"
    )
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
            quote(url)
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
        if std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_err()
        {
            crate::testing::missing_tool("curl is not installed");
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
}
