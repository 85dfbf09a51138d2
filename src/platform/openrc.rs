//! OpenRC: the probe of one service (`rc-update -v show` for the runlevels
//! it is in, `rc-service NAME status` for whether it runs), the parser of
//! what that probe prints, and the apply snippets (rc-service for start,
//! stop, restart and reload; rc-update for enable and disable). Shared by
//! the `service.*` execution functions and the `service.*` states through
//! [`super::init::InitBackend`].
//!
//! Salt's semantics (its gentoo_service module): a service is available
//! when `rc-update -v show` lists it (every script in /etc/init.d), enabled
//! when it is in at least one runlevel, running when `status` exits 0.
//! `enable` adds it to the default runlevel; `disable` removes it from
//! every runlevel it is in (so that it is no longer enabled by that rule).

use super::systemd::{ProbeRead, UnitState};
use crate::transport::quote::quote;

/// The host check: PID 1 is OpenRC's (see [`super::pid1::DETECT`]).
fn check() -> String {
    format!(
        "{}if [ \"$h_init\" != openrc ]; then printf '@@unsupported %s\\n' \"$h_init\"; exit 1; fi\n",
        super::pid1::DETECT
    )
}

/// A state's probe of service `name`: `@@runlevels` and `rc-update -v
/// show`'s lines, then `@@status RC` (rc-service's exit status). Read by
/// [`read_probe`].
pub fn probe(name: &str) -> String {
    let n = quote(name);
    format!(
        "{}printf '@@runlevels\\n'\nrc-update -v show 2>&1\n\
         rc-service {n} status >/dev/null 2>&1\nprintf '@@status %s\\n' \"$?\"\nprintf '@@end\\n'\n",
        check()
    )
}

/// `rc-update -v show`'s lines as (service, runlevels).
pub fn runlevels(lines: &str) -> Vec<(String, Vec<String>)> {
    lines
        .lines()
        .filter_map(|l| {
            let (name, levels) = l.split_once('|')?;
            let name = name.trim();
            (!name.is_empty()).then(|| {
                (
                    name.to_string(),
                    levels.split_whitespace().map(str::to_string).collect(),
                )
            })
        })
        .collect()
}

/// What [`probe`] printed for service `name`, read.
pub fn read_probe(text: &str, name: &str) -> ProbeRead {
    if let Some(init) = text.lines().find_map(|l| l.strip_prefix("@@unsupported ")) {
        return ProbeRead::Unsupported(init.trim().to_string());
    }
    let Some((_, rest)) = text.split_once("@@runlevels\n") else {
        return ProbeRead::Incomplete(super::report::message(text));
    };
    let Some((listing, tail)) = rest.split_once("@@status ") else {
        return ProbeRead::Incomplete(super::report::message(rest));
    };
    let status = tail.lines().next().unwrap_or("").trim();
    let services = runlevels(listing);
    if services.is_empty() || status.is_empty() {
        return ProbeRead::Incomplete(super::report::message(listing));
    }
    let found = services.iter().find(|(n, _)| n == name);
    ProbeRead::State(UnitState {
        active: status == "0",
        enabled: found.is_some_and(|(_, l)| !l.is_empty()),
        load: if found.is_some() {
            "loaded"
        } else {
            "not-found"
        }
        .to_string(),
    })
}

/// The command for `verb` (`start`, `stop`, `restart`, `reload`, `status`,
/// `enable`, `disable`) of `name`.
pub fn command(verb: &str, name: &str) -> String {
    let n = quote(name);
    match verb {
        "enable" => format!("rc-update add {n}"),
        // rc-update's `-a del` fails when the service is missing from any
        // runlevel, so only the runlevels holding it are named.
        "disable" => format!(
            "{{ h_rc=0; for h_d in /etc/runlevels/*/; do [ -e \"$h_d\"{n} ] || [ -L \"$h_d\"{n} ] || continue; h_l=${{h_d%/}}; rc-update del {n} \"${{h_l##*/}}\" || h_rc=$?; done; [ \"$h_rc\" -eq 0 ]; }}"
        ),
        _ => format!("rc-service {n} {}", quote(verb)),
    }
}

/// The names of every service (`service.get_all`): `rc-update -v show`.
pub const LIST: &str = "rc-update -v show";

/// An execution function's script: the host check, then `body`.
pub fn script(body: &str) -> String {
    format!("{}{body}\n", check())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = include_str!("../../tests/compat/platform/openrc-show.txt");

    fn canned(status: u8) -> String {
        format!("@@runlevels\n{SHOW}@@status {status}\n@@end\n")
    }

    /// `rc-update -v show` as OpenRC 0.45 printed it on the fleet's
    /// `openrc` host (tests/compat/gen_platform_initsys.sh).
    #[test]
    fn reads_the_real_listing() {
        let all = runlevels(SHOW);
        let find = |n: &str| all.iter().find(|(s, _)| s == n).map(|(_, l)| l.clone());
        assert_eq!(find("sshd"), Some(vec!["default".to_string()]));
        assert_eq!(find("halite-sleep"), Some(vec![]));
        assert_eq!(find("killprocs"), Some(vec!["recovery".to_string()]));
        assert_eq!(
            read_probe(&canned(0), "sshd"),
            ProbeRead::State(UnitState {
                active: true,
                enabled: true,
                load: "loaded".into()
            })
        );
        assert_eq!(
            read_probe(&canned(3), "halite-sleep"),
            ProbeRead::State(UnitState {
                active: false,
                enabled: false,
                load: "loaded".into()
            })
        );
        assert_eq!(
            read_probe(&canned(1), "nosuch"),
            ProbeRead::State(UnitState {
                active: false,
                enabled: false,
                load: "not-found".into()
            })
        );
        assert_eq!(
            read_probe("@@unsupported systemd\n", "sshd"),
            ProbeRead::Unsupported("systemd".into())
        );
        assert!(matches!(
            read_probe("@@runlevels\nsh: rc-update: not found\n@@status 127\n", "x"),
            ProbeRead::Incomplete(m) if m.contains("not found")
        ));
    }

    #[test]
    fn snippets_quote_and_parse() {
        for s in [
            probe("it's"),
            command("disable", "it's"),
            command("enable", "it's"),
            command("reload", "it's"),
        ] {
            assert!(s.contains("'it'\\''s'"), "{s}");
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(st.success(), "{s}");
        }
    }
}
