//! The `service` execution module: query and control services, with Salt's
//! return shapes (booleans, `True` on success, systemctl's message on
//! failure), on systemd, OpenRC and sysvinit: the backend is chosen from
//! the host's `init` grain ([`InitBackend`]). On OpenRC and sysvinit the
//! questions (`status`, `enabled`, `available`) are answered by the same
//! probe and parser as the `service.*` states.
//!
//! The platform check runs on the host, in the same script as the tool:
//! a host whose PID 1 is not the grain's init system answers with an
//! `@@unsupported` marker naming what it runs instead, so no second round
//! trip is ever needed.

use serde_json::json;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::platform::init::InitBackend;
use crate::platform::systemd::{self, ProbeRead};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "service.status",
        doc: "Return True when the service is running (systemctl is-active).",
        parse: |a| parse(a, "service.status", Op::Status),
    },
    Spec {
        name: "service.start",
        doc: "Start a service; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.start", Op::Control("start")),
    },
    Spec {
        name: "service.stop",
        doc: "Stop a service; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.stop", Op::Control("stop")),
    },
    Spec {
        name: "service.restart",
        doc: "Restart a service; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.restart", Op::Control("restart")),
    },
    Spec {
        name: "service.reload",
        doc: "Reload a service's configuration; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.reload", Op::Control("reload")),
    },
    Spec {
        name: "service.enable",
        doc: "Enable a service at boot; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.enable", Op::Control("enable")),
    },
    Spec {
        name: "service.disable",
        doc: "Disable a service at boot; True on success, systemctl's message on failure.",
        parse: |a| parse(a, "service.disable", Op::Control("disable")),
    },
    Spec {
        name: "service.enabled",
        doc: "Return True when the service starts at boot (systemctl is-enabled).",
        parse: |a| parse(a, "service.enabled", Op::Enabled(true)),
    },
    Spec {
        name: "service.disabled",
        doc: "Return True when the service does not start at boot.",
        parse: |a| parse(a, "service.disabled", Op::Enabled(false)),
    },
    Spec {
        name: "service.available",
        doc: "Return True when the host knows the service (its unit exists).",
        parse: |a| parse(a, "service.available", Op::Available(true)),
    },
    Spec {
        name: "service.missing",
        doc: "Return True when the host does not know the service.",
        parse: |a| parse(a, "service.missing", Op::Available(false)),
    },
    Spec {
        name: "service.get_all",
        doc: "Return the sorted names of all services on the host.",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("service.get_all", &[], 0)?;
            Ok(Box::new(Service {
                function: "service.get_all",
                op: Op::GetAll,
                name: String::new(),
                no_block: false,
            }))
        },
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `is-active`.
    Status,
    /// A state change: the systemctl verb.
    Control(&'static str),
    /// `is-enabled`; false asks the opposite question (`service.disabled`).
    Enabled(bool),
    /// The unit's LoadState; false asks the opposite question (`service.missing`).
    Available(bool),
    GetAll,
}

fn parse(args: &Args, f: &'static str, op: Op) -> Result<Box<dyn Function>, ArgError> {
    let control = matches!(op, Op::Control(_));
    args.check(
        f,
        if control {
            &["name", "no_block"]
        } else {
            &["name"]
        },
        1,
    )?;
    let name = args.required(f, 0, "name")?;
    if name.is_empty()
        || name.starts_with('-')
        || name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(ArgError::Invalid {
            function: f,
            message: format!("`{name}` is not a valid service name"),
        });
    }
    Ok(Box::new(Service {
        function: f,
        op,
        name,
        no_block: control && args.flag(f, "no_block", false)?,
    }))
}

#[derive(Debug)]
struct Service {
    function: &'static str,
    op: Op,
    name: String,
    no_block: bool,
}

impl Service {
    fn script(&self, b: InitBackend) -> String {
        if b != InitBackend::Systemd {
            return match self.op {
                Op::Status | Op::Enabled(_) | Op::Available(_) => b.probe(&self.name),
                Op::Control(verb) => b.script(&b.command(verb, &self.name)),
                Op::GetAll => b.script(&b.list()),
            };
        }
        let body = match self.op {
            Op::Status => systemd::is_active(&self.name),
            Op::Control(verb) => systemd::control(verb, &self.name, self.no_block),
            Op::Enabled(_) => systemd::is_enabled(&self.name),
            Op::Available(_) => systemd::load_state(&self.name),
            Op::GetAll => systemd::LIST_SERVICES.to_string(),
        };
        b.script(&body)
    }

