//! The init system backends (systemd, OpenRC, sysvinit) behind one enum,
//! chosen from the host's `init` grain, so the `service.*` states and
//! execution functions say once what they do and each backend file says
//! how. Every backend's probe prints what its own parser reads and yields
//! the same [`super::systemd::UnitState`]; every apply step is announced with `@@step`.

use super::systemd::{self, ProbeRead};
use super::{openrc, sysvinit};
use crate::transport::quote::quote;
use crate::Value;

/// An init system halite drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitBackend {
    Systemd,
    OpenRc,
    SysVinit,
}

/// An `init` grain halite has no backend for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("init system {0} is not supported yet (systemd, openrc and sysvinit are)")]
pub struct Unsupported(pub String);

impl InitBackend {
    /// From the host's `init` grain. Without grains (a state built for
    /// prune, a test) systemd is assumed: its check still names the host's
    /// real init system if systemd is not PID 1.
    pub fn from_grains(grains: Option<&Value>) -> Result<InitBackend, Unsupported> {
        match grains.and_then(|g| g.get("init")).and_then(Value::as_str) {
            None | Some("systemd") => Ok(InitBackend::Systemd),
            Some("openrc") => Ok(InitBackend::OpenRc),
            Some("sysvinit") => Ok(InitBackend::SysVinit),
            Some(other) => Err(Unsupported(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InitBackend::Systemd => "systemd",
            InitBackend::OpenRc => "openrc",
            InitBackend::SysVinit => "sysvinit",
        }
    }

    /// The tool whose exit status a control command reports.
    pub fn tool(self) -> &'static str {
        match self {
            InitBackend::Systemd => "systemctl",
            InitBackend::OpenRc => "rc-service",
            InitBackend::SysVinit => "service",
        }
    }

    /// The message for a host whose check answered `@@unsupported FOUND`.
    pub fn host_has(self, found: &str) -> String {
        match found {
            "systemd" | "openrc" | "sysvinit" => format!(
                "this host runs {found}, not {}: its `init` grain is missing or stale (refresh the grains)",
                self.name()
            ),
            other => Unsupported(other.to_string()).to_string(),
        }
    }

    /// A state's read-only probe of service `name`.
    pub fn probe(self, name: &str) -> String {
        match self {
            InitBackend::Systemd => systemd::probe(name),
            InitBackend::OpenRc => openrc::probe(name),
            InitBackend::SysVinit => sysvinit::probe(name),
        }
    }

    /// What [`Self::probe`] printed, read.
    pub fn read_probe(self, text: &str, name: &str) -> ProbeRead {
        match self {
            InitBackend::Systemd => systemd::read_probe(text),
            InitBackend::OpenRc => openrc::read_probe(text, name),
            InitBackend::SysVinit => sysvinit::read_probe(text, name),
        }
    }

    /// One apply step (`start`, `stop`, `enable`, `disable`) of `name`,
    /// announced with `@@step`; the script exits on failure.
    pub fn step(self, verb: &str, name: &str) -> String {
        let cmd = match self {
            InitBackend::Systemd => return systemd::step(verb, name),
            InitBackend::OpenRc => openrc::command(verb, name),
            InitBackend::SysVinit => sysvinit::command(verb, name),
        };
        format!(
            "printf '@@step %s\\n' {}\n{cmd} || exit \"$?\"\n",
            quote(verb)
        )
    }

    /// The command for `verb` (`start`, `stop`, `restart`, `reload`,
    /// `enable`, `disable`, and `status` but for systemd) of `name`.
    pub fn command(self, verb: &str, name: &str) -> String {
        match self {
            InitBackend::Systemd => systemd::control(verb, name, false),
            InitBackend::OpenRc => openrc::command(verb, name),
            InitBackend::SysVinit => sysvinit::command(verb, name),
        }
    }

    /// An execution function's script: the host check, then `body`.
    pub fn script(self, body: &str) -> String {
        match self {
            InitBackend::Systemd => format!("{}{body}\n", systemd::CHECK),
            InitBackend::OpenRc => openrc::script(body),
            InitBackend::SysVinit => sysvinit::script(body),
        }
    }

    /// A script printing every service's name (`service.get_all`), read
    /// by [`Self::read_list`]; systemd's is [`systemd::LIST_SERVICES`].
    pub fn list(self) -> String {
        match self {
            InitBackend::Systemd => systemd::LIST_SERVICES.to_string(),
            InitBackend::OpenRc => openrc::LIST.to_string(),
            InitBackend::SysVinit => sysvinit::list(),
        }
    }

    /// The sorted names [`Self::list`] printed (OpenRC and sysvinit).
    pub fn read_list(self, text: &str) -> Vec<String> {
        let mut names = match self {
            InitBackend::SysVinit => sysvinit::all_services(text),
            _ => openrc::runlevels(text)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
        };
        names.sort();
        names.dedup();
        names
    }

    /// Salt's `mod_watch` for a running service: restart (or reload) it
    /// when it runs, else start it.
    pub fn watch_running(self, name: &str, reload: bool) -> String {
        if self == InitBackend::Systemd {
            return systemd::watch_running(name, reload);
        }
        format!(
            "if {} >/dev/null 2>&1; then\n\t{}\nelse\n\t{}\nfi\n",
            self.command("status", name),
            self.command(if reload { "reload" } else { "restart" }, name),
            self.command("start", name)
        )
    }

    /// Salt's `mod_watch` for a dead service: stop it if it runs.
    pub fn watch_dead(self, name: &str) -> String {
        if self == InitBackend::Systemd {
            return systemd::watch_dead(name);
        }
        format!(
            "if {} >/dev/null 2>&1; then\n\t{}\nfi\n",
            self.command("status", name),
            self.command("stop", name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backend_from_grains() {
        assert_eq!(InitBackend::from_grains(None), Ok(InitBackend::Systemd));
        let g = |i: &str| json!({ "init": i });
        assert_eq!(
            InitBackend::from_grains(Some(&g("openrc"))),
            Ok(InitBackend::OpenRc)
        );
        assert_eq!(
            InitBackend::from_grains(Some(&g("sysvinit"))),
            Ok(InitBackend::SysVinit)
        );
        assert_eq!(
            InitBackend::from_grains(Some(&g("runit")))
                .unwrap_err()
                .to_string(),
            "init system runit is not supported yet (systemd, openrc and sysvinit are)"
        );
    }

    #[test]
    fn snippets_are_valid_sh() {
        for b in [InitBackend::OpenRc, InitBackend::SysVinit] {
            for s in [
                b.probe("it's"),
                b.step("disable", "it's"),
                b.watch_running("it's", true),
                b.watch_dead("it's"),
            ] {
                let st = std::process::Command::new("sh")
                    .args(["-n", "-c", &s])
                    .status()
                    .unwrap();
                assert!(st.success(), "{s}");
                assert!(s.contains("'it'\\''s'"), "{s}");
            }
        }
    }

    /// The controller's own PID 1 is named, whatever it is.
    #[test]
    fn detect_names_pid_1() {
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("{}echo \"$h_init\"", super::super::pid1::DETECT),
            ])
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(
            ["systemd", "openrc", "sysvinit", "runit", "s6", "unknown"].contains(&got.trim()),
            "{got}"
        );
    }
}
