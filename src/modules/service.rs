//! `service.running`, `service.dead`, `service.enabled` and
//! `service.disabled` as states, with Salt's decisions, comments and
//! `changes` (`{name: True}` whenever the service was started, stopped,
//! enabled or disabled), on systemd, OpenRC and sysvinit: the backend is
//! chosen from the host's `init` grain ([`InitBackend`]), and its probe,
//! the reading of it and the apply and watch snippets are the backend's
//! (src/platform/{systemd,openrc,sysvinit}.rs).
//!
//! Salt's `mod_watch` is [`StateFunction::watch`]: a running service is
//! restarted (reloaded with `reload: True`) and a stopped one started, decided
//! on the host when the watch fires. As in Salt, which calls `mod_watch` only
//! when the watching state itself changed nothing, a plan with changes gets no
//! watch snippet (`None`): the service was just started, stopped, enabled or
//! disabled by this very state, so it is not restarted a second time.

use serde::Deserialize;
use serde_json::json;

use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, SharedProbe,
    StateFunction,
};
use crate::platform::init::InitBackend;
use crate::platform::systemd::{shared_script, ProbeRead, UnitState};
use crate::state::Chunk;

pub const MODULE: ModuleDef = ModuleDef {
    name: "service",
    functions: &[
        FnDef {
            name: "running",
            doc: "Ensure a service is running (enable: True|False also sets it at boot; reload: True reloads on watch).",
            args: &["enable", "reload"],
            build: |c, x| build(c, x, Kind::Running),
        },
        FnDef {
            name: "dead",
            doc: "Ensure a service is stopped (enable: True|False also sets it at boot).",
            args: &["enable"],
            build: |c, x| build(c, x, Kind::Dead),
        },
        FnDef {
            name: "enabled",
            doc: "Ensure a service starts at boot, without starting or stopping it.",
            args: &[],
            build: |c, x| build(c, x, Kind::Enabled),
        },
        FnDef {
            name: "disabled",
            doc: "Ensure a service does not start at boot, without starting or stopping it.",
            args: &[],
            build: |c, x| build(c, x, Kind::Disabled),
        },
    ],
    ledger: &[LedgerKind {
        kind: "service",
        exists: |w| format!(
            "{{ command -v systemctl >/dev/null 2>&1 && systemctl cat -- {w} >/dev/null 2>&1 || [ -x /etc/init.d/{w} ]; }}"
        ),
        prune: ("dead", |_| serde_json::json!({"enable": false})),
    }],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Running,
    Dead,
    Enabled,
    Disabled,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Args {
    enable: Option<bool>,
    #[serde(default)]
    reload: bool,
}

#[derive(Debug)]
struct Service {
    kind: Kind,
    name: String,
    /// `Some(true)`: enable at boot too; `Some(false)`: disable; `None`: leave.
    enable: Option<bool>,
    reload: bool,
    backend: InitBackend,
    /// The host's `init` grain names an init system halite has no backend
    /// for: the state fails when planned (as Salt's does when it runs),
    /// while `state.show_sls` still shows it.
    unsupported: Option<String>,
}

fn build(chunk: &Chunk, ctx: &BuildCtx, kind: Kind) -> Result<Box<dyn StateFunction>, String> {
    // One argument type serves every function here: each still takes
    // only its own arguments.
    let own = MODULE
        .functions
        .iter()
        .find(|f| f.name == kind.name())
        .map_or(&[][..], |f| f.args);
    if let Some(k) = chunk.args.keys().find(|k| !own.contains(&k.as_str())) {
        return Err(format!(
            "{}: invalid arguments: unknown field `{k}`",
            chunk.describe()
        ));
    }
    let args: Args = super::typed_args(chunk)?;
    let name = &chunk.name;
    if name.is_empty()
        || name.starts_with('-')
        || name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(format!(
            "{}: `{name}` is not a valid service name",
            chunk.describe()
        ));
    }
    let (backend, unsupported) = match InitBackend::from_grains(ctx.renderer.map(|r| r.grains())) {
        Ok(b) => (b, None),
        Err(e) => (InitBackend::Systemd, Some(e.to_string())),
    };
    Ok(Box::new(Service {
        kind,
        backend,
        name: name.clone(),
        enable: match kind {
            Kind::Running | Kind::Dead => args.enable,
            Kind::Enabled => Some(true),
            Kind::Disabled => Some(false),
        },
        reload: args.reload,
        unsupported,
    }))
}

