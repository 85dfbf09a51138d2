//! salt-ssh's flat roster file (`/etc/salt/roster`), read as halite hosts.
//!
//! Each top-level key is a host id; its value is the host's address, or a
//! mapping of salt-ssh's target keys. Mapped: `host`, `port`, `user`,
//! `priv` (identity), `sudo`, `sudo_user` (with `sudo`, as salt-ssh), `timeout` (connect timeout) and
//! `minion_opts: {grains: ...}` (static grains). Reported and ignored
//! (a warning: the run does not depend on them, or the host fails on its
//! own): `passwd`, `priv_passwd`, `tty`, `thin_dir`, `cmd_umask`, `set_path`,
//! keepalive settings, `identities_only`, `mine*`, `relenv`, `disable_wipe`,
//! `ssh_python_env`, other `minion_opts`. Refused (halite cannot honour them and
//! would act differently): `ssh_options`, `remote_port_forwards`,
//! `ssh_pre_flight*`, `ssh_pre_hook`, `winrm`. Any other key is an error.
//! Salt renders a roster with Jinja first; halite reads plain YAML and
//! refuses a roster holding Jinja.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Entry, HostSpec, Part};
use crate::Value;

const PASSWORD: &str = "halite logs in with keys, and a sudo password comes from \
                        --ask-sudo-pass, sudo_password_file or sudo_password_env (halite.yaml)";

/// Read roster text from `path`.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Part, super::InventoryError> {
    let invalid = |message: String| super::InventoryError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if text.contains("{{") || text.contains("{%") {
        return Err(invalid(
            "this roster holds Jinja; halite reads a roster as plain YAML (render it first)".into(),
        ));
    }
    let doc: BTreeMap<String, Value> = if text.trim().is_empty() {
        BTreeMap::new()
    } else {
        crate::yaml::from_str(text, path)?
    };
    let mut part = Part {
        user: Some("root".into()),
        ..Part::default()
    };
    for (id, entry) in doc {
        let at = match crate::yaml::key_line(text, &[&id]) {
            Some(l) => format!("{}:{l}", path.display()),
            None => path.display().to_string(),
        };
        let spec = match entry {
            Value::String(host) => HostSpec {
                host: Some(host),
                ..HostSpec::default()
            },
            Value::Object(keys) => {
                let place = |key: &str| match crate::yaml::key_line(text, &[&id, key]) {
                    Some(l) => format!("{}:{l}", path.display()),
                    None => at.clone(),
                };
                host_spec(&id, &keys, &place, &mut part.warnings).map_err(invalid)?
            }
            Value::Null => HostSpec::default(),
            other => {
                return Err(invalid(format!(
                    "{at}: `{id}` must be an address or a mapping, not {other}"
                )))
            }
        };
        part.hosts.push(Entry {
            id,
            spec,
            place: Some(at),
        });
    }
    Ok(part)
}

fn host_spec(
    id: &str,
    keys: &serde_json::Map<String, Value>,
    place: &dyn Fn(&str) -> String,
    warnings: &mut Vec<String>,
) -> Result<HostSpec, String> {
    let mut spec = HostSpec::default();
    for (key, value) in keys {
        let at = place(key);
        let bad = |what: &str| format!("{at}: `{id}`: `{key}` must be {what}, not {value}");
        let text = || match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(bad("text")),
        };
        let mut warn =
            |why: &str| warnings.push(format!("{at}: `{id}`: `{key}` is ignored: {why}"));
        match key.as_str() {
            "host" => spec.host = Some(text()?),
            "user" => spec.user = Some(text()?),
            "priv" => spec.identity = Some(text()?),
            "port" => {
                spec.port = Some(
                    text()?
                        .parse()
                        .ok()
                        .filter(|&p: &u16| p > 0)
                        .ok_or_else(|| bad("a port number"))?,
                )
            }
            "sudo" => spec.sudo = Some(yaml11_bool(value).ok_or_else(|| bad("true or false"))?),
            "timeout" => {
                spec.connect_timeout =
                    Some(value.as_f64().ok_or_else(|| bad("a number of seconds"))?)
            }
            "sudo_user" => spec.sudo_user = Some(text()?),
            "minion_opts" => {
                spec.grains = minion_grains(id, value, &at, warnings)
                    .map_err(|_| bad("a mapping, its `grains` a mapping"))?
            }
            "passwd" | "priv_passwd" => warn(PASSWORD),
            "tty"
            | "thin_dir"
            | "cmd_umask"
            | "set_path"
            | "keepalive"
            | "keepalive_interval"
            | "keepalive_count_max"
            | "identities_only"
            | "mine"
            | "mine_functions"
            | "relenv"
            | "disable_wipe"
            | "ssh_python_env" => warn("it has no meaning in halite"),
            "ssh_options"
            | "remote_port_forwards"
            | "ssh_pre_flight"
            | "ssh_pre_flight_args"
            | "ssh_run_pre_flight"
            | "ssh_pre_hook"
            | "winrm" => {
                return Err(format!(
                    "{at}: `{id}`: `{key}` cannot be honoured by halite"
                ))
            }
            _ => return Err(format!("{at}: `{id}`: unknown roster key `{key}`")),
        }
    }
    // As in salt-ssh, the user to become matters only with sudo.
    if spec.sudo != Some(true) {
        spec.sudo_user = None;
    }
    Ok(spec)
}

