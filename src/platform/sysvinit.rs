//! sysvinit (Debian's sysvinit-core with insserv): the probe of one
//! service (its /etc/init.d script, `service NAME status`, the current
//! runlevel and the start links of rcS.d and that runlevel's rc?.d), the
//! parser of what that probe prints, and the apply snippets (`service` for
//! start, stop, restart and reload; insserv and update-rc.d for enable and
//! disable). Shared by the `service.*` execution functions and the
//! `service.*` states through [`super::init::InitBackend`].
//!
//! Salt's semantics (its debian_service module): available means a script
//! in /etc/init.d (README aside) or a start link; enabled means an `S` link
//! named after it in /etc/rcS.d or /etc/rc<current runlevel>.d (`runlevel`
//! saying `unknown` counts as 2), the name being what follows the link's
//! last run of digits; running means `service NAME status` exits 0.
//! `enable` is `insserv NAME && update-rc.d NAME enable` (insserv makes the
//! links of a script that has none), `disable` is `update-rc.d NAME
//! disable` (the S links become K links). chkconfig (RHEL's sysvinit) is
//! not driven: the fleet has no host to test it on.

use super::systemd::{ProbeRead, UnitState};
use crate::transport::quote::quote;

/// The host check: PID 1 is sysvinit's (see [`super::pid1::DETECT`]).
fn check() -> String {
    format!(
        "{}if [ \"$h_init\" != sysvinit ]; then printf '@@unsupported %s\\n' \"$h_init\"; exit 1; fi\n",
        super::pid1::DETECT
    )
}

/// Prints `@@runlevel` with `runlevel`'s answer and `@@links` with the
/// start links that count (see the module doc), one a line.
const LINKS: &str = r#"h_rl=$(runlevel 2>/dev/null)
printf '@@runlevel %s\n' "$h_rl"
case $h_rl in *unknown* | '') h_rl=2 ;; *) h_rl=${h_rl##* } ;; esac
printf '@@links\n'
for h_f in /etc/rcS.d/S* /etc/rc"$h_rl".d/S*; do [ -e "$h_f" ] || [ -L "$h_f" ] && printf '%s\n' "${h_f##*/}"; done
"#;

/// A state's probe of service `name`: `@@exists 0|1`, `@@status RC`,
/// `@@runlevel` and `@@links`. Read by [`read_probe`].
pub fn probe(name: &str) -> String {
    let n = quote(name);
    format!(
        "{}h_x=1; [ -f /etc/init.d/{n} ] && [ {n} != README ] && h_x=0\nprintf '@@exists %s\\n' \"$h_x\"\n\
         service {n} status >/dev/null 2>&1\nprintf '@@status %s\\n' \"$?\"\n{LINKS}printf '@@end\\n'\n",
        check()
    )
}

/// The service a start link starts, by Salt's rule: what follows the
/// link's last run of digits (`S02rc.local` starts `rc.local`).
pub fn link_service(link: &str) -> &str {
    let cut = link
        .rfind(|c: char| c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    &link[cut..]
}

/// The services the `@@links` lines of `text` start.
pub fn enabled_services(text: &str) -> Vec<String> {
    let Some((_, links)) = text.split_once("@@links\n") else {
        return Vec::new();
    };
    links
        .lines()
        .take_while(|l| !l.starts_with("@@"))
        .map(|l| link_service(l.trim()).to_string())
        .collect()
}

/// What [`probe`] printed for service `name`, read.
pub fn read_probe(text: &str, name: &str) -> ProbeRead {
    let markers = super::report::markers(text);
    if let Some(init) = markers.get("unsupported") {
        return ProbeRead::Unsupported(init.trim().to_string());
    }
    let (Some(exists), Some(status)) = (markers.get("exists"), markers.get("status")) else {
        return ProbeRead::Incomplete(super::report::message(text));
    };
    if !text.contains("@@links\n") {
        return ProbeRead::Incomplete(super::report::message(text));
    }
    let enabled = enabled_services(text).iter().any(|s| s == name);
    ProbeRead::State(UnitState {
        active: status.trim() == "0",
        enabled,
        load: if exists.trim() == "0" || enabled {
            "loaded"
        } else {
            "not-found"
        }
        .to_string(),
    })
}

/// The command for `verb` (`start`, `stop`, `restart`, `reload`, `status`,
/// `enable`, `disable`) of `name`, as Salt runs it.
pub fn command(verb: &str, name: &str) -> String {
    let n = quote(name);
    match verb {
        "enable" => format!("insserv {n} && update-rc.d {n} enable"),
        "disable" => format!("update-rc.d {n} disable"),
        _ => format!("service {n} {}", quote(verb)),
    }
}

/// Every script in /etc/init.d and every start link that counts
/// (`service.get_all`): `@@scripts`, then [`LINKS`]'s lines.
pub fn list() -> String {
    format!("printf '@@scripts\\n'\nls -1 /etc/init.d\n{LINKS}")
}

/// `service.get_all`'s names from [`list`]'s output.
pub fn all_services(text: &str) -> Vec<String> {
    let scripts = text
        .split_once("@@scripts\n")
        .map_or("", |(_, s)| s)
        .lines()
        .take_while(|l| !l.starts_with("@@"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "README")
        .map(str::to_string);
    let mut all: Vec<String> = scripts.chain(enabled_services(text)).collect();
    all.sort();
    all.dedup();
    all
}

/// An execution function's script: the host check, then `body`.
pub fn script(body: &str) -> String {
    format!("{}{body}\n", check())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's output for halite-sleep (stopped, not enabled), then
    /// for ssh, as the fleet's `sysv` host printed them
    /// (tests/compat/gen_platform_initsys.sh).
    const PROBE_STOPPED: &str = include_str!("../../tests/compat/platform/sysv-probe-stopped.txt");
    const PROBE_SSH: &str = include_str!("../../tests/compat/platform/sysv-probe-ssh.txt");

    #[test]
    fn reads_the_real_probe() {
        assert_eq!(
            read_probe(PROBE_STOPPED, "halite-sleep"),
            ProbeRead::State(UnitState {
                active: false,
                enabled: false,
                load: "loaded".into()
            })
        );
        assert_eq!(
            read_probe(PROBE_SSH, "ssh"),
            ProbeRead::State(UnitState {
                active: true,
                enabled: true,
                load: "loaded".into()
            })
        );
        let e = enabled_services(PROBE_SSH);
        assert!(e.contains(&"rc.local".to_string()), "{e:?}");
        assert!(e.contains(&"cron".to_string()), "{e:?}");
        assert_eq!(link_service("S01halite-hostkeys"), "halite-hostkeys");
        assert_eq!(
            read_probe("@@unsupported openrc\n", "ssh"),
            ProbeRead::Unsupported("openrc".into())
        );
        assert!(matches!(
            read_probe("@@exists 1\nservice: not found\n", "x"),
            ProbeRead::Incomplete(_)
        ));
    }

    #[test]
    fn snippets_quote_and_parse() {
        for s in [
            probe("it's"),
            command("enable", "it's"),
            command("restart", "it's"),
            list(),
        ] {
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(st.success(), "{s}");
        }
        assert_eq!(
            command("enable", "it's"),
            "insserv 'it'\\''s' && update-rc.d 'it'\\''s' enable"
        );
    }
}
