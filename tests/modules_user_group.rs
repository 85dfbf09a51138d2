//! The `user` and `group` states against a real Debian host (fleet host
//! node4, reached with `podman exec`): each state is probed, planned,
//! applied and probed again, and `getent` must show exactly what was
//! declared. This is what proves the plan (the test=True prediction) is
//! what apply changes, and that a second run changes nothing.
//!
//! Only node4 and only users and groups named `hlt-*` are touched: the
//! other hosts belong to other tests running at the same time.

mod harness;

use std::sync::{Mutex, MutexGuard};

use halite::modules::{lookup, Applied, BuildCtx, Output, Plan, StateFunction};
use halite::state::Chunk;
use harness::Fleet;
use serde_json::{json, Value};

const NODE: &str = "node4";

/// The tests share account names and /etc files; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn state(module: &str, function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
    let chunk = Chunk {
        sls: "t".into(),
        file: "t.sls".into(),
        ..Chunk::standalone(module, function, name, args)
    };
    let ctx = BuildCtx {
        states_root: std::path::Path::new("/nonexistent"),
        renderer: None,
    };
    (lookup(module, function).expect("registered").build)(&chunk, &ctx).unwrap()
}

/// Run `script` on node4 as the engine would: both streams, one exit code.
fn run(fleet: &Fleet, script: &str) -> (String, i32) {
    let out = fleet.podman_exec(NODE, script);
    (
        format!("{}{}", out.stdout, out.stderr),
        out.code.unwrap_or(-1),
    )
}

fn plan(fleet: &Fleet, f: &dyn StateFunction) -> Result<Plan, String> {
    let (text, rc) = run(fleet, &f.probe());
    f.plan(Output { text: &text, rc })
}

fn apply(fleet: &Fleet, f: &dyn StateFunction, p: &Plan) -> Applied {
    let (text, rc) = run(fleet, &f.apply(p).unwrap());
    f.finish(p, Output { text: &text, rc })
}

/// Plan (what test=True shows), apply, and check that apply reports exactly
/// the prediction and that a second plan is a no-op. Returns the changes.
fn converge(fleet: &Fleet, f: &dyn StateFunction) -> Value {
    let predicted = plan(fleet, f).unwrap();
    assert!(!predicted.is_noop(), "nothing to do: {predicted:?}");
    let done = apply(fleet, f, &predicted);
    assert!(done.result, "{}", done.comment);
    assert_eq!(done.changes, predicted.changes);
    let again = plan(fleet, f).unwrap();
    assert!(again.is_noop(), "second run would change: {again:?}");
    Value::Object(done.changes)
}

fn noop(fleet: &Fleet, f: &dyn StateFunction) {
    let p = plan(fleet, f).unwrap();
    assert!(p.is_noop(), "expected no change: {p:?}");
}

/// `getent DB KEY`, trimmed; empty when there is no entry.
fn getent(fleet: &Fleet, db: &str, key: &str) -> String {
    run(fleet, &format!("getent {db} {key}"))
        .0
        .trim()
        .to_string()
}

/// Every group `user` is in (`id -Gn`), sorted: its order is /etc/group's.
fn groups_of(fleet: &Fleet, user: &str) -> Vec<String> {
    let mut g: Vec<String> = run(fleet, &format!("id -Gn {user}"))
        .0
        .split_whitespace()
        .map(str::to_string)
        .collect();
    g.sort();
    g
}

fn cleanup(fleet: &Fleet) {
    fleet.podman_exec(
        NODE,
        "for u in hlt-foo hlt-bar hlt-baz hlt-m1 hlt-m2 hlt-m3; do userdel -r \"$u\"; done >/dev/null 2>&1; \
         for g in hlt-foo hlt-bar hlt-g1 hlt-g2 hlt-grp hlt-m1 hlt-m2 hlt-m3; do groupdel \"$g\"; done >/dev/null 2>&1; \
         rm -rf /home/hlt-foo /home/hlt-bar /srv/hlt-home; true",
    );
}