/// The steps a plan takes, in order, and what to say once done.
#[derive(Debug, Default, PartialEq)]
struct Todo {
    /// `start`, `stop`, `enable`, `disable`.
    steps: Vec<String>,
    done: String,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Running => "running",
            Kind::Dead => "dead",
            Kind::Enabled => "enabled",
            Kind::Disabled => "disabled",
        }
    }
}

impl Service {
    fn function(&self) -> &'static str {
        match self.kind {
            Kind::Running => "service.running",
            Kind::Dead => "service.dead",
            Kind::Enabled => "service.enabled",
            Kind::Disabled => "service.disabled",
        }
    }

    fn facts(&self, text: &str) -> Result<UnitState, String> {
        match self.backend.read_probe(text, &self.name) {
            ProbeRead::State(s) => Ok(s),
            ProbeRead::Unsupported(init) => Err(format!(
                "{}: {}",
                self.function(),
                self.backend.host_has(&init)
            )),
            ProbeRead::Incomplete(detail) => Err(format!(
                "{}: cannot read the state of service {}: {detail}",
                self.function(),
                self.name
            )),
        }
    }

    fn decide(&self, f: &UnitState) -> Result<Plan, String> {
        let n = &self.name;
        if f.load == "not-found" {
            let msg = format!("The named service {n} is not available");
            // Salt: nothing to stop or disable is success; the rest fail.
            return match self.kind {
                Kind::Dead | Kind::Disabled => Ok(Plan::noop(msg)),
                Kind::Running | Kind::Enabled => Err(msg),
            };
        }
        let mut steps = Vec::new();
        let mut test = Vec::new();
        match self.kind {
            Kind::Running if !f.active => {
                steps.push("start");
                test.push(format!("Service {n} is set to start"));
            }
            Kind::Dead if f.active => {
                steps.push("stop");
                test.push(format!("Service {n} is set to be killed"));
            }
            _ => {}
        }
        match self.enable {
            Some(true) if !f.enabled => {
                steps.push("enable");
                test.push(format!("Service {n} set to be enabled"));
            }
            Some(false) if f.enabled => {
                steps.push("disable");
                test.push(format!("Service {n} set to be disabled"));
            }
            _ => {}
        }
        let state = match self.kind {
            Kind::Running => "is running",
            Kind::Dead => "is dead",
            Kind::Enabled | Kind::Disabled => "is in the desired state",
        };
        if steps.is_empty() {
            return Ok(Plan::noop(match self.kind {
                Kind::Running => format!("The service {n} is already running"),
                Kind::Dead => format!("The service {n} is already dead"),
                Kind::Enabled => format!("Service {n} is already enabled, and {state}"),
                Kind::Disabled => format!("Service {n} is already disabled, and {state}"),
            }));
        }
        // Salt reports the boot setting last, in place of "Started service x".
        let done = if steps.contains(&"enable") {
            format!("Service {n} has been enabled, and {state}")
        } else if steps.contains(&"disable") {
            format!("Service {n} has been disabled, and {state}")
        } else if steps.contains(&"start") {
            format!("Started service {n}")
        } else {
            format!("Service {n} was killed")
        };
        let todo = Todo {
            steps: steps.iter().map(|s| s.to_string()).collect(),
            done,
        };
        Ok(Plan::change(json!({ n.as_str(): true }), test.join("\n")).with_data(todo))
    }
}