/// A boolean as Salt's YAML 1.1 reads one: `true`, and also `yes`, `on`,
/// `True` (halite's YAML is 1.2, where those are text).
fn yaml11_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => crate::yaml::parse_scalar(s).as_bool(),
        _ => None,
    }
}

/// `minion_opts`: its `grains` are static grains; any other option is
/// reported (halite runs no minion). `Err` when it is not a mapping.
fn minion_grains(
    id: &str,
    value: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<BTreeMap<String, Value>>, ()> {
    let Value::Object(opts) = value else {
        return Err(());
    };
    let mut grains = None;
    for (opt, v) in opts {
        match (opt.as_str(), v) {
            ("grains", Value::Object(g)) => {
                grains = Some(g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            ("grains", _) => return Err(()),
            _ => warnings.push(format!(
                "{at}: `{id}`: `minion_opts: {opt}` is ignored: halite runs no minion"
            )),
        }
    }
    Ok(grains)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// halite's hosts from tests/compat/salt/roster match what Salt's flat
    /// roster module made of it (tests/compat/gen_salt_roster.py), with
    /// salt-ssh's defaults where a target says nothing. salt-ssh uses
    /// `sudo_user` only with `sudo` (its shell wrapper), as halite does.
    #[test]
    fn reads_like_salt() {
        let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
        let salt: Value = serde_json::from_str(
            &std::fs::read_to_string(compat.join("salt_roster.json")).unwrap(),
        )
        .unwrap();
        let inv = crate::inventory::Inventory::load(&compat.join("salt/roster")).unwrap();
        let targets = salt["targets"].as_object().unwrap();
        let ids: Vec<&String> = inv.hosts.keys().collect();
        let mut want: Vec<&String> = targets.keys().collect();
        want.sort();
        assert_eq!(ids, want);
        let d = &salt["defaults"];
        for (id, t) in targets {
            let h = &inv.hosts[id];
            let or = |key: &str| t.get(key).unwrap_or(&d[key]).clone();
            assert_eq!(h.host, t["host"].as_str().unwrap(), "{id}");
            assert_eq!(Value::from(h.port), or("port"), "{id}");
            assert_eq!(Value::from(h.user.clone()), or("user"), "{id}");
            assert_eq!(Value::from(h.sudo), or("sudo"), "{id}");
            let sudo_user = t.get("sudo_user").filter(|_| h.sudo).cloned();
            assert_eq!(h.sudo_user.clone().map(Value::from), sudo_user, "{id}");
            let identity = h
                .identity
                .as_ref()
                .map(|p| Value::from(p.display().to_string()));
            assert_eq!(identity, t.get("priv").cloned(), "{id}");
            if let Some(timeout) = t.get("timeout") {
                assert_eq!(Value::from(h.connect_timeout.as_secs()), *timeout, "{id}");
            }
            let grains = t.pointer("/minion_opts/grains").cloned();
            assert_eq!(
                grains.unwrap_or(Value::Object(Default::default())),
                h.grains,
                "{id}"
            );
        }
    }

    #[test]
    fn roster_keys_map_warn_or_fail() {
        let path = Path::new("/etc/salt/roster");
        let p = parse("a:\n  sudo: yes\nb:\n  sudo: Off\n", path).unwrap();
        assert_eq!(
            p.hosts[0].spec.sudo,
            Some(true),
            "YAML 1.1, as Salt reads it"
        );
        assert_eq!(p.hosts[1].spec.sudo, Some(false));
        let p = parse(
            "web1:\n  host: 192.0.2.1\n  user: deploy\n  port: 2222\n  priv: /k\n  sudo: True\n  timeout: 5\n  passwd: x\n  tty: true\n  minion_opts:\n    grains: {role: web}\n    log_level: debug\nweb2: 192.0.2.2\n",
            path,
        )
        .unwrap();
        let w1 = &p.hosts.iter().find(|e| e.id == "web1").unwrap().spec;
        assert_eq!(w1.host.as_deref(), Some("192.0.2.1"));
        assert_eq!(w1.port, Some(2222));
        assert_eq!(w1.user.as_deref(), Some("deploy"));
        assert_eq!(w1.identity.as_deref(), Some("/k"));
        assert_eq!(w1.sudo, Some(true));
        assert_eq!(w1.connect_timeout, Some(5.0));
        assert_eq!(w1.grains.as_ref().unwrap()["role"], "web");
        let w2 = &p.hosts.iter().find(|e| e.id == "web2").unwrap().spec;
        assert_eq!(w2.host.as_deref(), Some("192.0.2.2"));
        let w = p.warnings.join("\n");
        for key in ["`passwd`", "`tty`", "minion_opts: log_level"] {
            assert!(w.contains(key), "{key}: {w}");
        }
        assert!(
            w.contains("/etc/salt/roster:8: `web1`: `passwd` is ignored"),
            "{w}"
        );
        let e = parse("a:\n  host: x\n  ssh_options: ['ProxyJump=b']\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/salt/roster:3") && e.contains("ssh_options"),
            "{e}"
        );
        let e = parse("a:\n  hots: x\n", path).unwrap_err().to_string();
        assert!(e.contains("unknown roster key `hots`"), "{e}");
        let e = parse("{% for i in range(3) %}\n", path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Jinja"), "{e}");
    }
}
