//! Encrypted pillar (issue 18) through the real `halite` binary: values
//! encrypted with `halite secret encrypt` (gpg and age), decrypted on the
//! controller by the `#!yaml|gpg` and `#!jinja|yaml|age` renderers, written
//! into a file by a state; `test=True` with `show_changes: False` shows the
//! change without the secret; wrong key, damaged armor and missing keyring
//! each fail the host with the file, key path and reason; and no decrypted
//! value is found in the job cache, the cache directory, any other file of
//! the project or the debug log.
//!
//! The gpg keyrings and age identities are generated here, in each test's
//! temporary directory: no secret key is committed. Local-connection tests
//! write only inside their temporary project; the fleet test uses node1.

mod harness;
mod local;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use local::{local_hosts, stderr, stdout, Project};
use serde_json::Value;

const DB_PASSWORD: &str = "gpg-s3cret-Db-7731";
const API_TOKEN: &str = "age-t0ken-Api-5519";

/// A throwaway GnuPG home with one key and no passphrase; its gpg-agent is
/// stopped when dropped.
struct Keyring {
    dir: PathBuf,
    uid: &'static str,
}

impl Keyring {
    /// `None` when gpg is not installed (and HALITE_REQUIRE_TOOLS is unset).
    fn new(dir: PathBuf, uid: &'static str) -> Option<Keyring> {
        if Command::new("gpg").arg("--version").output().is_err() {
            local::missing_tool("gpg is not installed");
            return None;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&dir)
            .args(["--batch", "--passphrase", "", "--quick-gen-key", uid])
            .args(["default", "default", "never"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Some(Keyring { dir, uid })
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.dir)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// A new age identity written to `path`; its recipient (`age1...`).
fn age_identity(path: &Path) -> String {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    id.to_public().to_string()
}

/// `halite secret encrypt ARGS` in `cwd` with `value` on stdin: stdout.
fn encrypt(cmd: Command, value: &str) -> String {
    let mut cmd = cmd;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(value));
    text
}

/// Every file under `dir` (but `except`) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str, except: &[&Path]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if except.iter().any(|x| *x == path) {
            continue;
        }
        if path.is_dir() {
            found.extend(files_containing(&path, needle, except));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The pillar and state tree of these tests, in `root`: `db.sls` (gpg) and
/// `api.sls` (Jinja, then age) assigned to every host; `app.sls` writes
/// both values into `target`, with `show_changes: False`.
fn write_trees(root: &Path, db_yaml: &str, api_yaml: &str, target: &str, host: &str) {
    write(
        root,
        "pillar/top.sls",
        &format!("base:\n  '{host}':\n    - db\n    - api\n"),
    );
    write(root, "pillar/db.sls", &format!("#!yaml|gpg\n{db_yaml}"));
    write(
        root,
        "pillar/api.sls",
        &format!("#!jinja|yaml|age\n{api_yaml}api_user: app-{{{{ grains.id }}}}\n"),
    );
    write(
        root,
        "states/top.sls",
        &format!("base:\n  '{host}':\n    - app\n"),
    );
    write(
        root,
        "states/app.sls",
        &format!(
            "app_config:\n  file.managed:\n    - name: {target}\n    - makedirs: True\n    \
             - mode: '0600'\n    - show_changes: False\n    - contents: |\n        \
             db_password={{{{ pillar.db.password }}}}\n        \
             api_token={{{{ pillar.api.token }}}}\n        user={{{{ pillar.api_user }}}}\n"
        ),
    );
}

/// The single state result of a state run on `host`.
fn state<'v>(v: &'v Value, host: &str) -> &'v Value {
    let ret = v["results"][host]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {v}"));
    ret.values().next().unwrap()
}

/// A local-connection project with a gpg keyring and an age identity
/// (made now) set in halite.yaml, and the trees above using both.
struct Setup {
    project: Project,
    _ring: Keyring,
    target: PathBuf,
    db_yaml: String,
    api_yaml: String,
}