    /// OpenRC's and sysvinit's answers: the probe's reading for the
    /// questions, the exit status for the rest.
    fn interpret_other(&self, b: InitBackend, out: &ExecOutput, code: i32) -> Outcome {
        let answer = |v: bool| Outcome::ok(json!(v));
        let state = || match b.read_probe(&out.stdout, &self.name) {
            ProbeRead::State(s) => Ok(s),
            ProbeRead::Unsupported(_) | ProbeRead::Incomplete(_) => Err(Outcome::fail(
                json!(crate::platform::report::message(&format!(
                    "{}\n{}",
                    out.stdout, out.stderr
                ))),
                Some(code),
            )),
        };
        match self.op {
            Op::Status => state().map_or_else(|e| e, |s| answer(s.active)),
            Op::Enabled(want) => state().map_or_else(|e| e, |s| answer(s.enabled == want)),
            Op::Available(want) => {
                state().map_or_else(|e| e, |s| answer((s.load != "not-found") == want))
            }
            Op::Control(_) if code == 0 => Outcome::ok(json!(true)),
            Op::Control(_) => {
                let msg =
                    crate::platform::report::message(&format!("{}\n{}", out.stderr, out.stdout));
                let msg = if msg.is_empty() {
                    format!("{} exited with code {code}", b.tool())
                } else {
                    msg
                };
                Outcome::fail(json!(msg), Some(code))
            }
            Op::GetAll if code == 0 => Outcome::ok(Value::from(b.read_list(&out.stdout))),
            Op::GetAll => Outcome::fail(json!(out.stderr.trim()), Some(code)),
        }
    }
}

/// The backend for this host, from its `init` grain.
fn backend(function: &str, ctx: &HostCtx) -> Result<InitBackend, Outcome> {
    let grains = (!ctx.grains.is_null()).then_some(ctx.grains);
    InitBackend::from_grains(grains)
        .map_err(|e| Outcome::fail(json!(format!("{function}: {e}")), None))
}

