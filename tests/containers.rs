//! Fleet tests of the container and repository states through the real
//! binary, on pod1 only (the privileged host with podman inside and a
//! registry on its own 127.0.0.1:5000; `fleet.sh up --with-pod`).
//!
//! - The immutable rollout: app:v1 deployed (pulled from the registry for
//!   real), a re-apply changes nothing, v2 replaces the container, v3 (whose
//!   health check fails) is rolled back to v2 with the state failed and exit
//!   code 1, a watched config file restarts the container, a tag that moved
//!   to another image replaces it; `test=True` before each step names
//!   exactly the states the real apply then changes (or fails).
//! - pkgrepo: a local apt repository signed with a key made here by gpg,
//!   served by a file:// URI, added with its key, a package installed from
//!   it in the same run, the index refreshed only when the repository
//!   changed, a wrong key failing the state, and the repository removed.
//! - The docker.* execution functions and the container_engine grain.
//! - A blue-green rollout by `halite orchestrate`: green deployed beside
//!   blue on pod1, a health step, the "load balancer" on node1 switched
//!   (file.managed + a watched service reload), blue stopped; `test=True`
//!   names exactly the steps that then change; a broken green release stops
//!   at the health step, the onfail rollback removes it, blue keeps serving,
//!   exit 1; after the release is fixed, resuming the job finishes the rollout.

mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use harness::{Fleet, Workspace};
use serde_json::Value;

const POD: &str = "pod1";
const REPO: &str = "127.0.0.1:5000/halite-app";

fn fleet() -> &'static Fleet {
    Fleet::get_with_pod()
}

fn workspace(fleet: &'static Fleet) -> Workspace {
    fleet.workspace_builder().with_pod().build()
}

/// Run halite with `--out json` on pod1; (exit code, pod1's result).
fn halite(ws: &Workspace, args: &[&str]) -> (i32, Value) {
    let mut all = vec![POD];
    all.extend_from_slice(args);
    let (out, v) = ws.halite_json(&all);
    let result = v["results"][POD].clone();
    assert!(!result.is_null(), "no result for {POD}:\n{out}");
    (out.code.unwrap_or(-1), result)
}

/// State ids whose result is None (test=True: would change).
fn predicted(r: &Value) -> BTreeSet<String> {
    ids(r, |s| s["result"].is_null())
}

/// State ids that changed something or failed.
fn changed_or_failed(r: &Value) -> BTreeSet<String> {
    ids(r, |s| {
        s["result"] == Value::Bool(false) || s["changes"].as_object().is_some_and(|c| !c.is_empty())
    })
}

fn ids(r: &Value, keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    r["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {r}"))
        .values()
        .filter(|s| keep(s))
        .map(|s| s["__id__"].as_str().unwrap().to_string())
        .collect()
}

fn state<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["ret"]
        .as_object()
        .and_then(|m| m.values().find(|s| s["__id__"] == id))
        .unwrap_or_else(|| panic!("no state {id}: {r}"))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `test=True`, then the real apply: the prediction must name exactly the
/// states that then change or fail. Returns (exit code, real result).
fn predict_then_apply(ws: &Workspace, sls: &str, pillar: &str, expect: &[&str]) -> (i32, Value) {
    let (code, _, real) = predict_then_apply_both(ws, sls, pillar, expect);
    (code, real)
}

/// [`predict_then_apply`], also returning the prediction.
fn predict_then_apply_both(
    ws: &Workspace,
    sls: &str,
    pillar: &str,
    expect: &[&str],
) -> (i32, Value, Value) {
    let pillar = format!("pillar={pillar}");
    let (code, test) = halite(ws, &["state.sls", sls, &pillar, "test=True"]);
    assert_eq!(code, 0, "test=True: {test}");
    assert_eq!(predicted(&test), set(expect), "prediction: {test}");
    let (code, real) = halite(ws, &["state.sls", sls, &pillar]);
    assert_eq!(changed_or_failed(&real), set(expect), "apply: {real}");
    (code, test, real)
}

fn pod_sh(fleet: &Fleet, cmd: &str) -> String {
    fleet.podman_exec_ok(POD, cmd).trim().to_string()
}

/// What the app answers on its published port inside pod1.
fn served(fleet: &Fleet, path: &str) -> String {
    pod_sh(
        fleet,
        &format!("busybox wget -q -O- http://127.0.0.1:8080/{path}"),
    )
}

