//! `file.managed` with remote sources on node1: a python `http.server` on
//! the controller, bound to the podman gateway the containers reach as
//! `host.containers.internal`, serves the files. The fleet images have no
//! curl nor wget, so when node1 lacks both the test installs a small
//! `curl` stand-in (bash's /dev/tcp, HTTP/1.0 GET, curl's `-fsSL -o`
//! interface and its 404 message) for the duration; halite's own lines
//! run unchanged. The server's log proves a converged file with a
//! `source_hash` costs no download.

mod harness;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use harness::{Fleet, Workspace};
use serde_json::{json, Value};

const NODE: &str = "node1";
const BASE: &str = "/srv/halite-remote-tests";

/// `curl -fsSL -o DEST -K -` (the URL as a config line on stdin, as
/// halite hands it over) or `-- URL`, for http:// URLs with bash alone.
const FAKE_CURL: &str = r#"#!/bin/bash
# halite test stand-in for curl (tests/file_remote.rs): http:// GET only.
while [ $# -gt 0 ]; do case $1 in -o) dest=$2; shift 2 ;; -K) cfg=$2; shift 2 ;; --) url=$2; shift 2 ;; *) shift ;; esac; done
if [ "$cfg" = - ]; then IFS= read -r line; url=${line#url = \"}; url=${url%\"}; fi
rest=${url#http://}; hp=${rest%%/*}; path=/${rest#*/}
exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || { echo "curl: (7) Failed to connect to $hp" >&2; exit 7; }
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" >&3
read -r _ code _ <&3
while IFS= read -r line <&3; do [ "$line" = $'\r' ] && break; [ -z "$line" ] && break; done
if [ "$code" != 200 ]; then echo "curl: (22) The requested URL returned error: $code" >&2; exit 22; fi
cat <&3 > "$dest"
"#;

/// Installs [`FAKE_CURL`] on node1 when it has neither curl nor wget;
/// says whether it did (the test removes it at its end).
fn curl_stand_in(fleet: &Fleet) -> bool {
    let missing = fleet
        .podman_exec(NODE, "command -v curl || command -v wget")
        .stdout
        .trim()
        .is_empty();
    if missing {
        fleet.podman_exec_ok(
            NODE,
            &format!(
                "mkdir -p /usr/local/bin && cat > /usr/local/bin/curl <<'EOF'\n{FAKE_CURL}EOF\nchmod 755 /usr/local/bin/curl"
            ),
        );
    }
    missing
}

/// The HTTP server, killed when dropped; its log counts requests.
struct Server {
    child: Child,
    log: std::path::PathBuf,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(fleet: &Fleet, dir: &Path) -> Server {
        let gw = fleet.podman_exec_ok(NODE, "getent hosts host.containers.internal");
        let addr = gw
            .split_whitespace()
            .next()
            .expect("host.containers.internal")
            .to_string();
        let port = std::env::var("HALITE_FLEET_PORT_BASE")
            .ok()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(22200)
            + 90;
        let log = dir.join("server.log");
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                &addr,
                "--directory",
            ])
            .arg(dir.join("www"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 -m http.server");
        let server = Server {
            child,
            log,
            url: format!("http://host.containers.internal:{port}"),
        };
        for _ in 0..50 {
            if std::net::TcpStream::connect((addr.as_str(), port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the http server on {addr}:{port} did not come up");
    }

    /// How many GETs of `path` the server answered.
    fn gets(&self, path: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"GET {path} HTTP")))
            .count()
    }
}

/// `halite --out json node1 state.apply SLS ARGS`: (exit code, node1's result).
fn apply(ws: &Workspace, sls: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec![NODE, "state.apply", sls];
    all.extend_from_slice(args);
    let (out, v) = ws.halite_json(&all);
    (out.code.unwrap_or(-1), v["results"][NODE].clone())
}

/// State ID -> (result, changes, comment).
fn states(h: &Value) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    harness::state_results(h)
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(b))
}

#[test]
fn remote_sources_converge_and_a_wrong_hash_writes_nothing() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    for (f, text) in [
        ("a.txt", "alpha\n"),
        ("b.txt", "beta\n"),
        ("c.txt", "gamma\n"),
        ("d.txt", "delta\n"),
        ("e.txt", "epsilon\n"),
    ] {
        std::fs::write(www.join(f), text).unwrap();
    }
    let server = Server::start(fleet, dir.path());
    let stand_in = curl_stand_in(fleet);
    fleet.podman_exec_ok(
        NODE,
        &format!("rm -rf {BASE} && mkdir -p {BASE} && printf 'old\\n' > {BASE}/skip"),
    );

    let url = &server.url;
    let md5 = "md5=9f9f90dbe3e5ee1218c86b8839db1995"; // of "alpha\n"
    let ws = fleet.workspace();
    ws.write(
        "states/demo.sls",
        &format!(
            r#"
hashed:
  file.managed:
    - name: {BASE}/hashed
    - source: {url}/a.txt
    - source_hash: {md5}
    - mode: '0640'
sha:
  file.managed:
    - name: {BASE}/sub/sha
    - source: {url}/c.txt
    - source_hash: {c}
    - makedirs: True
skip:
  file.managed:
    - name: {BASE}/skip
    - source: {url}/b.txt
    - skip_verify: True
sums:
  file.managed:
    - name: {BASE}/fromsums
    - source: {url}/a.txt
    - source_hash: salt://sums.txt
hashurl:
  file.managed:
    - name: {BASE}/hashurl
    - source: {url}/e.txt
    - source_hash: {url}/SUMS
list:
  file.managed:
    - name: {BASE}/list
    - source:
      - {url}/nope.txt
      - {url}/d.txt
    - source_hash: sha256={d}
"#,
            c = sha256(b"gamma\n"),
            d = sha256(b"delta\n"),
        ),
    );
    ws.write(
        "states/sums.txt",
        &format!(
            "{}  c.txt\n{}  a.txt\n",
            sha256(b"gamma\n"),
            sha256(b"alpha\n")
        ),
    );
    // md5 sums (the probe hashes the target with md5sum); e.txt's line
    // is picked by the source's name, not the first one.
    std::fs::write(
        www.join("SUMS"),
        format!(
            "{}  d.txt\nc40719840583e3f3e6744c02828d7cd9  e.txt\n",
            "f".repeat(32)
        ),
    )
    .unwrap();
    let (code, test) = apply(&ws, "demo", &["test=True"]);
    assert_eq!(code, 0, "{test}");
    assert_eq!(
        server.gets("/a.txt"),
        0,
        "test=True with a source_hash downloads nothing"
    );
    let (code, first) = apply(&ws, "demo", &[]);
    assert_eq!(code, 0, "{first}");
    let predicted = states(&test);
    let applied = states(&first);
    for (id, (result, changes, comment)) in &applied {
        assert_eq!(result, &json!(true), "{id}: {comment}");
        assert_eq!(
            &predicted[id].1, changes,
            "{id}: test=True predicted otherwise"
        );
        assert_eq!(predicted[id].0, Value::Null, "{id}: {}", predicted[id].2);
    }
    assert_eq!(
        applied["hashed"].1,
        json!({"diff": "New file", "mode": "0640"})
    );
    assert_eq!(
        applied["skip"].1,
        json!({"diff": "--- \n+++ \n@@ -1 +1 @@\n-old\n+beta\n"})
    );
    assert_eq!(applied["hashed"].2, format!("File {BASE}/hashed updated"));
    assert_eq!(
        fleet.podman_exec_ok(
            NODE,
            &format!(
                "cd {BASE} && cat hashed sub/sha skip list fromsums hashurl && stat -c %a hashed && ls -A . sub"
            )
        ),
        "alpha\ngamma\nbeta\ndelta\nalpha\nepsilon\n640\n.:\nfromsums\nhashed\nhashurl\nlist\nskip\nsub\n\nsub:\nsha\n"
    );
    for args in [&[][..], &["test=True"][..]] {
        let (code, again) = apply(&ws, "demo", args);
        assert_eq!(code, 0, "{again}");
        for (id, (result, changes, comment)) in states(&again) {
            assert_eq!(result, json!(true), "{id}: {comment}");
            assert_eq!(changes, json!({}), "{id} changed again: {again}");
        }
        assert_eq!(again["executions"].as_u64(), Some(1), "{again}");
        if args.is_empty() {
            let s = states(&again);
            assert_eq!(
                s["hashed"].2,
                format!("File {BASE}/hashed exists with proper permissions. No changes made.")
            );
            assert_eq!(
                s["skip"].2,
                format!("File {BASE}/skip is in the correct state")
            );
        }
    }
    // Each hashed file was downloaded once: by the first apply (a.txt
    // for two states).
    for (path, n) in [
        ("/a.txt", 2),
        ("/c.txt", 1),
        ("/d.txt", 1),
        ("/e.txt", 1),
        ("/nope.txt", 1),
    ] {
        assert_eq!(server.gets(path), n, "{path}");
    }

    ws.write(
        "states/bad.sls",
        &format!(
            r#"
wrong:
  file.managed:
    - name: {BASE}/wrong
    - source: {url}/a.txt
    - source_hash: sha256={zeros}
missing:
  file.managed:
    - name: {BASE}/missing
    - source: {url}/nope.txt
    - skip_verify: True
"#,
            zeros = "0".repeat(64)
        ),
    );
    let (_, bad) = apply(&ws, "bad", &[]);
    let s = states(&bad);
    assert_eq!(s["wrong"].0, json!(false), "{bad}");
    assert_eq!(
        s["wrong"].2,
        format!(
            "Specified sha256 checksum for {BASE}/wrong ({}) does not match actual checksum ({})",
            "0".repeat(64),
            sha256(b"alpha\n")
        )
    );
    assert_eq!(s["missing"].0, json!(false), "{bad}");
    assert!(
        s["missing"].2.starts_with(&format!(
            "Unable to manage file: Failed to cache {url}/nope.txt: "
        )),
        "{}",
        s["missing"].2
    );
    // Nothing written, no temporary file left.
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("ls -A {BASE}")),
        "fromsums\nhashed\nhashurl\nlist\nskip\nsub\n"
    );
    if stand_in {
        fleet.podman_exec_ok(NODE, "rm -f /usr/local/bin/curl");
    }
    fleet.podman_exec_ok(NODE, &format!("rm -rf {BASE}"));
}

