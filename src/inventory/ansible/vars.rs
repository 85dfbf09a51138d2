//! What Ansible's connection variables mean in halite. Each `ansible_*`
//! variable is mapped to a halite inventory key, known to need nothing in
//! halite, reported (a warning: ignoring it loses nothing the run depends
//! on, or the host fails on its own, e.g. a password halite does not read),
//! or refused (an error: ignoring it would reach another host or act
//! differently from what the inventory says). Every other variable becomes
//! a static grain, as Ansible users read host and group vars in templates.

use std::collections::BTreeMap;

use super::{Tree, Vars};
use crate::inventory::{ConnectionKind, HostSpec};
use crate::Value;

enum Meaning {
    Host,
    Port,
    User,
    Sudo,
    SudoUser,
    Identity,
    Connection,
    /// `ansible_ssh_common_args` / `ansible_ssh_extra_args`: only a jump
    /// host (`-J`, `-o ProxyJump=`) has a halite meaning (`proxy_jump`).
    SshArgs,
    Timeout,
    BecomeMethod,
    /// Understood; halite needs nothing for it.
    Nothing,
    /// Reported and ignored, with why.
    Warn(&'static str),
    /// Refused, with why.
    Refuse(&'static str),
    /// Not Ansible's: a static grain.
    Grain,
}

const PASSWORD: &str = "halite does not read passwords from an inventory: it logs in with \
                        keys, and a sudo password comes from --ask-sudo-pass, \
                        sudo_password_file or sudo_password_env (halite.yaml)";
const SSH_ARGS: &str = "halite speaks SSH itself and passes no OpenSSH options; \
                        write what they do as inventory keys or in ssh_config";

fn meaning(name: &str) -> Meaning {
    match name {
        "ansible_host" | "ansible_ssh_host" => Meaning::Host,
        "ansible_port" | "ansible_ssh_port" => Meaning::Port,
        "ansible_user" | "ansible_ssh_user" => Meaning::User,
        "ansible_become" | "ansible_sudo" => Meaning::Sudo,
        "ansible_become_user" | "ansible_sudo_user" => Meaning::SudoUser,
        "ansible_ssh_private_key_file" | "ansible_private_key_file" => Meaning::Identity,
        "ansible_connection" => Meaning::Connection,
        "ansible_timeout" | "ansible_ssh_timeout" => Meaning::Timeout,
        "ansible_become_method" => Meaning::BecomeMethod,
        "ansible_python_interpreter"
        | "ansible_pipelining"
        | "ansible_ssh_pipelining"
        | "ansible_group_priority" => Meaning::Nothing,
        "ansible_password"
        | "ansible_ssh_pass"
        | "ansible_ssh_password"
        | "ansible_become_password"
        | "ansible_become_pass"
        | "ansible_sudo_pass"
        | "ansible_sudo_password" => Meaning::Warn(PASSWORD),
        "ansible_ssh_common_args" | "ansible_ssh_extra_args" => Meaning::SshArgs,
        "ansible_ssh_args"
        | "ansible_ssh_executable"
        | "ansible_scp_extra_args"
        | "ansible_sftp_extra_args" => Meaning::Refuse(SSH_ARGS),
        n if n.starts_with("ansible_") => Meaning::Warn("it has no meaning in halite"),
        _ => Meaning::Grain,
    }
}

/// Report each variable halite ignores where it is set, once; refuse the
/// first one halite cannot honour.
pub(super) fn report_definitions(tree: &Tree, warnings: &mut Vec<String>) -> Result<(), String> {
    let groups = tree
        .groups
        .iter()
        .flat_map(|(n, g)| [&g.vars, &g.file_vars].map(|vars| (format!("group `{n}`"), vars)));
    let hosts = tree
        .hosts
        .iter()
        .flat_map(|(n, h)| [&h.vars, &h.file_vars].map(|vars| (format!("host `{n}`"), vars)));
    // One warning per place and variable: `web[01:50] ansible_ssh_pass=x`
    // is one line, not fifty.
    let mut ignored: BTreeMap<(&str, &str), (String, usize, &'static str)> = BTreeMap::new();
    for (owner, vars) in groups.chain(hosts) {
        for (name, (_, place)) in vars {
            match meaning(name) {
                Meaning::Warn(why) => {
                    ignored
                        .entry((place.as_str(), name.as_str()))
                        .or_insert_with(|| (owner.clone(), 0, why))
                        .1 += 1
                }
                Meaning::Refuse(why) => {
                    return Err(format!(
                        "{place}: {owner}: `{name}` cannot be honoured: {why}"
                    ))
                }
                Meaning::SshArgs => {
                    let text = vars[name].0.as_str().unwrap_or_default();
                    if let Err(why) = proxy_jump_of(text) {
                        return Err(format!(
                            "{place}: {owner}: `{name}` cannot be honoured: {why}"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let mut ignored: Vec<_> = ignored.into_iter().collect();
    // In the order written: by file, then line.
    ignored.sort_by_key(|((place, name), _)| (place_order(place), *name));
    for ((place, name), (owner, count, why)) in ignored {
        let more = match count {
            1 => String::new(),
            n => format!(" (and {} more hosts)", n - 1),
        };
        warnings.push(format!(
            "{place}: {owner}{more}: `{name}` is ignored: {why}"
        ));
    }
    Ok(())
}

/// `file:line` sorted by file, then line as a number.
fn place_order(place: &str) -> (&str, usize) {
    place
        .rsplit_once(':')
        .and_then(|(file, line)| Some((file, line.parse().ok()?)))
        .unwrap_or((place, 0))
}

/// The halite settings of host `id` from its merged variables.
pub(super) fn host_spec(id: &str, vars: &Vars) -> Result<HostSpec, String> {
    let mut spec = HostSpec::default();
    let mut grains = BTreeMap::new();
    for (name, (value, place)) in vars {
        let bad =
            |what: &str| format!("{place}: host `{id}`: `{name}` must be {what}, not {value}");
        let text = || match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => Err(format!(
                "{place}: host `{id}`: `{name}` is a Jinja template; halite does not evaluate \
                 templates in inventory variables"
            )),
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(bad("text")),
        };
        match meaning(name) {
            Meaning::Host => spec.host = Some(text()?),
            Meaning::User => spec.user = Some(text()?),
            Meaning::Identity => spec.identity = Some(text()?),
            Meaning::Port => {
                spec.port = Some(
                    text()?
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| bad("a port number"))?,
                )
            }
            Meaning::Timeout => {
                let t: f64 = text()?.parse().map_err(|_| bad("a number of seconds"))?;
                spec.connect_timeout = Some(t);
            }
            Meaning::Sudo => spec.sudo = Some(boolean(value).ok_or_else(|| bad("a boolean"))?),
            Meaning::SudoUser => spec.sudo_user = Some(text()?),
            Meaning::Connection => {
                spec.connection = Some(match text()?.as_str() {
                    "local" | "ansible.builtin.local" => ConnectionKind::Local,
                    "ssh"
                    | "smart"
                    | "paramiko"
                    | "paramiko_ssh"
                    | "ansible.builtin.ssh"
                    | "ansible.builtin.paramiko_ssh" => ConnectionKind::Ssh,
                    other => {
                        return Err(format!(
                            "{place}: host `{id}`: `{name}: {other}` cannot be honoured: \
                             halite connects over SSH or locally only"
                        ))
                    }
                })
            }
            Meaning::BecomeMethod => {
                let method = text()?;
                if !matches!(method.as_str(), "sudo" | "ansible.builtin.sudo") {
                    return Err(format!(
                        "{place}: host `{id}`: `{name}: {method}` cannot be honoured: \
                         halite gains privileges with sudo only"
                    ));
                }
            }
            Meaning::SshArgs => {
                let jump = proxy_jump_of(&text()?).map_err(|why| {
                    format!("{place}: host `{id}`: `{name}` cannot be honoured: {why}")
                })?;
                match (&spec.proxy_jump, jump) {
                    (Some(a), Some(b)) if *a != b => {
                        return Err(format!(
                            "{place}: host `{id}`: `{name}` names jump host `{b}`, another SSH argument variable `{a}`"
                        ))
                    }
                    (_, Some(b)) => spec.proxy_jump = Some(b),
                    (_, None) => {}
                }
            }
            Meaning::Nothing | Meaning::Warn(_) | Meaning::Refuse(_) => {}
            Meaning::Grain => {
                grains.insert(name.clone(), value.clone());
            }
        }
    }
    if !grains.is_empty() {
        spec.grains = Some(grains);
    }
    // As in Ansible, the user to become matters only when becoming.
    if spec.sudo != Some(true) {
        spec.sudo_user = None;
    }
    Ok(spec)
}

/// The jump hosts OpenSSH arguments name: `-J HOPS`, `-JHOPS`,
/// `-o ProxyJump=HOPS`, `-oProxyJump=HOPS`, `-o 'ProxyJump HOPS'` (the
/// keyword in any case). Any other argument has no halite meaning and is
/// refused with why; no argument at all is no jump host.
fn proxy_jump_of(args: &str) -> Result<Option<String>, String> {
    let words = shlex::split(args).ok_or_else(|| format!("`{args}` has unbalanced quotes"))?;
    let mut jump = None;
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let hops = match w.as_str() {
            "-J" | "-o" => {
                let value = words.next().ok_or_else(|| format!("`{w}` needs a value"))?;
                if w == "-J" {
                    value
                } else {
                    proxy_jump_option(&value)?
                }
            }
            _ if w.starts_with("-J") => w[2..].to_string(),
            _ if w.starts_with("-o") => proxy_jump_option(&w[2..])?,
            _ => {
                return Err(format!(
                    "`{w}`: only a jump host (-J HOST, -o ProxyJump=HOST) has a halite meaning; write the rest as inventory keys or in ssh_config"
                ))
            }
        };
        if hops.trim().is_empty() {
            return Err("an empty jump host".into());
        }
        jump = Some(hops);
    }
    Ok(jump)
}

/// The value of `-o ProxyJump=HOPS` / `-o 'ProxyJump HOPS'`.
fn proxy_jump_option(option: &str) -> Result<String, String> {
    let (key, value) = option
        .split_once(['=', ' ', '\t'])
        .map(|(k, v)| (k.trim(), v.trim().trim_start_matches('=').trim()))
        .unwrap_or((option, ""));
    if !key.eq_ignore_ascii_case("proxyjump") {
        return Err(format!(
            "`-o {option}`: only ProxyJump has a halite meaning (proxy_jump); write the rest as inventory keys or in ssh_config"
        ));
    }
    Ok(value.to_string())
}

/// Ansible's `boolean()`: true, yes, on, 1, y, t and their opposites,
/// in any case.
fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