fn setup() -> Option<Setup> {
    let project = Project::new(&local_hosts(&["web1"]));
    let root = project.path().to_path_buf();
    let ring = Keyring::new(
        root.join("keys/gpg"),
        "halite test <halite@example.invalid>",
    )?;
    let recipient = age_identity(&root.join("keys/age.key"));
    let yaml = std::fs::read_to_string(root.join("halite.yaml")).unwrap();
    write(
        &root,
        "halite.yaml",
        &format!("{yaml}gpg_keydir: keys/gpg\nage_identity_file: keys/age.key\n"),
    );
    let db_yaml = encrypt(
        project.command(&[
            "secret",
            "encrypt",
            "--gpg-recipient",
            ring.uid,
            "--key",
            "db:password",
        ]),
        &format!("{DB_PASSWORD}\n"),
    );
    let api_yaml = encrypt(
        project.command(&[
            "secret",
            "encrypt",
            "--age-recipient",
            &recipient,
            "--key",
            "api:token",
        ]),
        API_TOKEN,
    );
    assert!(db_yaml.starts_with("db:\n  password: |\n    -----BEGIN PGP MESSAGE-----\n"));
    assert!(api_yaml.starts_with("api:\n  token: |\n    -----BEGIN AGE ENCRYPTED FILE-----\n"));
    let target = root.join("out/app.conf");
    write_trees(
        &root,
        &db_yaml,
        &api_yaml,
        &target.display().to_string(),
        "web1",
    );
    Some(Setup {
        project,
        _ring: ring,
        target,
        db_yaml,
        api_yaml,
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [DB_PASSWORD, API_TOKEN] {
        assert!(!text.contains(s), "{what} holds {s}:\n{text}");
    }
}

#[test]
fn encrypted_pillar_renders_into_a_file_and_nowhere_else() {
    let Some(s) = setup() else { return };
    let p = &s.project;

    // test=True: the file (there already, with other content) would change;
    // with show_changes: False, no diff.
    write(p.path(), "out/app.conf", "db_password=old\n");
    let out = p.run(&["-v", "--out", "json", "web1", "state.apply", "test=True"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret(
        "test=True output",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let st = state(&v, "web1");
    assert_eq!(st["result"], Value::Null, "{v}");
    assert_eq!(st["changes"]["diff"], "<show_changes=False>", "{v}");
    assert_eq!(
        std::fs::read_to_string(&s.target).unwrap(),
        "db_password=old\n",
        "test=True wrote nothing"
    );
    // The human output says the same.
    let out = p.run(&["-v", "web1", "state.apply", "test=True"]);
    assert_no_secret("human output", &format!("{}{}", stdout(&out), stderr(&out)));
    assert!(
        stdout(&out).contains("<show_changes=False>"),
        "{}",
        stdout(&out)
    );

    // Applied: the values are in the file, and only there.
    let out = p.run(&["-v", "--out", "json", "web1", "state.apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret("apply output", &format!("{}{}", stdout(&out), stderr(&out)));
    let written = std::fs::read_to_string(&s.target).unwrap();
    assert_eq!(
        written,
        format!("db_password={DB_PASSWORD}\napi_token={API_TOKEN}\nuser=app-web1\n")
    );

    // pillar.items returns them on screen, as asked; its job record does not.
    let out = p.run(&["-v", "--out", "json", "web1", "pillar.items"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"]["web1"]["ret"]["db"]["password"], DB_PASSWORD);
    assert_eq!(v["results"]["web1"]["ret"]["api"]["token"], API_TOKEN);
    assert_no_secret("the debug log", &stderr(&out));
    let jid = v["jid"].as_str().unwrap();
    let out = p.run(&["--out", "json", "jobs", "show", jid]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        job["results"]["web1"]["ret"]["db"]["password"],
        "<decrypted secret withheld>"
    );
    // Pillar targeting decrypts too, and leaves nothing behind either.
    let out = p.run(&["-v", "-I", "api_user:app-*", "test.ping"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret(
        "targeting output",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );

    // An error about a state argument that came from a secret does not
    // quote it.
    write(
        p.path(),
        "states/bad.sls",
        "bad:\n  file.managed:\n    - name: /nonexistent/x\n    \
         - mode: '{{ pillar.db.password }}'\n",
    );
    let out = p.run(&["-v", "web1", "state.sls", "bad", "test=True"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_no_secret("a state argument error", &text);
    assert!(
        text.contains("mode `<decrypted secret withheld>` is not an octal mode"),
        "{text}"
    );

    // No file of the project but the managed one holds a value: not the
    // job cache, not the cache dir, not the pillar files.
    for secret in [DB_PASSWORD, API_TOKEN] {
        let found = files_containing(p.path(), secret, &[&s.target]);
        assert!(found.is_empty(), "{secret} found in {found:?}");
    }
    assert!(p.path().join("cache/jobs").read_dir().unwrap().count() >= 4);
    assert!(s.db_yaml.contains("PGP MESSAGE") && s.api_yaml.contains("AGE ENCRYPTED"));
}

/// `pillar.items` on web1 must fail, saying `expected` (after "pillar: ").
fn assert_pillar_fails(p: &Project, expected_start: &str, expected_reason: &str) {
    let (code, v) = p.json(&["web1", "pillar.items"]);
    assert_eq!(code, 1, "{v}");
    let r = &v["results"]["web1"];
    assert_eq!(r["status"], "failed", "{v}");
    let msg = r["ret"][0].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(&format!("pillar: {expected_start}")),
        "{msg}"
    );
    assert!(msg.contains(expected_reason), "{msg}");
    assert!(!msg.contains("-----BEGIN"), "no ciphertext: {msg}");
    // A state run fails the host the same way, before anything runs.
    let (code, v) = p.json(&["web1", "state.apply", "test=True"]);
    assert_eq!(code, 1, "{v}");
    let text = v["results"]["web1"].to_string();
    assert!(text.contains(expected_start), "{text}");
}

#[test]
fn wrong_key_damaged_armor_and_missing_keyring_each_fail_clearly() {
    let Some(s) = setup() else { return };
    let p = &s.project;
    let root = p.path();
    let target = s.target.display().to_string();

    // gpg, wrong key: a keyring that holds another key.
    let _other = Keyring::new(
        root.join("keys/other"),
        "someone else <else@example.invalid>",
    )
    .expect("gpg is installed");
    let yaml = std::fs::read_to_string(root.join("halite.yaml")).unwrap();
    let with = |from: &str, to: &str| write(root, "halite.yaml", &yaml.replace(from, to));
    with("gpg_keydir: keys/gpg", "gpg_keydir: keys/other");
    assert_pillar_fails(
        p,
        "db.sls: db:password: cannot decrypt (gpg with keydir ",
        "No secret key",
    );
    // gpg, missing keyring.
    with("gpg_keydir: keys/gpg", "gpg_keydir: keys/nowhere");
    assert_pillar_fails(
        p,
        "db.sls: db:password: cannot decrypt (gpg_keydir ",
        "keys/nowhere does not exist",
    );
    // age, wrong identity.
    age_identity(&root.join("keys/other.key"));
    with(
        "age_identity_file: keys/age.key",
        "age_identity_file: keys/other.key",
    );
    assert_pillar_fails(
        p,
        "api.sls: api:token: cannot decrypt (age with identities from ",
        "keys/other.key",
    );
    // age, missing identity file.
    with(
        "age_identity_file: keys/age.key",
        "age_identity_file: keys/none.key",
    );
    assert_pillar_fails(
        p,
        "api.sls: api:token: cannot decrypt (age_identity_file ",
        "keys/none.key does not exist",
    );
    write(root, "halite.yaml", &yaml);

    // Damaged armor, in each format: a base64 line changed.
    let damage = |armored: &str| -> String {
        let mut lines: Vec<String> = armored.lines().map(str::to_string).collect();
        let i = lines.len() / 2;
        let body = lines[i].trim_start();
        let indent = &lines[i][..lines[i].len() - body.len()];
        lines[i] = format!("{indent}{}", body.chars().rev().collect::<String>());
        lines.join("\n") + "\n"
    };
    write_trees(root, &damage(&s.db_yaml), &s.api_yaml, &target, "web1");
    assert_pillar_fails(
        p,
        "db.sls: db:password: cannot decrypt (gpg with keydir ",
        "",
    );
    write_trees(root, &s.db_yaml, &damage(&s.api_yaml), &target, "web1");
    assert_pillar_fails(
        p,
        "api.sls: api:token: cannot decrypt (age with identities from ",
        "",
    );
    // Pillar targeting reports the host as failed, saying why.
    let (code, v) = p.json(&["-I", "api_user:*", "test.ping"]);
    assert_eq!(code, 1, "{v}");
    let error = v["results"]["web1"]["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "cannot compile the pillar for targeting: api.sls: api:token: cannot decrypt"
        ),
        "{error}"
    );
    assert!(!s.target.exists());
}

#[test]
fn secret_encrypt_takes_recipients_from_halite_yaml_and_refuses_to_guess() {
    let p = Project::new(&local_hosts(&["web1"]));
    let root = p.path();
    let recipient = age_identity(&root.join("keys/age.key"));
    let yaml = std::fs::read_to_string(root.join("halite.yaml")).unwrap();
    write(
        root,
        "halite.yaml",
        &format!("{yaml}age_recipients: [{recipient}]\nage_identity_file: keys/age.key\n"),
    );
    let armored = encrypt(p.command(&["secret", "encrypt"]), "from-config-1234");
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{armored}"
    );
    // What it printed decrypts in a pillar file.
    write(root, "pillar/top.sls", "base:\n  '*':\n    - s\n");
    let indented: String = armored.lines().map(|l| format!("  {l}\n")).collect();
    write(
        root,
        "pillar/s.sls",
        &format!("#!yaml|age\nv: |\n{indented}"),
    );
    let (code, v) = p.json(&["web1", "pillar.get", "v"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["web1"]["ret"], "from-config-1234");

    // Both formats configured: say which.
    write(
        root,
        "halite.yaml",
        &format!("{yaml}age_recipients: [{recipient}]\ngpg_recipients: [ops@example.invalid]\n"),
    );
    let out = p
        .command(&["secret", "encrypt"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("say --gpg or --age"),
        "{}",
        stderr(&out)
    );
    // Nothing to encrypt.
    let out = p
        .command(&["secret", "encrypt", "--age"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to encrypt"),
        "{}",
        stderr(&out)
    );
    // No recipient anywhere.
    write(root, "halite.yaml", &yaml);
    let out = p
        .command(&["secret", "encrypt"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no recipient"), "{}", stderr(&out));
}

/// On the fleet: node1 gets the file over SSH; the host holds the values
/// only in the file the state writes, the controller nowhere.
#[test]
fn fleet_encrypted_pillar_lands_in_a_file_on_node1_only() {
    let fleet = harness::Fleet::get();
    let target = "/root/halite-secrets-test/app.conf";
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /root/halite-secrets-test && mkdir /root/halite-secrets-test && \
         echo db_password=old > /root/halite-secrets-test/app.conf",
    );
    let ws = fleet
        .workspace_builder()
        .halite_yaml("gpg_keydir: keys/gpg\nage_identity_file: keys/age.key\n")
        .build();
    let root = ws.path().to_path_buf();
    let Some(ring) = Keyring::new(
        root.join("keys/gpg"),
        "halite fleet <fleet@example.invalid>",
    ) else {
        return;
    };
    let recipient = age_identity(&root.join("keys/age.key"));
    let db_yaml = encrypt(
        ws.command([
            "secret",
            "encrypt",
            "--gpg-recipient",
            ring.uid,
            "--key",
            "db:password",
        ]),
        DB_PASSWORD,
    );
    let api_yaml = encrypt(
        ws.command([
            "secret",
            "encrypt",
            "--age-recipient",
            recipient.as_str(),
            "--key",
            "api:token",
        ]),
        API_TOKEN,
    );
    write_trees(&root, &db_yaml, &api_yaml, target, "node1");

    let out = ws.halite(["-v", "--out", "json", "node1", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_no_secret("test=True output", &format!("{}{}", out.stdout, out.stderr));
    let v = out.json();
    let st = state(&v, "node1");
    assert_eq!(st["result"], Value::Null, "{v}");
    assert_eq!(st["changes"]["diff"], "<show_changes=False>", "{v}");
    let before = fleet.podman_exec_ok("node1", &format!("cat {target}"));
    assert_eq!(before, "db_password=old\n", "test=True wrote nothing");

    let mut cmd = ws.command(["-v", "node1", "state.apply"]);
    cmd.env("HALITE_LOG", "debug");
    let out = harness::run_with_timeout(&mut cmd, harness::DEFAULT_TIMEOUT).unwrap();
    assert_eq!(out.code, Some(0), "{out}");
    assert_no_secret(
        "apply output and debug log",
        &format!("{}{}", out.stdout, out.stderr),
    );
    let on_host = fleet.podman_exec_ok("node1", &format!("cat {target}; stat -c %a {target}"));
    assert_eq!(
        on_host,
        format!("db_password={DB_PASSWORD}\napi_token={API_TOKEN}\nuser=app-node1\n600\n")
    );
    // Applied again: nothing to change.
    let (out, v) = ws.halite_json(["node1", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(state(&v, "node1")["changes"], serde_json::json!({}), "{v}");

    // The controller keeps no value: not the job cache, not the cache dir,
    // not any file of the workspace.
    for secret in [DB_PASSWORD, API_TOKEN] {
        let found = files_containing(&root, secret, &[]);
        assert!(found.is_empty(), "{secret} found in {found:?}");
    }
    assert!(ws.cache_dir().join("jobs").read_dir().unwrap().count() >= 3);
    fleet.podman_exec_ok("node1", "rm -rf /root/halite-secrets-test");
}