/// Build app images from busybox-static inside pod1 and push them to its
/// registry: each serves /version and /health (`ok`, or `broken` for v3).
fn build_images(fleet: &Fleet, versions: &[(&str, &str)]) {
    let images: Vec<(&str, &str, &str)> = versions
        .iter()
        .map(|(tag, content)| {
            let health = if tag.starts_with("v3") {
                "broken"
            } else {
                "ok"
            };
            (*tag, *content, health)
        })
        .collect();
    build_app_images(fleet, &images);
}

/// [`build_images`] with each image's /health answer given: (tag, version, health).
fn build_app_images(fleet: &Fleet, images: &[(&str, &str, &str)]) {
    let mut script = String::from(
        r#"set -e
build() {
	d=$(mktemp -d)
	mkdir -p "$d/bin" "$d/www"
	cp /bin/busybox "$d/bin/"
	chroot "$d" /bin/busybox --install -s /bin
	echo "$2" >"$d/www/version"
	echo "$3" >"$d/www/health"
	printf '#!/bin/sh\ntrap "exit 0" TERM\nhttpd -f -p 8080 -h /www &\nwait\n' >"$d/start"
	tar -C "$d" -c . | podman import -q --change 'CMD ["/bin/sh", "/start"]' - "$1" >/dev/null
	podman push -q "$1"
	podman rmi "$1" >/dev/null
	rm -rf "$d"
}
"#,
    );
    for (tag, content, health) in images {
        script.push_str(&format!("build {REPO}:{tag} {content} {health}\n"));
    }
    fleet.podman_exec_ok(POD, &script);
}

const APP_SLS: &str = r#"
app-config:
  file.managed:
    - name: /srv/halite-app/conf/app.conf
    - contents: {{ pillar.get('greeting', 'hello') }}
    - makedirs: True

app-image:
  docker_image.present:
    - name: 127.0.0.1:5000/halite-app
    - tag: {{ pillar['version'] }}

app:
  docker_container.running:
    - image: 127.0.0.1:5000/halite-app:{{ pillar['version'] }}
    - port_bindings:
      - 8080:8080
    - binds:
      - /srv/halite-app/conf:/www/conf:ro
    - environment:
      - APP_ENV: test
    - labels:
      - tier=web
    - health_cmd: busybox wget -q -O- http://127.0.0.1:8080/health | grep -qx ok
    - health_timeout: 4
    - stop_timeout: 2
    - require:
      - docker_image: app-image
    - watch:
      - file: app-config
"#;

fn container(fleet: &Fleet, format: &str) -> String {
    pod_sh(
        fleet,
        &format!("podman container inspect --format '{format}' app"),
    )
}