impl Function for Service {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend(self.function, ctx).ok()?;
        Some(Command::new(self.script(b)))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend(self.function, ctx) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let Some(out) = out else {
            return Outcome::fail(json!(format!("{}: no script ran", self.function)), None);
        };
        if let Some(init) = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("@@unsupported "))
        {
            return Outcome::fail(
                json!(format!("{}: {}", self.function, b.host_has(init.trim()))),
                out.exit_code,
            );
        }
        let Some(code) = out.exit_code else {
            return Outcome::fail(json!(out.stderr.trim()), None);
        };
        if b != InitBackend::Systemd {
            return self.interpret_other(b, out, code);
        }
        let answer = |b: bool| Outcome {
            success: true,
            ret: json!(b),
            retcode: Some(code),
        };
        match self.op {
            Op::Status => {
                // is-active prints the state on stdout whatever it is; only a
                // failure to ask at all (no bus, no permission) leaves it empty.
                if out.stdout.trim().is_empty() && !out.stderr.trim().is_empty() {
                    return Outcome::fail(json!(out.stderr.trim()), Some(code));
                }
                answer(code == 0)
            }
            Op::Control(_) => {
                if code == 0 {
                    Outcome::ok(json!(true))
                } else {
                    let msg = out.stderr.trim();
                    let msg = if msg.is_empty() {
                        format!("systemctl exited with code {code}")
                    } else {
                        msg.to_string()
                    };
                    Outcome::fail(json!(msg), Some(code))
                }
            }
            // Exit 0 covers enabled, static, alias, indirect... as in Salt.
            Op::Enabled(want) => answer((code == 0) == want),
            Op::Available(want) => {
                let state = out
                    .stdout
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("LoadState="));
                match state {
                    Some(s) if code == 0 => answer((s.trim() != "not-found") == want),
                    _ => Outcome::fail(json!(out.stderr.trim()), Some(code)),
                }
            }
            Op::GetAll => {
                if code != 0 {
                    return Outcome::fail(json!(out.stderr.trim()), Some(code));
                }
                let mut names: Vec<String> = out
                    .stdout
                    .lines()
                    .filter_map(|l| {
                        l.split_whitespace()
                            .find_map(|t| t.strip_suffix(".service"))
                            .map(str::to_string)
                    })
                    .collect();
                names.sort();
                names.dedup();
                Outcome::ok(Value::from(names))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn call(name: &str, words: &[&str]) -> Result<Box<dyn Function>, ArgError> {
        parse_call(name, &Args::from_words(words))
    }

    fn ctx() -> HostCtx<'static> {
        HostCtx {
            id: "h",
            grains: &Value::Null,
        }
    }

    fn interpret(name: &str, words: &[&str], stdout: &str, stderr: &str, code: i32) -> Outcome {
        call(name, words).unwrap().interpret(
            &ctx(),
            Some(&ExecOutput {
                stdout: stdout.into(),
                stderr: stderr.into(),
                exit_code: Some(code),
            }),
        )
    }

    const ALL: &[&str] = &[
        "service.status",
        "service.start",
        "service.stop",
        "service.restart",
        "service.reload",
        "service.enable",
        "service.disable",
        "service.enabled",
        "service.disabled",
        "service.available",
        "service.missing",
    ];

    #[test]
    fn arguments_are_checked() {
        for f in ALL {
            assert!(call(f, &["ssh"]).is_ok(), "{f}");
            assert!(call(f, &["name=ssh.service"]).is_ok(), "{f}");
            assert!(call(f, &[]).is_err(), "{f}");
            assert!(call(f, &["ssh", "cron"]).is_err(), "{f}");
            assert!(call(f, &["--now"]).is_err(), "{f}: option injection");
            assert!(call(f, &["a b"]).is_err(), "{f}");
            assert!(
                matches!(
                    call(f, &["ssh", "bogus=1"]),
                    Err(ArgError::UnknownArg { .. })
                ),
                "{f}"
            );
        }
        assert!(call("service.start", &["ssh", "no_block=True"]).is_ok());
        assert!(matches!(
            call("service.status", &["ssh", "no_block=True"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call("service.get_all", &[]).is_ok());
        assert!(call("service.get_all", &["ssh"]).is_err());
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_the_name() {
        for f in ALL.iter().chain(&["service.get_all"]) {
            let words: &[&str] = if *f == "service.get_all" {
                &[]
            } else {
                &["it's$(x)"]
            };
            let s = call(f, words).unwrap().command(&ctx()).unwrap().script;
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(st.success(), "{f}: {s}");
            if !words.is_empty() {
                assert!(s.contains("-- 'it'\\''s$(x)'"), "{s}");
            }
        }
        let s = call("service.restart", &["nginx", "no_block=True"])
            .unwrap()
            .command(&ctx())
            .unwrap()
            .script;
        assert!(
            s.ends_with("systemctl --no-ask-password --no-block restart -- nginx\n"),
            "{s}"
        );
    }

    #[test]
    fn status_and_enabled_are_booleans() {
        assert_eq!(
            interpret("service.status", &["ssh"], "active\n", "", 0).ret,
            json!(true)
        );
        let o = interpret("service.status", &["ssh"], "inactive\n", "", 3);
        assert!(o.success);
        assert_eq!(o.ret, json!(false));
        assert_eq!(
            interpret("service.status", &["nosuch"], "inactive\n", "", 4).ret,
            json!(false)
        );
        let o = interpret(
            "service.status",
            &["ssh"],
            "",
            "Failed to connect to bus: No such file or directory\n",
            1,
        );
        assert_eq!(
            o,
            Outcome::fail(
                json!("Failed to connect to bus: No such file or directory"),
                Some(1)
            )
        );

        assert_eq!(
            interpret("service.enabled", &["ssh"], "enabled\n", "", 0).ret,
            json!(true)
        );
        assert_eq!(
            interpret("service.enabled", &["dbus"], "static\n", "", 0).ret,
            json!(true)
        );
        assert_eq!(
            interpret("service.enabled", &["ssh"], "disabled\n", "", 1).ret,
            json!(false)
        );
        assert_eq!(
            interpret(
                "service.enabled",
                &["nosuch"],
                "",
                "Failed to get unit file state for nosuch.service: No such file or directory\n",
                1
            )
            .ret,
            json!(false)
        );
        assert_eq!(
            interpret("service.disabled", &["ssh"], "disabled\n", "", 1).ret,
            json!(true)
        );
        assert_eq!(
            interpret("service.disabled", &["ssh"], "enabled\n", "", 0).ret,
            json!(false)
        );
    }

    #[test]
    fn control_returns_true_or_systemctls_message() {
        for f in [
            "service.start",
            "service.stop",
            "service.restart",
            "service.reload",
            "service.enable",
            "service.disable",
        ] {
            let o = interpret(
                f,
                &["ssh"],
                "",
                "Synchronizing state of ssh.service...\n",
                0,
            );
            assert_eq!(o, Outcome::ok(json!(true)), "{f}");
        }
        let msg = "Failed to start nosuch.service: Unit nosuch.service not found.";
        let o = interpret("service.start", &["nosuch"], "", &format!("{msg}\n"), 5);
        assert_eq!(o, Outcome::fail(json!(msg), Some(5)));
        let msg = "Job for broken.service failed because the control process exited with error code.\nSee \"systemctl status broken.service\" and \"journalctl -xeu broken.service\" for details.";
        let o = interpret("service.restart", &["broken"], "", msg, 1);
        assert_eq!(o.ret, json!(msg));
        let o = interpret("service.stop", &["x"], "", "", 1);
        assert_eq!(o.ret, json!("systemctl exited with code 1"));
    }

    #[test]
    fn available_reads_the_load_state() {
        assert_eq!(
            interpret("service.available", &["ssh"], "LoadState=loaded\n", "", 0).ret,
            json!(true)
        );
        assert_eq!(
            interpret(
                "service.available",
                &["masked"],
                "LoadState=masked\n",
                "",
                0
            )
            .ret,
            json!(true)
        );
        assert_eq!(
            interpret(
                "service.available",
                &["nosuch"],
                "LoadState=not-found\n",
                "",
                0
            )
            .ret,
            json!(false)
        );
        assert_eq!(
            interpret(
                "service.missing",
                &["nosuch"],
                "LoadState=not-found\n",
                "",
                0
            )
            .ret,
            json!(true)
        );
        assert!(
            !interpret(
                "service.available",
                &["x"],
                "",
                "Failed to connect to bus\n",
                1
            )
            .success
        );
    }

    #[test]
    fn get_all_lists_units_once() {
        let out = "ssh.service                enabled  enabled\n\
                   getty@.service             enabled  enabled\n\
                   cron.service               enabled  enabled\n\
                   cron.service               loaded active running Regular background program processing daemon\n\
                   ● broken.service           loaded failed failed  Broken\n\
                   getty@tty1.service         loaded active running Getty on tty1\n";
        assert_eq!(
            interpret("service.get_all", &[], out, "", 0),
            Outcome::ok(json!(["broken", "cron", "getty@", "getty@tty1", "ssh"]))
        );
    }

    #[test]
    fn non_systemd_hosts_are_named() {
        let o = interpret("service.start", &["ssh"], "@@unsupported openrc\n", "", 1);
        assert_eq!(
            o,
            Outcome::fail(
                json!("service.start: this host runs openrc, not systemd: its `init` grain is missing or stale (refresh the grains)"),
                Some(1)
            )
        );
        // This controller is itself a host without systemd as PID 1 when it
        // runs in a container; then the real script must say so.
        if !std::path::Path::new("/run/systemd/system").exists() {
            let f = call("service.status", &["ssh"]).unwrap();
            let s = f.command(&ctx()).unwrap().script;
            let out = std::process::Command::new("sh")
                .args(["-c", &s])
                .output()
                .unwrap();
            let o = f.interpret(
                &ctx(),
                Some(&ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.status.code(),
                }),
            );
            assert!(!o.success);
            let msg = o.ret.as_str().unwrap();
            assert!(
                msg.starts_with("service.status: ")
                    && (msg.ends_with("(systemd, openrc and sysvinit are)")
                        || msg.ends_with("(refresh the grains)")),
                "{msg}"
            );
        }
    }

    /// On OpenRC and sysvinit the questions are read from the backend's
    /// probe (canned output of the fleet's hosts), controls from the exit
    /// status with the tool's message.
    #[test]
    fn openrc_and_sysvinit_answers() {
        let openrc = json!({"init": "openrc"});
        let sysv = json!({"init": "sysvinit"});
        let run = |grains: &Value, name: &str, words: &[&str], stdout: &str, stderr: &str, code| {
            let ctx = HostCtx { id: "h", grains };
            let f = call(name, words).unwrap();
            if let Some(c) = f.command(&ctx) {
                assert!(!c.script.contains("systemctl"), "{}", c.script);
            }
            f.interpret(
                &ctx,
                Some(&ExecOutput {
                    stdout: stdout.into(),
                    stderr: stderr.into(),
                    exit_code: Some(code),
                }),
            )
        };
        let show = include_str!("../../tests/compat/platform/openrc-show.txt");
        let probe = format!("@@runlevels\n{show}@@status 0\n@@end\n");
        let r = |g, f, w: &str| run(g, f, &[w], &probe, "", 0).ret;
        assert_eq!(r(&openrc, "service.enabled", "sshd"), json!(true));
        assert_eq!(r(&openrc, "service.enabled", "halite-sleep"), json!(false));
        assert_eq!(r(&openrc, "service.available", "halite-sleep"), json!(true));
        assert_eq!(r(&openrc, "service.missing", "nosuch"), json!(true));
        assert_eq!(r(&openrc, "service.status", "sshd"), json!(true));
        let o = run(
            &openrc,
            "service.start",
            &["nosuch"],
            "",
            " * rc-service: service `nosuch' does not exist\n",
            1,
        );
        assert_eq!(
            o,
            Outcome::fail(
                json!("* rc-service: service `nosuch' does not exist"),
                Some(1)
            )
        );
        let probe = include_str!("../../tests/compat/platform/sysv-probe-ssh.txt");
        assert_eq!(
            run(&sysv, "service.enabled", &["ssh"], probe, "", 0).ret,
            json!(true)
        );
        assert_eq!(
            run(&sysv, "service.status", &["ssh"], probe, "", 0).ret,
            json!(true)
        );
        let o = run(&sysv, "service.stop", &["ssh"], "", "", 1);
        assert_eq!(o.ret, json!("service exited with code 1"));
        let o = run(
            &sysv,
            "service.get_all",
            &[],
            "@@scripts\nREADME\ncron\nssh\n@@runlevel N 2\n@@links\nS01cron\n",
            "",
            0,
        );
        assert_eq!(o.ret, json!(["cron", "ssh"]));
        let o = run(
            &json!({"init": "runit"}),
            "service.status",
            &["ssh"],
            "",
            "",
            0,
        );
        assert!(!o.success);
    }

    /// The systemctl scripts against a real systemd, in a throwaway container:
    /// `HALITE_TEST_CONTAINER=<running podman container> cargo test --lib -- --ignored`
    /// (tests/all.sh runs it on a fleet host).
    /// It adds a unit `halite-test.service` there and removes it again.
    #[test]
    #[ignore = "needs a systemd podman container named in HALITE_TEST_CONTAINER"]
    fn systemd_cycle_in_a_container() {
        let container = std::env::var("HALITE_TEST_CONTAINER")
            .expect("set HALITE_TEST_CONTAINER to a running fleet container (tests/all.sh does)");
        let sh = |script: &str| {
            std::process::Command::new("podman")
                .args(["--runtime", "runc", "exec", &container, "sh", "-c", script])
                .output()
                .unwrap()
        };
        let run = |name: &str, words: &[&str]| {
            let f = call(name, words).unwrap();
            let out = sh(&f.command(&ctx()).unwrap().script);
            f.interpret(
                &ctx(),
                Some(&ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.status.code(),
                }),
            )
        };
        let unit = "halite-test";
        sh("printf '[Service]\\nExecStart=/bin/sleep infinity\\nExecReload=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n' \
            >/etc/systemd/system/halite-test.service && systemctl daemon-reload");
        let yes = Outcome::ok(json!(true));
        let no = |o: Outcome| o.success && o.ret == json!(false);

        assert_eq!(run("service.available", &[unit]), yes);
        assert_eq!(run("service.missing", &["no-such-unit-halite"]), yes);
        assert!(no(run("service.status", &[unit])));
        assert_eq!(run("service.start", &[unit]), yes);
        assert_eq!(run("service.status", &[unit]), yes);
        assert!(no(run("service.enabled", &[unit])));
        assert_eq!(run("service.enable", &[unit]), yes);
        assert_eq!(run("service.enabled", &[unit]), yes);
        assert!(no(run("service.disabled", &[unit])));
        assert_eq!(run("service.reload", &[unit]), yes);
        assert_eq!(run("service.restart", &[unit, "no_block=True"]), yes);
        assert!(run("service.get_all", &[])
            .ret
            .as_array()
            .unwrap()
            .contains(&json!(unit)));
        assert_eq!(run("service.stop", &[unit]), yes);
        assert!(no(run("service.status", &[unit])));
        assert_eq!(run("service.disable", &[unit]), yes);
        assert!(no(run("service.enabled", &[unit])));

        let o = run("service.start", &["no-such-unit-halite"]);
        assert!(!o.success);
        assert!(
            o.ret
                .as_str()
                .unwrap()
                .contains("no-such-unit-halite.service not found"),
            "{o:?}"
        );
        assert!(no(run("service.status", &["no-such-unit-halite"])));
        assert!(no(run("service.enabled", &["no-such-unit-halite"])));

        sh("rm -f /etc/systemd/system/halite-test.service && systemctl daemon-reload");
    }
}