#[test]
fn user_present_creates_corrects_drift_and_absent_removes() {
    let _serial = serial();
    let fleet = Fleet::get();
    cleanup(fleet);
    for (g, gid) in [("hlt-g1", 4201), ("hlt-g2", 4202)] {
        let changes = converge(
            fleet,
            state("group", "present", g, json!({"gid": gid})).as_ref(),
        );
        assert_eq!(changes, json!({"name": g, "gid": gid, "members": []}));
    }
    // Shaped like a sha512-crypt hash; `chpasswd -e` stores it as given.
    let hash = "$6$hltsalt$9kVd7xu6lbGsAuGE1ChZQ4qcrzvjQ4y.D5MZ7lrp3Ai0LQkPS4qX2.bbqJ4Q0Bz6z6KsgH8GQrBbKvUkkOm6x/";
    let foo = state(
        "user",
        "present",
        "hlt-foo",
        json!({"uid": 4210, "groups": ["hlt-g1"], "optional_groups": ["hlt-nope"],
               "shell": "/bin/bash", "fullname": "Foo O'Test", "password": hash}),
    );
    let changes = converge(fleet, foo.as_ref());
    assert_eq!(
        changes,
        json!({"name": "hlt-foo", "uid": 4210, "home": "/home/hlt-foo", "shell": "/bin/bash",
               "groups": ["hlt-g1"], "fullname": "Foo O'Test", "passwd": "XXX-REDACTED-XXX"})
    );
    let passwd = getent(fleet, "passwd", "hlt-foo");
    let gid = getent(fleet, "group", "hlt-foo")
        .split(':')
        .nth(2)
        .unwrap()
        .to_string();
    assert_eq!(
        passwd,
        format!("hlt-foo:x:4210:{gid}:Foo O'Test:/home/hlt-foo:/bin/bash")
    );
    assert_eq!(groups_of(fleet, "hlt-foo"), ["hlt-foo", "hlt-g1"]);
    assert_eq!(
        run(fleet, "getent shadow hlt-foo | cut -d: -f2").0.trim(),
        hash
    );
    assert_eq!(run(fleet, "stat -c %U /home/hlt-foo").0.trim(), "hlt-foo");

    // Someone edits the account behind halite's back: only that is undone.
    fleet.podman_exec_ok(NODE, "usermod -s /bin/sh -G hlt-g2 hlt-foo");
    let drift = plan(fleet, foo.as_ref()).unwrap();
    assert_eq!(
        Value::Object(drift.changes.clone()),
        json!({"shell": "/bin/bash", "groups": ["hlt-g1"]})
    );
    assert_eq!(
        converge(fleet, foo.as_ref()),
        json!({"shell": "/bin/bash", "groups": ["hlt-g1"]})
    );
    assert_eq!(groups_of(fleet, "hlt-foo"), ["hlt-foo", "hlt-g1"]);

    // Home moved, remove_groups off, gid by name, new password.
    let moved = state(
        "user",
        "present",
        "hlt-foo",
        json!({"home": "/srv/hlt-home", "groups": ["hlt-g2"], "remove_groups": false,
               "gid": "hlt-g1", "allow_gid_change": true, "password": "$6$other$x"}),
    );
    assert_eq!(
        converge(fleet, moved.as_ref()),
        json!({"gid": 4201, "home": "/srv/hlt-home", "groups": ["hlt-foo", "hlt-g2"],
               "passwd": "XXX-REDACTED-XXX", "homeDoesNotExist": "/srv/hlt-home"})
    );
    assert_eq!(
        getent(fleet, "passwd", "hlt-foo"),
        "hlt-foo:x:4210:4201:Foo O'Test:/srv/hlt-home:/bin/bash"
    );
    assert_eq!(groups_of(fleet, "hlt-foo"), ["hlt-foo", "hlt-g1", "hlt-g2"]);
    assert_eq!(
        run(fleet, "stat -c '%U %a' /srv/hlt-home").0.trim(),
        "hlt-foo 755"
    );

    // A required group that does not exist fails the state, as in Salt.
    let err = plan(
        fleet,
        state(
            "user",
            "present",
            "hlt-foo",
            json!({"groups": ["hlt-nope"]}),
        )
        .as_ref(),
    )
    .unwrap_err();
    assert_eq!(err, "The following group(s) are not present: hlt-nope");

    // Absent, purged. Its same-name group is no longer its primary group,
    // so userdel keeps it, and the plan says so by not listing it.
    let absent = state("user", "absent", "hlt-foo", json!({"purge": true}));
    assert_eq!(
        converge(fleet, absent.as_ref()),
        json!({"hlt-foo": "removed"})
    );
    assert_eq!(getent(fleet, "passwd", "hlt-foo"), "");
    assert_ne!(getent(fleet, "group", "hlt-foo"), "");
    assert_eq!(run(fleet, "test -e /srv/hlt-home; echo $?").0.trim(), "1");
    cleanup(fleet);
}

