//! Inventories users already keep, read by the `halite` binary as they are:
//! an Ansible INI inventory and a salt-ssh roster next to halite's own YAML
//! in inventory/, an Ansible dynamic-inventory script, and `-i FILE`. Hosts
//! use the local connection, so no fleet is needed. How each format is read
//! is checked against Ansible itself by the unit tests in
//! src/inventory/ansible/.

mod local;

use local::{stderr, Project};

fn write(p: &Project, name: &str, text: &str) {
    std::fs::write(p.path().join(name), text).unwrap();
}

#[cfg(unix)]
fn executable(p: &Project, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    write(p, name, text);
    std::fs::set_permissions(p.path().join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
}

const INI: &str = "[web]\nw[1:2] ansible_connection=local http_port=8080\n[web:vars]\nansible_user=root\nansible_shell_executable=/bin/bash\n[all:vars]\ndc=paris\n";

#[test]
fn ansible_ini_and_roster_sit_beside_halite_yaml() {
    let p = Project::new("hosts:\n  h1: {connection: local}\n");
    write(&p, "inventory/hosts", INI);
    write(
        &p,
        "inventory/roster",
        "r1:\n  host: 127.0.0.1\n  tty: true\n",
    );
    // group_vars/ beside the INI file win over its [all:vars].
    std::fs::create_dir_all(p.path().join("inventory/group_vars")).unwrap();
    write(&p, "inventory/group_vars/web.yml", "dc: lyon\nteam: ops\n");
    // -N web: the Ansible group is a nodegroup; its vars are grains.
    let (code, v) = p.json(&["-N", "web", "grains.item", "http_port", "dc"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["summary"]["targeted"], 2);
    assert_eq!(v["results"]["w1"]["ret"]["http_port"], 8080);
    // [all:vars] says paris; group_vars/web.yml (a deeper group) says lyon.
    assert_eq!(v["results"]["w2"]["ret"]["dc"], "lyon");
    // What halite ignores is said, naming the file and line.
    let out = p.run(&["-L", "h1,w1", "test.ping"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(
            "warning: inventory/hosts:5: group `web`: `ansible_shell_executable` is ignored"
        ),
        "{e}"
    );
    assert!(
        e.contains("warning: inventory/roster:3: `r1`: `tty` is ignored"),
        "{e}"
    );
}

#[test]
fn a_host_in_two_formats_is_an_error_naming_both() {
    let p = Project::new("hosts:\n  w1: {connection: local}\n");
    write(&p, "inventory/web.ini", INI);
    let out = p.run(&["*", "test.ping"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("inventory/web.ini:2: host `w1` is already defined at")
            && e.contains("inventory/hosts.yaml:2"),
        "{e}"
    );
}

#[test]
fn refused_ansible_variables_stop_before_connecting() {
    let p = Project::new("hosts: {}\n");
    write(&p, "inventory/hosts", "w1 ansible_connection=docker\n");
    let out = p.run(&["*", "test.ping"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "inventory/hosts:1: host `w1`: `ansible_connection: docker` cannot be honoured"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dynamic_inventory_script_is_run_with_list() {
    let p = Project::new("hosts: {}\n");
    executable(
        &p,
        "inventory.sh",
        "#!/bin/sh\n[ \"$1\" = --list ] || exit 3\necho 'ignored noise' >&2\ncat <<'E'\n{\"app\": {\"hosts\": [\"a1\", \"a2\"], \"vars\": {\"ansible_connection\": \"local\"}},\n \"_meta\": {\"hostvars\": {\"a1\": {\"tier\": \"front\"}, \"gone\": {}}}}\nE\n",
    );
    let (code, v) = p.json(&["-i", "inventory.sh", "-N", "app", "grains.item", "tier"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["summary"]["targeted"], 2);
    assert_eq!(v["results"]["a1"]["ret"]["tier"], "front");
    let out = p.run(&["-i", "inventory.sh", "a1", "test.ping"]);
    let e = stderr(&out);
    assert!(
        e.contains("warning: inventory.sh --list: ignored noise"),
        "{e}"
    );
    assert!(
        e.contains(
            "inventory.sh --list: _meta.hostvars `gone` is ignored: no group lists that host"
        ),
        "{e}"
    );
    // A failing script stops the run before anything connects.
    executable(
        &p,
        "broken.sh",
        "#!/bin/sh\necho 'no cloud credentials' >&2\nexit 1\n",
    );
    let out = p.run(&["-i", "broken.sh", "*", "test.ping"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken.sh --list failed")
            && stderr(&out).contains("no cloud credentials"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_json_static_inventory_is_read_as_ansible_reads_it() {
    let p = Project::new("hosts: {}\n");
    write(
        &p,
        "inventory/static.json",
        r#"{"all": {"children": {"db": {"hosts": {"j1": {"ansible_connection": "local"}}}}}}"#,
    );
    let (code, v) = p.json(&["-N", "db", "test.ping"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["j1"]["ret"], true);
}

#[test]
fn dash_i_reads_an_ansible_yaml_file() {
    let p = Project::new("hosts: {}\n");
    write(
        &p,
        "site.yml",
        "all:\n  vars:\n    ansible_connection: local\n  children:\n    db:\n      hosts:\n        d[1:3]:\n",
    );
    let (code, v) = p.json(&["-i", "site.yml", "-N", "db", "test.ping"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["summary"]["ok"], 3);
}