#[test]
fn immutable_rollout_replaces_only_on_change_and_rolls_back_a_failed_release() {
    let fleet = fleet();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        POD,
        &format!(
            "podman rm -f -t 0 app app-halite-old >/dev/null 2>&1; \
             podman images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{REPO}:' | xargs -r podman rmi -f >/dev/null; \
             podman image prune -f >/dev/null; rm -rf /srv/halite-app; true"
        ),
    );
    build_images(fleet, &[("v1", "v1"), ("v2", "v2"), ("v3", "v3")]);
    let ws = workspace(fleet);
    ws.write("states/app.sls", APP_SLS);
    let v = |version: &str, greeting: &str| format!("{{version: {version}, greeting: {greeting}}}");

    // v1: pulled for real, created, healthy.
    let (code, r) = predict_then_apply(
        &ws,
        "app",
        &v("v1", "hello"),
        &["app-config", "app-image", "app"],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(served(fleet, "version"), "v1");
    assert_eq!(served(fleet, "conf/app.conf"), "hello");
    let id_v1 = container(fleet, "{{.Id}}");
    assert_eq!(container(fleet, "{{index .Config.Labels \"tier\"}}"), "web");
    assert!(
        container(fleet, "{{index .Config.Labels \"halite.fingerprint\"}}").len() == 64,
        "the fingerprint label is on the container"
    );

    // The same again: nothing changes, one remote execution (no apply).
    let (code, r) = predict_then_apply(&ws, "app", &v("v1", "hello"), &[]);
    assert_eq!(code, 0);
    assert_eq!(r["executions"], 1, "{r}");
    assert_eq!(container(fleet, "{{.Id}}"), id_v1, "not replaced");

    // v2: the container is replaced, the old one removed.
    let (code, r) = predict_then_apply(&ws, "app", &v("v2", "hello"), &["app-image", "app"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(served(fleet, "version"), "v2");
    let app = state(&r, "app");
    assert_eq!(
        app["changes"]["replaced"]["image"]["new"],
        format!("{REPO}:v2"),
        "{app}"
    );
    let id_v2 = container(fleet, "{{.Id}}");
    assert_ne!(id_v2, id_v1);
    assert_eq!(app["changes"]["container_id"]["new"], id_v2.as_str());
    assert_eq!(
        pod_sh(
            fleet,
            "podman ps -a --format '{{.Names}}' | sort | tr '\\n' ' '"
        ),
        "app",
        "the old container is gone"
    );

    // v3 fails its health check: rolled back to v2, the state fails, exit 1.
    let (code, r) = predict_then_apply(&ws, "app", &v("v3", "hello"), &["app-image", "app"]);
    assert_eq!(code, 1, "{r}");
    let app = state(&r, "app");
    assert_eq!(app["result"], false);
    let comment = app["comment"].as_str().unwrap();
    assert!(
        comment.contains("the health command did not succeed within 4 s")
            && comment.contains("Rolled back: the previous container app runs again"),
        "{comment}"
    );
    assert_eq!(state(&r, "app-image")["result"], true);
    assert_eq!(
        container(fleet, "{{.Id}}"),
        id_v2,
        "the v2 container is back"
    );
    assert_eq!(container(fleet, "{{.State.Status}}"), "running");
    assert_eq!(served(fleet, "version"), "v2");
    assert_eq!(
        pod_sh(
            fleet,
            "podman ps -a --format '{{.Names}}' | sort | tr '\\n' ' '"
        ),
        "app",
        "neither the v3 container nor app-halite-old is left"
    );

    // Back to v2 after the rollback: nothing to do.
    let (code, _) = predict_then_apply(&ws, "app", &v("v2", "hello"), &[]);
    assert_eq!(code, 0);

    // A watched config change restarts the container, without replacing it.
    let started = container(fleet, "{{.State.StartedAt}}");
    let (code, r) = predict_then_apply(&ws, "app", &v("v2", "bonjour"), &["app-config", "app"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        container(fleet, "{{.Id}}"),
        id_v2,
        "restarted, not replaced"
    );
    assert_ne!(container(fleet, "{{.State.StartedAt}}"), started);
    assert_eq!(served(fleet, "conf/app.conf"), "bonjour");
    assert!(state(&r, "app")["changes"]["watch"].is_string(), "{r}");

    // The tag v2 moves to another image (pulled ad hoc): the image ID
    // differs, so the container is replaced although its config did not.
    build_images(fleet, &[("v2", "v2b")]);
    let (code, pull) = halite(&ws, &["docker.pull", &format!("{REPO}:v2")]);
    assert_eq!(code, 0, "{pull}");
    assert!(
        pull["ret"]["Status"]
            .as_str()
            .unwrap()
            .starts_with("Downloaded newer image"),
        "{pull}"
    );
    let (code, r) = predict_then_apply(&ws, "app", &v("v2", "bonjour"), &["app"]);
    assert_eq!(code, 0, "{r}");
    let replaced = state(&r, "app")["changes"]["replaced"].clone();
    assert_eq!(
        replaced.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["image_id"],
        "{replaced}"
    );
    assert_eq!(served(fleet, "version"), "v2b");
}

/// Make a signed flat apt repository in `dir`: halite-hello and halite-extra
/// 1.0, Packages, Release and InRelease signed by a fresh key; returns the
/// armored public key.
fn signed_repo(dir: &Path, gnupg: &Path) -> String {
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("GNUPGHOME", gnupg)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    sh(r#"set -e
chmod 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'halite test repo <repo@halite.invalid>' ed25519 sign never
mkdir -p repo
for p in halite-hello halite-extra; do
	mkdir -p "build/$p/DEBIAN" "build/$p/usr/share/$p"
	printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: halite tests <t@halite.invalid>\nDescription: halite pkgrepo test package\n x\n' "$p" >"build/$p/DEBIAN/control"
	echo "$p" >"build/$p/usr/share/$p/name"
	dpkg-deb --root-owner-group -Zgzip --build "build/$p" "repo/${p}_1.0_all.deb" >/dev/null
done
cd repo
dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
{
	echo "Origin: halite-test"; echo "Label: halite-test"; echo "Suite: ./"
	echo "Date: $(LC_ALL=C date -u -R)"; echo "SHA256:"
	printf ' %s %s %s\n' "$(sha256sum <Packages | cut -d' ' -f1)" "$(stat -c %s Packages)" Packages
} >Release
gpg --batch --yes --quiet --clearsign -o InRelease Release
"#);
    sh("gpg --armor --export")
}

const REPO_SLS: &str = r#"
test-repo:
  pkgrepo.managed:
    - name: deb file:/srv/halite-test-repo ./
    - key_url: salt://keys/halite-test.asc

halite-hello:
  pkg.installed:
    - require:
      - pkgrepo: test-repo

# Not in any index before the repository is added: planned after it.
halite-extra:
  pkg.latest:
    - require:
      - pkgrepo: test-repo
"#;

#[test]
fn pkgrepo_adds_a_signed_repository_installs_from_it_and_removes_it() {
    let fleet = fleet();
    let _serial = fleet.serial();
    let tmp = tempfile::tempdir().unwrap();
    let gnupg = tmp.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    let key = signed_repo(tmp.path(), &gnupg);
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    fleet.podman_exec_ok(
        POD,
        "dpkg -P halite-hello halite-extra >/dev/null 2>&1; \
         rm -rf /srv/halite-test-repo /etc/apt/sources.list.d/srv_halite-test-repo.list \
                /etc/apt/keyrings/srv_halite-test-repo.asc /var/lib/apt/lists/_srv_halite-test-repo_*; true",
    );
    let container = &fleet.pod_host().container;
    let cp = Command::new("podman")
        .args(["--runtime", "runc", "cp"])
        .arg(tmp.path().join("repo"))
        .arg(format!("{container}:/srv/halite-test-repo"))
        .status()
        .unwrap();
    assert!(cp.success());

    let ws = workspace(fleet);
    ws.write("states/keys/halite-test.asc", &key);
    ws.write("states/repo.sls", REPO_SLS);
    let all = ["halite-extra", "halite-hello", "test-repo"];
    let (code, test, r) = predict_then_apply_both(&ws, "repo", "{}", &all);
    assert_eq!(code, 0, "{r}");
    // pkg.installed plans an unknown package as "installed" and runs after
    // the repository; pkg.latest cannot judge "latest" before the index has
    // it, so the engine decides it once the repository is in (Deferred).
    assert_eq!(
        state(&test, "halite-hello")["changes"]["halite-hello"]["new"],
        "installed"
    );
    assert!(
        state(&test, "halite-extra")["comment"]
            .as_str()
            .unwrap()
            .starts_with("Decided after the states it requires have run"),
        "{test}"
    );
    assert!(
        state(&r, "test-repo")["comment"]
            .as_str()
            .unwrap()
            .contains("its package index was refreshed"),
        "{r}"
    );
    assert_eq!(
        state(&r, "halite-hello")["changes"]["halite-hello"]["new"],
        "1.0"
    );
    assert_eq!(
        state(&r, "halite-extra")["changes"]["halite-extra"]["new"],
        "1.0"
    );
    assert_eq!(
        pod_sh(
            fleet,
            "cat /etc/apt/sources.list.d/srv_halite-test-repo.list"
        ),
        "deb [signed-by=/etc/apt/keyrings/srv_halite-test-repo.asc] file:/srv/halite-test-repo ./"
    );
    assert_eq!(
        pod_sh(fleet, "cat /etc/apt/keyrings/srv_halite-test-repo.asc"),
        key.trim(),
        "the armored key as it is: no gpg on the target"
    );

    // Unchanged: no apply at all, so no index refresh.
    let (code, r) = predict_then_apply(&ws, "repo", "{}", &[]);
    assert_eq!(code, 0);
    assert_eq!(r["executions"], 1, "{r}");

    // A key that did not sign the repository: apt refuses it and so does the state.
    let other = tempfile::tempdir().unwrap();
    let other_key = {
        let g = other.path().join("g");
        std::fs::create_dir(&g).unwrap();
        signed_repo(other.path(), &g)
    };
    ws.write("states/keys/halite-test.asc", &other_key);
    let (code, r) = halite(&ws, &["state.sls", "repo"]);
    assert_eq!(code, 1, "{r}");
    let repo = state(&r, "test-repo");
    assert_eq!(repo["result"], false);
    assert!(
        repo["comment"]
            .as_str()
            .unwrap()
            .contains("refreshing its package index failed"),
        "{repo}"
    );

    // Removed: the line, the keyring and the repository's lists; the index
    // no longer offers its packages.
    ws.write(
        "states/norepo.sls",
        "test-repo:\n  pkgrepo.absent:\n    - name: deb file:/srv/halite-test-repo ./\n",
    );
    let (code, r) = predict_then_apply(&ws, "norepo", "{}", &["test-repo"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        pod_sh(
            fleet,
            "ls /etc/apt/sources.list.d /etc/apt/keyrings /var/lib/apt/lists | grep -c halite-test-repo || true"
        ),
        "0"
    );
    assert!(
        !pod_sh(fleet, "apt-cache madison halite-hello").contains("file:/srv/halite-test-repo"),
        "the index still offers the repository's packages"
    );
    let (code, r) = predict_then_apply(&ws, "norepo", "{}", &[]);
    assert_eq!(code, 0);
    assert_eq!(r["executions"], 1, "{r}");
}

#[test]
fn docker_functions_and_the_container_engine_grain() {
    let fleet = fleet();
    let _serial = fleet.serial();
    let ws = workspace(fleet);
    let (code, g) = halite(&ws, &["grains.item", "container_engine"]);
    assert_eq!(code, 0);
    assert_eq!(g["ret"]["container_engine"], "podman");
    let (_, v) = ws.halite_json(["node1", "grains.item", "container_engine"]);
    assert_eq!(v["results"]["node1"]["ret"]["container_engine"], "absent");

    fleet.podman_exec_ok(POD, "podman rm -f -t 0 fn-demo >/dev/null 2>&1; true");
    build_images(fleet, &[("fn", "fn")]);
    let image = format!("{REPO}:fn");
    let (code, pull) = halite(&ws, &["docker.pull", &image]);
    assert_eq!(code, 0, "{pull}");
    let id = pull["ret"]["Id"].as_str().unwrap().to_string();
    let (_, images) = halite(&ws, &["docker.images"]);
    assert_eq!(
        images["ret"][&id[..12]]["RepoTags"],
        serde_json::json!([image])
    );
    let (_, inspect) = halite(&ws, &["docker.inspect_image", &image]);
    assert_eq!(
        inspect["ret"]["Id"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
        id
    );

    fleet.podman_exec_ok(
        POD,
        &format!("podman create --name fn-demo {image} >/dev/null"),
    );
    let (code, ps) = halite(&ws, &["docker.ps"]);
    assert_eq!(code, 0);
    assert!(ps["ret"].get("fn-demo").is_none(), "not running yet: {ps}");
    let (_, started) = halite(&ws, &["docker.start", "fn-demo"]);
    assert_eq!(
        started["ret"]["state"],
        serde_json::json!({"old": "created", "new": "running"})
    );
    let (_, ps) = halite(&ws, &["docker.ps"]);
    assert_eq!(ps["ret"]["fn-demo"]["Image"], image.as_str(), "{ps}");
    let (_, inspect) = halite(&ws, &["docker.inspect_container", "fn-demo"]);
    assert_eq!(inspect["ret"]["State"]["Running"], true);
    let (code, refused) = halite(&ws, &["docker.rm", "fn-demo"]);
    assert_eq!(
        code, 1,
        "a running container is not removed without force: {refused}"
    );
    let (_, stopped) = halite(&ws, &["docker.stop", "fn-demo", "timeout=2"]);
    assert_eq!(stopped["ret"]["state"]["new"], "exited");
    let (_, all) = halite(&ws, &["docker.ps", "all=True"]);
    assert!(all["ret"]["fn-demo"]["Status"]
        .as_str()
        .unwrap()
        .starts_with("Exited"));
    let (code, removed) = halite(&ws, &["docker.rm", "fn-demo"]);
    assert_eq!(code, 0, "{removed}");
    assert_eq!(removed["ret"][0], inspect["ret"]["Id"]);
    let (code, rmi) = halite(&ws, &["docker.rmi", &image]);
    assert_eq!(code, 0, "{rmi}");
    assert_eq!(rmi["ret"]["Tags"], serde_json::json!([image]));
}

#[test]
fn docker_image_loads_an_archive_shipped_from_salt() {
    let fleet = fleet();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        POD,
        "podman rmi -f localhost/halite-loaded:v1 >/dev/null 2>&1; rm -rf /var/lib/halite/docker_image; true",
    );
    build_images(fleet, &[("load-a", "a"), ("load-b", "b")]);
    let tmp = tempfile::tempdir().unwrap();
    let container = &fleet.pod_host().container;
    let mut archives = Vec::new();
    for tag in ["load-a", "load-b"] {
        fleet.podman_exec_ok(
            POD,
            &format!(
                "rm -f /tmp/{tag}.tar && podman pull -q {REPO}:{tag} >/dev/null && podman save -q -o /tmp/{tag}.tar {REPO}:{tag} && podman rmi {REPO}:{tag} >/dev/null"
            ),
        );
        let local = tmp.path().join(format!("{tag}.tar"));
        let cp = Command::new("podman")
            .args(["--runtime", "runc", "cp"])
            .arg(format!("{container}:/tmp/{tag}.tar"))
            .arg(&local)
            .status()
            .unwrap();
        assert!(cp.success());
        archives.push(std::fs::read(&local).unwrap());
    }
    let ws = workspace(fleet);
    let sls = "loaded:\n  docker_image.present:\n    - name: halite-loaded:v1\n    - load: salt://images/app.tar\n";
    ws.write("states/load.sls", sls);
    let archive = ws.path().join("states/images/app.tar");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();

    std::fs::write(&archive, &archives[0]).unwrap();
    let (code, r) = predict_then_apply(&ws, "load", "{}", &["loaded"]);
    assert_eq!(code, 0, "{r}");
    let id_a = state(&r, "loaded")["changes"]["image"]["new"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pod_sh(
            fleet,
            "podman image inspect --format '{{.Id}}' localhost/halite-loaded:v1"
        ),
        id_a
    );
    // The same archive: nothing to do. Another archive: loaded again.
    let (code, _) = predict_then_apply(&ws, "load", "{}", &[]);
    assert_eq!(code, 0);
    std::fs::write(&archive, &archives[1]).unwrap();
    let (code, r) = predict_then_apply(&ws, "load", "{}", &["loaded"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        state(&r, "loaded")["changes"]["image"]["old"],
        id_a.as_str()
    );
    assert_ne!(
        state(&r, "loaded")["changes"]["image"]["new"],
        id_a.as_str()
    );
}

#[test]
fn a_container_dropped_from_the_states_is_an_orphan_and_prune_removes_it() {
    // The drift ledger records containers: dropped from the states, one
    // halite created is reported and `prune=True` removes it.
    let fleet = fleet();
    let _serial = fleet.serial();
    build_images(fleet, &[("d1", "drift")]);
    pod_sh(
        fleet,
        "podman rm -f hdrift-side >/dev/null 2>&1; sed -i '/hdrift-side/d' /var/lib/halite/ledger 2>/dev/null; true",
    );
    let ws = workspace(fleet);
    ws.write("states/top.sls", "base:\n  pod1:\n    - drift\n");
    ws.write(
        "states/drift.sls",
        &format!(
            "hdrift-side:\n  docker_container.running:\n    - image: {REPO}:d1\n    - stop_timeout: 1\n"
        ),
    );
    let (code, r) = halite(&ws, &["state.sls", "drift"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        pod_sh(
            fleet,
            "podman container inspect --format '{{.State.Running}}' hdrift-side"
        ),
        "true"
    );
    // The states no longer declare it. (state.sls: only this SLS's ledger
    // entries count, so what the other tests on pod1 left is not touched.)
    ws.write(
        "states/drift.sls",
        "hdrift-marker:\n  file.managed:\n    - name: /srv/hdrift-marker\n    - contents: here\n",
    );
    let orphans = |r: &Value| -> Vec<String> {
        r["drift"]["orphans"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["kind"].as_str().unwrap(),
                            e["name"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (code, r) = halite(&ws, &["state.sls", "drift"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(orphans(&r), ["container hdrift-side"], "{r}");
    let (code, r) = halite(&ws, &["state.sls", "drift", "prune=True", "test=True"]);
    assert_eq!(code, 0, "{r}");
    assert!(
        r["ret"].to_string().contains("prune container hdrift-side"),
        "{r}"
    );
    assert_eq!(
        pod_sh(fleet, "podman container exists hdrift-side && echo yes"),
        "yes"
    );
    let (code, r) = halite(&ws, &["state.sls", "drift", "prune=True"]);
    assert_eq!(code, 0, "{r}");
    assert!(
        !fleet
            .podman_exec(POD, "podman container exists hdrift-side")
            .success(),
        "pruned: {r}"
    );
    pod_sh(fleet, "rm -f /srv/hdrift-marker");
}

const BG_APP: &str = r#"
app-{{ pillar.color }}-image:
  docker_image.present:
    - name: 127.0.0.1:5000/halite-app
    - tag: {{ pillar.version }}

app-{{ pillar.color }}:
  docker_container.running:
    - image: 127.0.0.1:5000/halite-app:{{ pillar.version }}
    - port_bindings:
      - {{ pillar.port }}:8080
    - stop_timeout: 2
    - require:
      - docker_image: app-{{ pillar.color }}-image
"#;

const BG_GONE: &str = r#"
app-{{ pillar.color }}:
  docker_container.absent:
    - force: True

app-{{ pillar.color }}-image:
  docker_image.absent:
    - name: 127.0.0.1:5000/halite-app:{{ pillar.version }}
    - require:
      - docker_container: app-{{ pillar.color }}
"#;

const BG_STOPPED: &str = r#"
app-{{ pillar.color }}:
  docker_container.stopped:
    - stop_timeout: 2
"#;

const BG_LB: &str = r#"
lb-upstream:
  file.managed:
    - name: /etc/halite-lb/upstream
    - contents: "{{ pillar.color }} 127.0.0.1:{{ pillar.port }}"
    - makedirs: True

halite-lb:
  service.running:
    - reload: True
    - watch:
      - file: lb-upstream
"#;

const BG_ORCH: &str = r#"
deploy_green:
  salt.state:
    - tgt: pod1
    - sls: bg.app
    - pillar: {color: green, version: {{ pillar.green }}, port: 8082}

health:
  salt.function:
    - name: cmd.run
    - tgt: pod1
    - arg: ['for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O- http://127.0.0.1:8082/health 2>/dev/null | grep -qx ok && exit 0; sleep 0.5; done; exit 1']
    - require:
      - salt: deploy_green

switch:
  salt.state:
    - tgt: node1
    - sls: bg.lb
    - pillar: {color: green, port: 8082}
    - require:
      - salt: health

stop_blue:
  salt.state:
    - tgt: pod1
    - sls: bg.stopped
    - pillar: {color: blue}
    - require:
      - salt: switch

rollback:
  salt.state:
    - tgt: pod1
    - sls: bg.gone
    - pillar: {color: green, version: {{ pillar.green }}}
    - onfail:
      - salt: health
"#;

/// Steps of an orchestration's JSON document, by ID.
fn orch_steps(v: &Value) -> serde_json::Map<String, Value> {
    v["data"]["halite_master"]
        .as_object()
        .unwrap_or_else(|| panic!("no orchestration result: {v}"))
        .values()
        .map(|s| (s["__id__"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

fn orch_ids(v: &Value, keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    orch_steps(v)
        .into_iter()
        .filter(|(_, s)| keep(s))
        .map(|(id, _)| id)
        .collect()
}

fn answer(fleet: &Fleet, port: u16) -> String {
    pod_sh(
        fleet,
        &format!("busybox wget -q -O- http://127.0.0.1:{port}/version 2>/dev/null || echo down"),
    )
}

#[test]
fn blue_green_rollout_by_orchestration_with_health_check_rollback_and_resume() {
    let fleet = fleet();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        POD,
        &format!(
            "podman rm -f -t 0 app-blue app-green >/dev/null 2>&1; \
             podman images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{REPO}:bg' | xargs -r podman rmi -f >/dev/null; true"
        ),
    );
    fleet.podman_exec_ok(
        "node1",
        "systemctl stop halite-lb 2>/dev/null; rm -rf /etc/halite-lb /run/halite-lb-active; \
         printf '[Service]\\nExecStart=/bin/sleep infinity\\nExecReload=/bin/cp /etc/halite-lb/upstream /run/halite-lb-active\\n' \
           >/etc/systemd/system/halite-lb.service && systemctl daemon-reload",
    );
    build_app_images(
        fleet,
        &[
            ("bg1", "blue1", "ok"),
            ("bg2", "green2", "ok"),
            ("bg3", "green3", "broken"),
        ],
    );
    let ws = workspace(fleet);
    ws.write("states/bg/app.sls", BG_APP);
    ws.write("states/bg/gone.sls", BG_GONE);
    ws.write("states/bg/stopped.sls", BG_STOPPED);
    ws.write("states/bg/lb.sls", BG_LB);
    ws.write("states/orch/bluegreen.sls", BG_ORCH);
    let active = || fleet.podman_exec_ok("node1", "cat /run/halite-lb-active 2>/dev/null; true");
    let blue_serving = |ws: &Workspace| {
        for (target, sls, pillar) in [
            (
                POD,
                "bg.app",
                "pillar={color: blue, version: bg1, port: 8081}",
            ),
            ("node1", "bg.lb", "pillar={color: blue, port: 8081}"),
        ] {
            let (out, v) = ws.halite_json([target, "state.sls", sls, pillar]);
            assert_eq!(out.code, Some(0), "{v}");
        }
    };
    blue_serving(&ws);
    assert_eq!(answer(fleet, 8081), "blue1");

    // The prediction, then the rollout: the steps predicted to change are
    // exactly those that change.
    let (out, test) = ws.halite_json([
        "orchestrate",
        "orch.bluegreen",
        "test=True",
        "pillar={green: bg2}",
    ]);
    assert_eq!(out.code, Some(0), "{test}");
    assert_eq!(answer(fleet, 8082), "down", "test=True deployed nothing");
    let predicted = orch_ids(&test, |s| s["result"].is_null());
    assert_eq!(
        predicted,
        set(&["deploy_green", "health", "switch", "stop_blue"]),
        "{test}"
    );
    let (out, real) = ws.halite_json(["orchestrate", "orch.bluegreen", "pillar={green: bg2}"]);
    assert_eq!(out.code, Some(0), "{real}");
    let changed = orch_ids(&real, |s| {
        s["changes"].as_object().is_some_and(|c| !c.is_empty())
    });
    assert_eq!(changed, predicted, "{real}");
    assert_eq!(answer(fleet, 8082), "green2");
    assert_eq!(
        active().trim(),
        "green 127.0.0.1:8082",
        "the balancer reloaded onto green"
    );
    assert_eq!(answer(fleet, 8081), "down", "blue stopped");
    assert_eq!(orch_steps(&real)["rollback"]["__state_ran__"], false);

    // Back to blue; a broken green release stops at the health step and
    // is rolled back; blue keeps serving, the balancer stays on blue.
    blue_serving(&ws);
    let (out, v) = ws.halite_json([
        POD,
        "state.sls",
        "bg.gone",
        "pillar={color: green, version: bg2}",
    ]);
    assert_eq!(out.code, Some(0), "{v}");
    let (out, broken) = ws.halite_json(["orchestrate", "orch.bluegreen", "pillar={green: bg3}"]);
    assert_eq!(out.code, Some(1), "{broken}");
    let s = orch_steps(&broken);
    assert_eq!(s["health"]["result"], false);
    assert!(
        s["health"]["comment"]
            .as_str()
            .unwrap()
            .starts_with("Running function cmd.run failed on minions: pod1"),
        "{broken}"
    );
    assert_eq!(
        s["switch"]["comment"],
        "One or more requisite failed: orch.bluegreen.health"
    );
    assert_eq!(s["rollback"]["result"], true, "{broken}");
    assert_eq!(answer(fleet, 8082), "down", "green removed");
    assert_eq!(answer(fleet, 8081), "blue1");
    assert_eq!(active().trim(), "blue 127.0.0.1:8081");

    // The release is fixed (bg3 now healthy): resuming the failed job
    // finishes the rollout (it starts over: the rollback undid the deploy).
    build_app_images(fleet, &[("bg3", "green3fixed", "ok")]);
    let jid = broken["jid"].as_str().unwrap();
    let (out, resumed) = ws.halite_json(["jobs", "rerun", jid, "--failed", "--not-run"]);
    assert_eq!(out.code, Some(0), "{resumed}");
    assert_eq!(answer(fleet, 8082), "green3fixed");
    assert_eq!(active().trim(), "green 127.0.0.1:8082");
    assert_eq!(answer(fleet, 8081), "down");
}