/// archive.extracted from a URL on node1: test=True predicts, the apply
/// downloads once and extracts, a converged run downloads nothing in one
/// execution; a wrong `source_hash` extracts nothing and leaves no mark.
#[test]
fn remote_archive_extracts_once_and_a_wrong_hash_extracts_nothing() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    let tree = dir.path().join("tree/app");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("VERSION"), "1.2\n").unwrap();
    let status = Command::new("tar")
        .args(["-czf", www.join("app.tar.gz").to_str().unwrap(), "-C"])
        .arg(dir.path().join("tree"))
        .arg("app")
        .status()
        .unwrap();
    assert!(status.success());
    let sha = sha256(&std::fs::read(www.join("app.tar.gz")).unwrap());
    let server = Server::start(fleet, dir.path());
    let stand_in = curl_stand_in(fleet);
    let target = format!("{BASE}-archive");
    fleet.podman_exec_ok(NODE, &format!("rm -rf {target}"));
    let url = format!("{}/app.tar.gz", server.url);
    let ws = fleet.workspace();
    ws.write(
        "states/arch.sls",
        &format!(
            "app:\n  archive.extracted:\n    - name: {target}\n    - source: {url}\n    - source_hash: sha256={sha}\n"
        ),
    );
    let (code, test) = apply(&ws, "arch", &["test=True"]);
    assert_eq!(code, 0, "{test}");
    let predicted = states(&test)["app"].clone();
    assert_eq!(predicted.0, Value::Null, "{test}");
    assert_eq!(server.gets("/app.tar.gz"), 0, "test=True downloads nothing");
    let (code, first) = apply(&ws, "arch", &[]);
    assert_eq!(code, 0, "{first}");
    let applied = states(&first)["app"].clone();
    assert_eq!(applied.1, predicted.1, "test=True predicted the apply");
    assert_eq!(
        applied.1,
        json!({"extracted": {"source": url, "source_hash": format!("sha256={sha}")}})
    );
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("cat {target}/app/VERSION")),
        "1.2\n"
    );
    let (code, again) = apply(&ws, "arch", &[]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(states(&again)["app"].1, json!({}), "{again}");
    assert_eq!(again["executions"].as_u64(), Some(1), "{again}");
    assert_eq!(server.gets("/app.tar.gz"), 1, "downloaded once");

    // A wrong hash: nothing extracted, no mark, Salt's words.
    let other = format!("{BASE}-archive-wrong");
    fleet.podman_exec_ok(NODE, &format!("rm -rf {other}"));
    ws.write(
        "states/arch.sls",
        &format!(
            "app:\n  archive.extracted:\n    - name: {other}\n    - source: {url}\n    - source_hash: sha256={}\n",
            "0".repeat(64)
        ),
    );
    let (code, bad) = apply(&ws, "arch", &[]);
    assert_ne!(code, 0, "{bad}");
    let s = states(&bad)["app"].clone();
    assert_eq!(s.0, json!(false), "{bad}");
    assert!(
        s.2.contains(&format!(
            "Specified sha256 checksum for {url} ({}) does not match actual checksum ({sha})",
            "0".repeat(64)
        )),
        "{}",
        s.2
    );
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("ls -A {other} 2>/dev/null; true")),
        ""
    );
    if stand_in {
        fleet.podman_exec_ok(NODE, "rm -f /usr/local/bin/curl");
    }
    fleet.podman_exec_ok(NODE, &format!("rm -rf {target} {other}"));
}