impl StateFunction for Service {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        match self.kind {
            Kind::Running | Kind::Enabled => {
                crate::modules::Managed::present("service", &self.name)
            }
            Kind::Dead | Kind::Disabled => crate::modules::Managed::absent("service", &self.name),
        }
    }

    fn shared_probe(&self) -> Option<SharedProbe> {
        // OpenRC and sysvinit probes are a few cheap commands each.
        (self.backend == InitBackend::Systemd && self.unsupported.is_none()).then(|| SharedProbe {
            key: "service.systemctl",
            arg: self.name.clone(),
            script: shared_script,
        })
    }

    fn probe(&self) -> String {
        if self.unsupported.is_some() {
            return String::new();
        }
        self.backend.probe(&self.name)
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        if let Some(why) = &self.unsupported {
            return Err(why.clone());
        }
        let f = self.facts(facts.text)?;
        self.decide(&f)
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Todo>()?;
        Ok(todo
            .steps
            .iter()
            .map(|step| self.backend.step(step, &self.name))
            .collect())
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let todo = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        if out.rc == 0 {
            return Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: todo.done.clone(),
            };
        }
        let n = &self.name;
        let step = out
            .text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("@@step "))
            .unwrap_or("");
        let msg: Vec<&str> = out
            .text
            .lines()
            .filter(|l| !l.starts_with("@@"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let what = match step {
            "start" => format!("Service {n} failed to start"),
            "stop" => format!("Service {n} failed to die"),
            "enable" => format!("Failed when setting service {n} to start at boot"),
            "disable" => format!("Failed when setting service {n} to not start at boot"),
            _ => format!("Service {n} failed"),
        };
        // Steps before the failing one did happen.
        let changed = todo.steps.first().is_some_and(|s| s != step);
        Applied {
            result: false,
            changes: if changed {
                plan.changes.clone()
            } else {
                serde_json::Map::new()
            },
            comment: if msg.is_empty() {
                format!("{what} (exit {})", out.rc)
            } else {
                format!("{what}: {}", msg.join("\n"))
            },
        }
    }

    fn watch(&self, plan: &Plan) -> Option<String> {
        if !plan.is_noop() {
            return None;
        }
        match self.kind {
            Kind::Running => Some(self.backend.watch_running(&self.name, self.reload)),
            Kind::Dead => Some(self.backend.watch_dead(&self.name)),
            Kind::Enabled | Kind::Disabled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn chunk(function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("service", function, name, args)
        }
    }

    fn make(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let def = super::super::lookup("service", function).unwrap();
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (def.build)(&chunk(function, name, args), &ctx)
    }

    fn f(function: &str, args: Value) -> Box<dyn StateFunction> {
        make(function, "nginx", args).unwrap()
    }

    /// A probe's output for a unit in the given state.
    fn probe(active: bool, enabled: bool, load: &str) -> String {
        format!(
            "@@active {} {}\n@@enabled {} {}\n@@show\nLoadState={load}\n@@end\n",
            if active { "0 active" } else { "3" },
            if active { "" } else { "inactive" },
            if enabled { "0" } else { "1" },
            if enabled { "enabled" } else { "disabled" },
        )
    }

    fn plan(sf: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        sf.plan(Output { text, rc: 0 })
    }

    #[test]
    fn running_starts_enables_or_does_nothing() {
        let s = f("running", json!({}));
        let p = plan(&*s, &probe(false, false, "loaded")).unwrap();
        assert_eq!(Value::Object(p.changes.clone()), json!({"nginx": true}));
        assert_eq!(p.comment, "Service nginx is set to start");
        assert_eq!(
            s.apply(&p).unwrap(),
            "printf '@@step %s\\n' start\nsystemctl --no-ask-password start -- nginx || exit \"$?\"\n"
        );
        assert_eq!(
            s.finish(
                &p,
                Output {
                    text: "@@step start\n",
                    rc: 0
                }
            )
            .comment,
            "Started service nginx"
        );
        assert!(s.watch(&p).is_none(), "just started: no restart on top");

        let p = plan(&*s, &probe(true, false, "loaded")).unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "The service nginx is already running");
        let w = s.watch(&p).unwrap();
        assert!(
            w.contains("restart -- nginx") && w.contains("start -- nginx"),
            "{w}"
        );

        let s = f("running", json!({"enable": true, "reload": true}));
        let p = plan(&*s, &probe(false, false, "loaded")).unwrap();
        assert_eq!(
            p.comment,
            "Service nginx is set to start\nService nginx set to be enabled"
        );
        let a = s.finish(&p, Output { text: "", rc: 0 });
        assert_eq!(a.comment, "Service nginx has been enabled, and is running");
        assert_eq!(Value::Object(a.changes), json!({"nginx": true}));
        let p = plan(&*s, &probe(true, true, "loaded")).unwrap();
        assert!(p.is_noop());
        assert!(s.watch(&p).unwrap().contains("reload -- nginx"));

        let s = f("running", json!({"enable": false}));
        let p = plan(&*s, &probe(true, true, "loaded")).unwrap();
        assert!(s.apply(&p).unwrap().contains("disable -- nginx"));
        assert!(!s.apply(&p).unwrap().contains(" start "));
    }

    #[test]
    fn dead_enabled_disabled() {
        let s = f("dead", json!({"enable": false}));
        let p = plan(&*s, &probe(true, true, "loaded")).unwrap();
        assert_eq!(
            p.comment,
            "Service nginx is set to be killed\nService nginx set to be disabled"
        );
        let a = s.apply(&p).unwrap();
        assert!(
            a.find("stop --").unwrap() < a.find("disable --").unwrap(),
            "{a}"
        );
        assert!(plan(&*s, &probe(false, false, "loaded")).unwrap().is_noop());

        let s = f("enabled", json!({}));
        let p = plan(&*s, &probe(true, false, "loaded")).unwrap();
        assert_eq!(p.comment, "Service nginx set to be enabled");
        assert_eq!(
            s.finish(&p, Output { text: "", rc: 0 }).comment,
            "Service nginx has been enabled, and is in the desired state"
        );
        assert_eq!(
            plan(&*s, &probe(false, true, "loaded")).unwrap().comment,
            "Service nginx is already enabled, and is in the desired state"
        );
        assert!(s.watch(&Plan::noop("")).is_none());
        let s = f("disabled", json!({}));
        assert!(s
            .apply(&plan(&*s, &probe(false, true, "loaded")).unwrap())
            .unwrap()
            .contains("disable -- nginx"));
    }

    #[test]
    fn unknown_unit() {
        for func in ["running", "enabled"] {
            assert_eq!(
                plan(&*f(func, json!({})), &probe(false, false, "not-found")).unwrap_err(),
                "The named service nginx is not available"
            );
        }
        for func in ["dead", "disabled"] {
            let p = plan(&*f(func, json!({})), &probe(false, false, "not-found")).unwrap();
            assert!(p.is_noop());
            assert_eq!(p.comment, "The named service nginx is not available");
        }
    }

    /// An init system with no backend (`runit`) is not a compile error
    /// (`state.show_sls` shows the state, as Salt's does); the state fails
    /// when planned, naming it, and probes nothing.
    #[test]
    fn an_unsupported_init_fails_the_state_not_the_compile() {
        let r =
            crate::render::Renderer::new("/nonexistent", "h", json!({"init": "runit"}), json!({}));
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: Some(&r),
        };
        let def = super::super::lookup("service", "running").unwrap();
        let chunk = crate::modules::user::tests::chunk("service", "running", "cron", json!({}));
        let s = (def.build)(&chunk, &ctx).unwrap();
        assert!(s.probe().is_empty() && s.shared_probe().is_none());
        assert_eq!(
            plan(&*s, "").unwrap_err(),
            "init system runit is not supported yet (systemd, openrc and sysvinit are)"
        );
    }

    #[test]
    fn unsupported_platform_and_unreadable_state() {
        let s = f("running", json!({}));
        assert_eq!(
            plan(&*s, "@@unsupported openrc\n").unwrap_err(),
            "service.running: this host runs openrc, not systemd: its `init` grain is missing or stale (refresh the grains)"
        );
        let e = plan(
            &*s,
            "@@active 1 \n@@enabled 1 \n@@show\nFailed to connect to bus: No such file or directory\n@@end\n",
        )
        .unwrap_err();
        assert!(
            e.ends_with("Failed to connect to bus: No such file or directory"),
            "{e}"
        );
        if !std::path::Path::new("/run/systemd/system").exists() {
            let out = std::process::Command::new("sh")
                .args(["-c", &s.probe()])
                .output()
                .unwrap();
            let e = plan(&*s, &String::from_utf8_lossy(&out.stdout)).unwrap_err();
            assert!(
                e.ends_with("(systemd, openrc and sysvinit are)")
                    || e.ends_with("grain is missing or stale (refresh the grains)"),
                "{e}"
            );
        }
    }

    #[test]
    fn failures_name_the_step() {
        let s = f("running", json!({"enable": true}));
        let p = plan(&*s, &probe(false, false, "loaded")).unwrap();
        let a = s.finish(
            &p,
            Output {
                text: "@@step start\nJob for nginx.service failed.\n",
                rc: 1,
            },
        );
        assert!(!a.result);
        assert_eq!(
            a.comment,
            "Service nginx failed to start: Job for nginx.service failed."
        );
        assert!(a.changes.is_empty());
        let a = s.finish(
            &p,
            Output {
                text: "@@step start\n@@step enable\nFailed to enable unit\n",
                rc: 1,
            },
        );
        assert!(a
            .comment
            .starts_with("Failed when setting service nginx to start at boot"));
        assert_eq!(Value::Object(a.changes), json!({"nginx": true}));
    }

    #[test]
    fn arguments_are_checked() {
        assert!(make("running", "nginx", json!({"enabled": true}))
            .unwrap_err()
            .contains("unknown field `enabled`"));
        assert!(make("running", "nginx", json!({"init_delay": 3})).is_err());
        assert!(make("dead", "nginx", json!({"reload": true})).is_err());
        assert!(make("enabled", "nginx", json!({"enable": true})).is_err());
        assert!(make("running", "nginx", json!({"enable": "yes"})).is_err());
        assert!(make("running", "--now", json!({})).is_err());
        assert!(make("running", "a b", json!({})).is_err());
        assert!(make("running", "nginx.service", json!({"enable": null})).is_ok());
    }

    #[test]
    fn snippets_are_valid_sh_and_quote_the_name() {
        let name = "it's$(x)";
        for func in ["running", "dead", "enabled", "disabled"] {
            let s = make(func, name, json!({})).unwrap();
            let p = Plan::change(json!({name: true}), "").with_data(Todo {
                steps: ["start", "stop", "enable", "disable"]
                    .map(String::from)
                    .to_vec(),
                done: String::new(),
            });
            let mut scripts = vec![s.probe(), s.apply(&p).unwrap()];
            scripts.extend(s.watch(&Plan::noop("")));
            for script in scripts {
                let st = std::process::Command::new("sh")
                    .args(["-n", "-c", &script])
                    .status()
                    .unwrap();
                assert!(st.success(), "{func}: {script}");
                assert!(script.contains("-- 'it'\\''s$(x)'"), "{script}");
            }
        }
    }

    /// Every unit's probe, one after the other in one shell, after the
    /// shared probe when `shared`; their outputs, separated.
    fn probes(units: &[&str], shared: bool) -> String {
        let mut s = String::new();
        if shared {
            let args: Vec<String> = units.iter().map(|u| u.to_string()).collect();
            s.push_str(&shared_script(&args));
        }
        for u in units {
            let f = make("running", u, json!({})).unwrap();
            s.push_str(&format!("(\n{}\n)\necho \"== rc $?\"\n", f.probe()));
        }
        s
    }

    /// The shared probe answers exactly as each unit's own three systemctl
    /// calls, on a real systemd (a fleet host), for units in every state:
    /// `HALITE_TEST_CONTAINER=<fleet container> cargo test --lib -- --ignored`.
    #[test]
    #[ignore = "needs a Debian podman container named in HALITE_TEST_CONTAINER"]
    fn shared_probe_answers_as_the_single_unit_commands_in_a_container() {
        let sh = crate::testing::container_sh;
        sh("systemctl disable --now cron >/dev/null 2>&1; systemctl enable cron >/dev/null 2>&1; systemctl stop cron");
        // active+enabled, alias, stopped+enabled, static, masked, disabled
        // template, instance, missing, invalid name, a path-like name.
        let units = [
            "ssh",
            "sshd",
            "cron",
            "systemd-journald",
            "cryptdisks",
            "debug-shell",
            "getty@tty1",
            "serial-getty@.service",
            "nosuch",
            "cron.service",
        ];
        let slow = sh(&probes(&units, false));
        let fast = sh(&probes(&units, true));
        sh("systemctl start cron");
        assert_eq!(fast, slow);
        assert!(slow.contains("@@active 3 inactive"), "{slow}");
        assert!(slow.contains("LoadState=not-found"), "{slow}");
        // Native units by their own name: the shared show answers all.
        let native = [
            "ssh",
            "cron",
            "systemd-journald",
            "debug-shell",
            "cryptdisks",
        ];
        assert_eq!(sh(&probes(&native, true)), sh(&probes(&native, false)));
        // ... with ONE systemctl call for all (three per unit alone).
        let traced = sh(&format!(
            "rm -f /tmp/h-calls\nsystemctl() {{ echo x >>/tmp/h-calls; command systemctl \"$@\"; }}\n{}\necho \"calls $(wc -l </tmp/h-calls)\"",
            probes(&native, true)
        ));
        assert!(traced.ends_with("calls 1\n"), "{traced}");
    }
}