/// The field of `getent shadow USER` at `i` (0: the name).
fn shadow_field(fleet: &Fleet, user: &str, i: usize) -> String {
    getent(fleet, "shadow", user)
        .split(':')
        .nth(i)
        .unwrap_or_default()
        .to_string()
}

/// Salt 3008's other user.present arguments on a real host: the GECOS
/// parts, expire (a date), hash_password (hashed on the controller, the
/// host's salt re-used so a second run changes nothing), allow_gid_change
/// and unique.
#[test]
fn user_present_gecos_expire_hash_password_gid_and_unique() {
    let _serial = serial();
    let fleet = Fleet::get();
    cleanup(fleet);
    converge(
        fleet,
        state("group", "present", "hlt-g1", json!({"gid": 4201})).as_ref(),
    );
    let bar = state(
        "user",
        "present",
        "hlt-bar",
        json!({"uid": 4220, "fullname": "Bar", "roomnumber": 12, "workphone": "555",
               "homephone": "556", "other": "x,y", "expire": "2030-12-31",
               "password": "pw one", "hash_password": true}),
    );
    assert_eq!(
        converge(fleet, bar.as_ref()),
        json!({"name": "hlt-bar", "uid": 4220, "home": "/home/hlt-bar", "shell": "/bin/sh",
               "groups": [], "fullname": "Bar", "roomnumber": "12", "workphone": "555",
               "homephone": "556", "other": "x,y", "expire": 22279, "passwd": "XXX-REDACTED-XXX"})
    );
    assert_eq!(
        getent(fleet, "passwd", "hlt-bar").split(':').nth(4),
        Some("Bar,12,555,556,x,y")
    );
    assert_eq!(shadow_field(fleet, "hlt-bar", 7), "22279");
    let hash = shadow_field(fleet, "hlt-bar", 1);
    let setting = &hash[..hash.rfind('$').unwrap()];
    assert!(hash.starts_with("$6$"), "{hash}");
    assert_eq!(
        halite::platform::accounts::sha_crypt("pw one", setting).as_deref(),
        Some(hash.as_str())
    );

    // The gid differs: refused unless allowed, as Salt does.
    let args = json!({"gid": "hlt-g1", "roomnumber": "13", "expire": -1,
                      "password": "pw two", "hash_password": true});
    let err = plan(
        fleet,
        state("user", "present", "hlt-bar", args.clone()).as_ref(),
    )
    .unwrap_err();
    assert!(
        err.contains(" -> hlt-g1) not permitted, set allow_gid_change"),
        "{err}"
    );
    let mut allowed = args;
    allowed["allow_gid_change"] = json!(true);
    assert_eq!(
        converge(fleet, state("user", "present", "hlt-bar", allowed).as_ref()),
        json!({"gid": 4201, "roomnumber": "13", "expire": -1, "passwd": "XXX-REDACTED-XXX"})
    );
    assert_eq!(
        getent(fleet, "passwd", "hlt-bar"),
        "hlt-bar:x:4220:4201:Bar,13,555,556,x,y:/home/hlt-bar:/bin/sh"
    );
    assert_eq!(shadow_field(fleet, "hlt-bar", 7), "");
    // The new password, under the salt the host's hash had.
    assert_eq!(
        shadow_field(fleet, "hlt-bar", 1),
        halite::platform::accounts::sha_crypt("pw two", setting).unwrap()
    );

    // unique: False shares a uid (useradd -o).
    let baz = state(
        "user",
        "present",
        "hlt-baz",
        json!({"uid": 4220, "unique": false, "createhome": false}),
    );
    converge(fleet, baz.as_ref());
    assert_eq!(
        getent(fleet, "passwd", "hlt-baz").split(':').nth(2),
        Some("4220")
    );
    cleanup(fleet);
}

/// hash_password through the binary with debug logs: test=True predicts
/// the password change, the apply sets it, the second run changes
/// nothing, and the plaintext appears in no output, log or file of the
/// run but the state file it was written in.
#[test]
fn hash_password_plaintext_stays_in_the_state_file() {
    let _serial = serial();
    let fleet = Fleet::get();
    cleanup(fleet);
    const PLAIN: &str = "plain-S3cret-7f1c";
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node4:\n    - pw\n");
    ws.write(
        "states/pw.sls",
        &format!("hlt-foo:\n  user.present:\n    - password: {PLAIN}\n    - hash_password: True\n"),
    );
    let passwd_change = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no results: {v}"))
            .values()
            .next()
            .map(|s| s["changes"]["passwd"].clone())
            .unwrap_or(Value::Null)
    };
    let mut seen = String::new();
    let (out, t) = ws.halite_json(["-v", "node4", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(passwd_change(&t), json!("XXX-REDACTED-XXX"), "{t}");
    seen.push_str(&format!("{}{}", out.stdout, out.stderr));
    let (out, v) = ws.halite_json(["-v", "node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(passwd_change(&v), json!("XXX-REDACTED-XXX"), "{v}");
    seen.push_str(&format!("{}{}", out.stdout, out.stderr));
    let (out, v) = ws.halite_json(["-v", "node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(passwd_change(&v), Value::Null, "second run: {v}");
    seen.push_str(&format!("{}{}", out.stdout, out.stderr));
    assert!(!seen.contains(PLAIN), "the plaintext was printed");
    let hash = getent(fleet, "shadow", "hlt-foo");
    let hash = hash.split(':').nth(1).unwrap();
    let setting = &hash[..hash.rfind('$').unwrap()];
    assert_eq!(
        halite::platform::accounts::sha_crypt(PLAIN, setting).as_deref(),
        Some(hash)
    );
    // Nor in any file the runs wrote (job records, caches), nor the
    // hash: only the state file holds the plaintext.
    let found = fleet.podman_exec(
        NODE,
        &format!("grep -rl {PLAIN} /var/lib/halite /tmp 2>/dev/null; true"),
    );
    assert_eq!(found.stdout.trim(), "", "on the host");
    let mut stack = vec![ws.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("states/pw.sls") {
                let bytes = std::fs::read(&p).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(PLAIN), "{} holds the plaintext", p.display());
                assert!(!text.contains(hash), "{} holds the hash", p.display());
            }
        }
    }
    fleet.podman_exec(NODE, "rm -rf /var/lib/halite; true");
    cleanup(fleet);
}

#[test]
fn seed_talk_drift_foo_then_bar() {
    let _serial = serial();
    let fleet = Fleet::get();
    cleanup(fleet);
    // Run 1: hlt-foo present.
    let foo = state("user", "present", "hlt-foo", json!({}));
    let changes = converge(fleet, foo.as_ref());
    assert_eq!(
        changes,
        json!({"name": "hlt-foo", "home": "/home/hlt-foo", "shell": "/bin/sh", "groups": []})
    );
    // Run 2: the declaration now says hlt-bar instead.
    let bar = state("user", "present", "hlt-bar", json!({}));
    let foo_gone = state("user", "absent", "hlt-foo", json!({}));
    let p_bar = plan(fleet, bar.as_ref()).unwrap();
    let p_foo = plan(fleet, foo_gone.as_ref()).unwrap();
    assert_eq!(p_bar.changes["name"], "hlt-bar");
    assert_eq!(
        Value::Object(p_foo.changes.clone()),
        json!({"hlt-foo group": "removed", "hlt-foo": "removed"})
    );
    for (f, p) in [(&bar, &p_bar), (&foo_gone, &p_foo)] {
        let done = apply(fleet, f.as_ref(), p);
        assert!(done.result, "{}", done.comment);
        assert_eq!(done.changes, p.changes);
    }
    noop(fleet, bar.as_ref());
    noop(fleet, foo_gone.as_ref());
    assert_eq!(getent(fleet, "passwd", "hlt-foo"), "");
    assert_eq!(getent(fleet, "group", "hlt-foo"), "");
    assert!(getent(fleet, "passwd", "hlt-bar").starts_with("hlt-bar:x:"));
    // Without purge the home stays, as with Salt.
    assert_eq!(run(fleet, "test -d /home/hlt-foo; echo $?").0.trim(), "0");
    cleanup(fleet);
}

#[test]
fn group_present_members_drift_and_absent() {
    let _serial = serial();
    let fleet = Fleet::get();
    cleanup(fleet);
    for u in ["hlt-m1", "hlt-m2", "hlt-m3"] {
        converge(
            fleet,
            state("user", "present", u, json!({"createhome": false})).as_ref(),
        );
    }
    let grp = state(
        "group",
        "present",
        "hlt-grp",
        json!({"gid": 4300, "members": ["hlt-m1", "hlt-m2"]}),
    );
    assert_eq!(
        converge(fleet, grp.as_ref()),
        json!({"name": "hlt-grp", "gid": 4300, "members": ["hlt-m1", "hlt-m2"]})
    );
    assert_eq!(
        getent(fleet, "group", "hlt-grp"),
        "hlt-grp:x:4300:hlt-m1,hlt-m2"
    );

    // Exact member list and gid drift.
    let exact = state(
        "group",
        "present",
        "hlt-grp",
        json!({"gid": 4301, "members": ["hlt-m3", "hlt-m1"]}),
    );
    assert_eq!(
        converge(fleet, exact.as_ref()),
        json!({"gid": 4301, "members": ["hlt-m3", "hlt-m1"]})
    );
    assert_eq!(
        getent(fleet, "group", "hlt-grp"),
        "hlt-grp:x:4301:hlt-m3,hlt-m1"
    );

    // addusers / delusers touch only those.
    let some = state(
        "group",
        "present",
        "hlt-grp",
        json!({"addusers": ["hlt-m2"], "delusers": ["hlt-m3"]}),
    );
    assert_eq!(
        converge(fleet, some.as_ref()),
        json!({"addusers": ["hlt-m2"], "delusers": ["hlt-m3"]})
    );
    assert_eq!(
        getent(fleet, "group", "hlt-grp"),
        "hlt-grp:x:4301:hlt-m1,hlt-m2"
    );

    // A member that does not exist fails before anything changes.
    let err = plan(
        fleet,
        state(
            "group",
            "present",
            "hlt-grp",
            json!({"members": ["hlt-nope"]}),
        )
        .as_ref(),
    )
    .unwrap_err();
    assert!(err.contains("hlt-nope"), "{err}");

    // A user's primary group cannot go; any other can.
    let err = plan(
        fleet,
        state("group", "absent", "hlt-m1", json!({})).as_ref(),
    )
    .unwrap_err();
    assert!(err.contains("primary group of user(s) hlt-m1"), "{err}");
    let absent = state("group", "absent", "hlt-grp", json!({}));
    assert_eq!(converge(fleet, absent.as_ref()), json!({"hlt-grp": ""}));
    assert_eq!(getent(fleet, "group", "hlt-grp"), "");
    cleanup(fleet);
}

/// ssh_auth through the binary: the key is added to the user's
/// authorized_keys (~/.ssh 0700, the file 0600, owned by the user and
/// their group), other lines are kept, a changed comment rewrites only
/// that line, test=True predicts each step, absent removes it, and a key
/// dropped from the states is a drift orphan that prune removes.
#[test]
fn ssh_auth_manages_one_key_among_others() {
    let _serial = serial();
    let fleet = Fleet::get();
    fleet.podman_exec(
        NODE,
        "userdel -r hlt-keys >/dev/null 2>&1; groupdel hlt-keys >/dev/null 2>&1; rm -rf /var/lib/halite; true",
    );
    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHaliteTestKeyHaliteTestKeyHaliteTest01";
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node4:\n    - keys\n");
    let sls = |comment: &str, key_state: bool| {
        let mut s = "hlt-keys:\n  user.present:\n    - shell: /bin/sh\n".to_string();
        if key_state {
            s.push_str(&format!(
                "deploy-key:\n  ssh_auth.present:\n    - name: ssh-ed25519 {KEY} {comment}\n    - user: hlt-keys\n    - options:\n      - no-port-forwarding\n    - require:\n      - user: hlt-keys\n"
            ));
        }
        s
    };
    let key_state = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no results: {v}"))
            .values()
            .find(|s| s["__id__"] == "deploy-key")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let keys = || {
        fleet.podman_exec_ok(
            NODE,
            "cat /home/hlt-keys/.ssh/authorized_keys 2>/dev/null; true",
        )
    };

    ws.write("states/keys.sls", &sls("ci@example", true));
    // The user does not exist yet: test=True cannot read its home, and
    // says the key is decided once the user exists.
    let (out, t) = ws.halite_json(["node4", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(key_state(&t)["result"].is_null(), "{t}");
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(key_state(&v)["changes"], json!({KEY: "New"}), "{v}");
    let line = format!("no-port-forwarding ssh-ed25519 {KEY} ci@example\n");
    assert_eq!(keys(), line);
    assert_eq!(
        fleet.podman_exec_ok(
            NODE,
            "stat -c '%U:%G %a' /home/hlt-keys/.ssh /home/hlt-keys/.ssh/authorized_keys"
        ),
        "hlt-keys:hlt-keys 700\nhlt-keys:hlt-keys 600\n"
    );
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(key_state(&v)["changes"], json!({}), "{v}");

    // Another key added by hand stays; a new comment rewrites only ours.
    fleet.podman_exec_ok(
        NODE,
        "echo 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCother other@host' >> /home/hlt-keys/.ssh/authorized_keys",
    );
    ws.write("states/keys.sls", &sls("ops@example", true));
    let (out, t) = ws.halite_json(["node4", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(key_state(&t)["changes"], json!({KEY: "Updated"}), "{t}");
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(key_state(&v)["changes"], key_state(&t)["changes"], "{v}");
    assert_eq!(
        keys(),
        format!(
            "no-port-forwarding ssh-ed25519 {KEY} ops@example\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCother other@host\n"
        )
    );

    // Dropped from the states: an orphan; prune removes only that key.
    ws.write("states/keys.sls", &sls("", false));
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        v["results"][NODE]["drift"]["orphans"][0]["name"],
        format!("hlt-keys {KEY}"),
        "{v}"
    );
    let (out, v) = ws.halite_json(["node4", "state.apply", "prune=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        keys(),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCother other@host\n",
        "{v}"
    );
    // absent of a key that is not there: nothing to do.
    ws.write(
        "states/keys.sls",
        &format!("{KEY}:\n  ssh_auth.absent:\n    - user: hlt-keys\n"),
    );
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        v["results"][NODE]["ret"]
            .to_string()
            .contains("already absent"),
        "{v}"
    );
    fleet.podman_exec(
        NODE,
        "userdel -r hlt-keys >/dev/null 2>&1; rm -rf /var/lib/halite; true",
    );
}

/// cron through the binary: a marked job is added to root's crontab next
/// to a hand-made line, test=True predicts it, a new schedule rewrites it
/// in place, and dropped from the states it is an orphan prune removes.
#[test]
fn cron_manages_one_marked_job() {
    let _serial = serial();
    let fleet = Fleet::get();
    fleet.podman_exec_ok(
        NODE,
        "rm -rf /var/lib/halite; echo '0 * * * * /bin/true other' | crontab -u root -",
    );
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node4:\n    - jobs\n");
    let sls = |hour: u32| {
        format!("/usr/local/bin/backup --all:\n  cron.present:\n    - identifier: backup\n    - minute: 15\n    - hour: {hour}\n    - comment: nightly\n")
    };
    let crontab = || fleet.podman_exec_ok(NODE, "crontab -l -u root");
    let only = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no results: {v}"))
            .values()
            .next()
            .cloned()
            .unwrap()
    };
    ws.write("states/jobs.sls", &sls(2));
    let (out, t) = ws.halite_json(["node4", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        crontab(),
        "0 * * * * /bin/true other\n",
        "test=True changed nothing"
    );
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(only(&v)["changes"], only(&t)["changes"], "{v}");
    assert_eq!(
        only(&v)["changes"],
        json!({"root": {"new": "15 2 * * * /usr/local/bin/backup --all"}})
    );
    assert_eq!(
        crontab(),
        "0 * * * * /bin/true other\n# nightly HALITE_CRON_IDENTIFIER:backup\n15 2 * * * /usr/local/bin/backup --all\n"
    );
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(only(&v)["changes"], json!({}), "{v}");

    ws.write("states/jobs.sls", &sls(3));
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(only(&v)["changes"]["root"]["updated"].is_string(), "{v}");
    assert_eq!(
        crontab(),
        "0 * * * * /bin/true other\n# nightly HALITE_CRON_IDENTIFIER:backup\n15 3 * * * /usr/local/bin/backup --all\n"
    );

    ws.write("states/jobs.sls", "/tmp:\n  file.directory: []\n");
    let (out, v) = ws.halite_json(["node4", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        v["results"][NODE]["drift"]["orphans"][0]["name"], "root backup",
        "{v}"
    );
    let (out, v) = ws.halite_json(["node4", "state.apply", "prune=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(crontab(), "0 * * * * /bin/true other\n", "{v}");
    fleet.podman_exec(NODE, "crontab -r -u root; rm -rf /var/lib/halite; true");
}
