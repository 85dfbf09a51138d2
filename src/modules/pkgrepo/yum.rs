//! `pkgrepo.managed` / `pkgrepo.absent` on dnf and yum hosts: a section
//! `[ID]` of a `.repo` file, `/etc/yum.repos.d/ID.repo` unless `file` says
//! otherwise, as Salt's yumpkg writes it. Only the options given are
//! compared and written (`name` from `humanname`, else the id; `baseurl`,
//! `mirrorlist`, `gpgcheck`, `gpgkey`, `enabled`); other sections and other
//! options are kept. The new content is computed on the controller from
//! the probe's copy, so `test=True` shows exactly what changes. When an
//! enabled repository changed, its metadata is fetched (`makecache` for it
//! alone; `refresh: False` skips that): halite's pkg probe reads dnf's
//! cache only, and dnf skips a repository it has no cache of there.
//!
//! `pkgrepo.absent` looks for the section in every `.repo` file of
//! `/etc/yum.repos.d` (as Salt's `pkg.get_repo` does), removes it, and the
//! file once no section is left.

use serde::Deserialize;
use serde_json::json;

use super::{check_path, files, write_file};
use crate::modules::{Applied, Output, Plan, PlanMismatch, StateFunction};
use crate::platform::dnf::Tool;
use crate::platform::report::{markers, message};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

const REPOS_D: &str = "/etc/yum.repos.d";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    humanname: Option<String>,
    baseurl: Option<String>,
    mirrorlist: Option<String>,
    gpgcheck: Option<Value>,
    gpgkey: Option<String>,
    enabled: Option<Value>,
    disabled: Option<Value>,
    file: Option<String>,
    refresh: Option<bool>,
}

#[derive(Debug)]
struct YumRepo {
    /// dnf or yum: which fetches the repository's metadata.
    tool: Tool,
    /// Fetch the metadata of an enabled repository this state changed.
    refresh: bool,
    managed: bool,
    id: String,
    file: String,
    /// The options to set, in the order written.
    options: Vec<(&'static str, String)>,
}

/// A boolean as Salt reads one (`True`, `1`, `"yes"`...): `1` or `0`.
pub(super) fn flag(what: &str, v: &Value) -> Result<&'static str, String> {
    let on = match v {
        Value::Bool(b) => *b,
        Value::Number(n) if n.as_u64() == Some(1) => true,
        Value::Number(n) if n.as_u64() == Some(0) => false,
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(format!("{what} must be true or false, not `{s}`")),
        },
        other => return Err(format!("{what} must be true or false, not `{other}`")),
    };
    Ok(if on { "1" } else { "0" })
}

/// A value written on one `key=value` line.
pub(super) fn one_line(what: &str, v: &str) -> Result<String, String> {
    if v.is_empty() || v.contains(['\n', '\r']) {
        return Err(format!("{what} must be one non-empty line"));
    }
    Ok(v.to_string())
}

pub(super) fn build(
    chunk: &Chunk,
    managed: bool,
    tool: Tool,
) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = crate::modules::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let id = chunk.name.clone();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(err(format!(
            "`{id}` is not a repository id ([A-Za-z0-9_.:-]+)"
        )));
    }
    let file = a
        .file
        .clone()
        .unwrap_or_else(|| format!("{REPOS_D}/{id}.repo"));
    check_path("file", &file).map_err(err)?;
    let mut options = Vec::new();
    if managed {
        if a.baseurl.is_none() && a.mirrorlist.is_none() {
            return Err(err("give baseurl or mirrorlist".into()));
        }
        let enabled = match (&a.enabled, &a.disabled) {
            (Some(_), Some(_)) => {
                return Err(err("Only one of enabled/disabled is allowed".into()))
            }
            (Some(e), None) => flag("enabled", e).map_err(err)?,
            (None, Some(d)) => {
                if flag("disabled", d).map_err(err)? == "1" {
                    "0"
                } else {
                    "1"
                }
            }
            (None, None) => "1",
        };
        let name = a.humanname.clone().unwrap_or_else(|| id.clone());
        options.push(("name", one_line("humanname", &name).map_err(err)?));
        for (k, v) in [("baseurl", &a.baseurl), ("mirrorlist", &a.mirrorlist)] {
            if let Some(v) = v {
                options.push((k, one_line(k, v).map_err(err)?));
            }
        }
        if let Some(g) = &a.gpgcheck {
            options.push(("gpgcheck", flag("gpgcheck", g).map_err(err)?.into()));
        }
        if let Some(k) = &a.gpgkey {
            options.push(("gpgkey", one_line("gpgkey", k).map_err(err)?));
        }
        options.push(("enabled", enabled.into()));
    }
    Ok(Box::new(YumRepo {
        tool,
        refresh: a.refresh.unwrap_or(true),
        managed,
        id,
        file,
        options,
    }))
}

/// The `[id]` section's `key=value` lines of an ini text: (key, value).
pub(super) fn section(text: &str, id: &str) -> Option<Vec<(String, String)>> {
    let mut inside = false;
    let mut found = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            inside = &t[1..t.len() - 1] == id;
            if inside {
                found = Some(Vec::new());
            }
        } else if inside {
            if let Some((k, v)) = t.split_once('=') {
                if let Some(f) = found.as_mut() {
                    f.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
    }
    found
}

/// `text` with section `[id]` given `options` (replacing the same keys,
/// adding the others at its end), or a new section at the end.
fn with_options(text: &str, id: &str, options: &[(&str, String)]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut inside = false;
    let mut seen = false;
    let mut done: Vec<&str> = Vec::new();
    let flush = |out: &mut Vec<String>, done: &[&str]| {
        // insert before the section's trailing blank lines
        let at = out.len() - out.iter().rev().take_while(|l| l.trim().is_empty()).count();
        let add: Vec<String> = options
            .iter()
            .filter(|(k, _)| !done.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.splice(at..at, add);
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            if inside {
                flush(&mut out, &done);
            }
            inside = &t[1..t.len() - 1] == id;
            seen |= inside;
        } else if inside {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim();
                if let Some((key, v)) = options.iter().find(|(o, _)| *o == k) {
                    if !done.contains(key) {
                        out.push(format!("{key}={v}"));
                        done.push(key);
                    }
                    continue;
                }
            }
        }
        out.push(line.to_string());
    }
    if inside {
        flush(&mut out, &done);
    }
    if !seen {
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(format!("[{id}]"));
        out.extend(options.iter().map(|(k, v)| format!("{k}={v}")));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// `text` without section `[id]`; `None` when no section is left.
fn without(text: &str, id: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut sections = 0;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            inside = &t[1..t.len() - 1] == id;
            if !inside {
                sections += 1;
            }
        }
        if !inside {
            out.push(line);
        }
    }
    (sections > 0).then(|| format!("{}\n", out.join("\n").trim_end()))
}

/// What apply writes: each file's new content, or `None` to remove it.
#[derive(Debug, PartialEq)]
struct Todo(Vec<(String, Option<String>)>);

impl YumRepo {
    fn function(&self) -> &'static str {
        if self.managed {
            "pkgrepo.managed"
        } else {
            "pkgrepo.absent"
        }
    }

    fn plan_managed(&self, copies: &[(String, String)]) -> Plan {
        let old = copies
            .iter()
            .find(|(p, _)| *p == self.file)
            .map(|(_, c)| c.as_str());
        let id = &self.id;
        let todo = |content: String| Todo(vec![(self.file.clone(), Some(content))]);
        let test = format!("Package repo '{id}' would be configured. This may cause pkg states to behave differently than stated if this action is repeated without test=True, due to the differences in the configured repositories.");
        let Some(have) = old.and_then(|t| section(t, id)) else {
            let content = with_options(old.unwrap_or(""), id, &self.options);
            return Plan::change(json!({"repo": id}), test).with_data(todo(content));
        };
        let mut changes = serde_json::Map::new();
        for (k, v) in &self.options {
            let was = have.iter().find(|(h, _)| h == k).map(|(_, v)| v.as_str());
            // dnf reads a missing `enabled` as enabled.
            let same = match (*k, was) {
                ("enabled" | "gpgcheck", Some(w)) => flag(k, &json!(w)).ok() == Some(v.as_str()),
                ("enabled", None) => v == "1",
                (_, w) => w == Some(v.as_str()),
            };
            if !same {
                changes.insert((*k).into(), json!({"old": was, "new": v}));
            }
        }
        if changes.is_empty() {
            return Plan::noop(format!("Package repo '{id}' already configured"));
        }
        let content = with_options(old.unwrap_or(""), id, &self.options);
        Plan::change(Value::Object(changes), test).with_data(todo(content))
    }

    fn plan_absent(&self, copies: &[(String, String)]) -> Plan {
        let id = &self.id;
        let edits: Vec<(String, Option<String>)> = copies
            .iter()
            .filter(|(_, c)| section(c, id).is_some())
            .map(|(p, c)| (p.clone(), without(c, id)))
            .collect();
        if edits.is_empty() {
            return Plan::noop(format!("Package repo {id} is absent"));
        }
        Plan::change(
            json!({"repo": id}),
            format!("Package repo '{id}' will be removed. This may cause pkg states to behave differently than stated if this action is repeated without test=True, due to the differences in the configured repositories."),
        )
        .with_data(Todo(edits))
    }
}

impl StateFunction for YumRepo {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        if self.managed {
            crate::modules::Managed::present("file", &self.file)
        } else {
            Vec::new()
        }
    }

    fn probe(&self) -> String {
        let show = "\t[ -f \"$h_f\" ] || continue\n\tprintf '@@file %s\\n' \"$h_f\"; base64 < \"$h_f\"; printf '@@endfile\\n'\n";
        let mut s = String::from(
            "if ! command -v dnf >/dev/null 2>&1 && ! command -v yum >/dev/null 2>&1; then\n\
             \tprintf '@@unsupported %s\\n' \"$(command -v apt-get zypper apk pacman 2>/dev/null | head -n 1)\"\n\
             \texit 1\n\
             fi\n",
        );
        if self.managed {
            s.push_str(&format!(
                "for h_f in {}; do\n{show}done\n",
                quote(&self.file)
            ));
        } else {
            s.push_str(&format!("for h_f in {REPOS_D}/*.repo; do\n{show}done\n"));
        }
        s.push_str("printf '@@end\\n'\n");
        s
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let f = self.function();
        let m = markers(facts.text);
        if let Some(pm) = m.get("unsupported") {
            return Err(format!(
                "{f}: this host has no dnf or yum ({}): its `pkg_manager` grain is stale (refresh the grains)",
                pm.trim()
            ));
        }
        if !m.contains_key("end") {
            return Err(format!(
                "{f}: the probe did not complete: {}",
                facts.text.trim()
            ));
        }
        let copies = files(facts.text).map_err(|e| format!("{f}: {e}"))?;
        Ok(if self.managed {
            self.plan_managed(&copies)
        } else {
            self.plan_absent(&copies)
        })
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let Todo(edits) = plan.data::<Todo>()?;
        let mut s = String::new();
        for (path, edit) in edits {
            match edit {
                Some(content) => s.push_str(&write_file(path, content.as_bytes(), "644")),
                None => s.push_str(&format!("rm -f -- {} || exit\n", quote(path))),
            }
        }
        let enabled = self
            .options
            .iter()
            .any(|(k, v)| *k == "enabled" && v == "1");
        if self.managed && self.refresh && enabled {
            s.push_str(&format!(
                "printf '@@refresh\\n'\n{} -q -y makecache --disablerepo='*' --enablerepo={} </dev/null || {{ h_rc=$?; printf '@@refresh_failed\\n'; exit \"$h_rc\"; }}\n",
                self.tool.name(),
                quote(&self.id)
            ));
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Todo>() {
            return e.into();
        }
        finish_repo(plan, out, &self.id, self.managed)
    }
}

/// Salt's outcome of a repository state on dnf/yum or zypper: `name` the
/// repository's id or alias; a repository written whose metadata could
/// not be fetched keeps its changes and says so. (The caller has checked
/// the plan's data is its own.)
pub(super) fn finish_repo(plan: &Plan, out: Output, name: &str, managed: bool) -> Applied {
    if out.rc != 0 {
        let written = markers(out.text).contains_key("refresh_failed");
        return Applied {
            result: false,
            changes: if written {
                plan.changes.clone()
            } else {
                serde_json::Map::new()
            },
            comment: if written {
                format!(
                    "Configured package repo '{name}', but fetching its metadata failed: {}",
                    message(out.text)
                )
            } else if managed {
                format!("Failed to configure repo '{name}': {}", message(out.text))
            } else {
                format!("Failed to remove repo {name}: {}", message(out.text))
            },
        };
    }
    Applied {
        result: true,
        changes: plan.changes.clone(),
        comment: if managed {
            format!("Configured package repo '{name}'")
        } else {
            format!("Removed repo {name}")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("pkgrepo", function, name, args)
        };
        build(&chunk, function == "managed", Tool::Dnf)
    }

    fn probe_out(files: &[(&str, &str)]) -> String {
        let mut s = String::new();
        for (p, c) in files {
            s.push_str(&format!(
                "@@file {p}\n{}\n@@endfile\n",
                data_encoding::BASE64.encode(c.as_bytes())
            ));
        }
        s.push_str("@@end\n");
        s
    }

    fn plan(s: &dyn StateFunction, text: &str) -> Plan {
        s.plan(Output { text, rc: 0 }).unwrap()
    }

    const LOCAL: &str = "[local]\nname=local\nbaseurl=file:///srv/repo\ngpgcheck=0\nenabled=1\n";

    #[test]
    fn managed_writes_a_section_and_compares_only_what_is_given() {
        let s = make(
            "managed",
            "local",
            json!({"baseurl": "file:///srv/repo", "gpgcheck": false}),
        )
        .unwrap();
        let p = plan(&*s, &probe_out(&[]));
        assert_eq!(Value::Object(p.changes.clone()), json!({"repo": "local"}));
        let Todo(edits) = p.data::<Todo>().unwrap();
        assert_eq!(
            edits,
            &[(
                "/etc/yum.repos.d/local.repo".to_string(),
                Some(LOCAL.to_string())
            )]
        );
        assert!(p
            .comment
            .starts_with("Package repo 'local' would be configured."));
        // As written: nothing to do; `gpgcheck: 0` and `enabled` left out agree.
        assert!(plan(&*s, &probe_out(&[("/etc/yum.repos.d/local.repo", LOCAL)])).is_noop());
        let loose = "[local]\nbaseurl = file:///srv/repo\ngpgcheck=False\nname=local\n";
        assert!(plan(&*s, &probe_out(&[("/etc/yum.repos.d/local.repo", loose)])).is_noop());
        // A changed key is replaced in place; other sections and keys stay.
        let s = make(
            "managed",
            "local",
            json!({"baseurl": "file:///srv/repo2", "gpgkey": "file:///etc/pki/k", "gpgcheck": true, "humanname": "Local"}),
        )
        .unwrap();
        let old = format!("# mine\n[other]\nname=o\nbaseurl=x\n\n{LOCAL}priority=5\n");
        let p = plan(&*s, &probe_out(&[("/etc/yum.repos.d/local.repo", &old)]));
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({
                "name": {"old": "local", "new": "Local"},
                "baseurl": {"old": "file:///srv/repo", "new": "file:///srv/repo2"},
                "gpgcheck": {"old": "0", "new": "1"},
                "gpgkey": {"old": null, "new": "file:///etc/pki/k"}
            })
        );
        let Todo(edits) = p.data::<Todo>().unwrap();
        assert_eq!(
            edits[0].1.as_deref().unwrap(),
            "# mine\n[other]\nname=o\nbaseurl=x\n\n[local]\nname=Local\nbaseurl=file:///srv/repo2\ngpgcheck=1\nenabled=1\npriority=5\ngpgkey=file:///etc/pki/k\n"
        );
        let apply = s.apply(&p).unwrap();
        assert!(
            apply.contains("dnf -q -y makecache --disablerepo='*' --enablerepo=local"),
            "{apply}"
        );
        let a = s.finish(&p, Output { text: "", rc: 0 });
        assert!(a.result && a.comment == "Configured package repo 'local'");
        let a = s.finish(
            &p,
            Output {
                text: "@@refresh\nError: Failed to download metadata for repo 'local'\n@@refresh_failed\n",
                rc: 1,
            },
        );
        assert!(!a.result && !a.changes.is_empty(), "{a:?}");
        assert!(a
            .comment
            .ends_with("Error: Failed to download metadata for repo 'local'"));
    }

    #[test]
    fn absent_removes_the_section_then_the_file() {
        let s = make("absent", "local", json!({})).unwrap();
        let two = format!("{LOCAL}\n[other]\nname=o\nbaseurl=x\n");
        let p = plan(
            &*s,
            &probe_out(&[
                ("/etc/yum.repos.d/a.repo", LOCAL),
                ("/etc/yum.repos.d/b.repo", &two),
                ("/etc/yum.repos.d/c.repo", "[c]\nbaseurl=y\n"),
            ]),
        );
        assert_eq!(Value::Object(p.changes.clone()), json!({"repo": "local"}));
        let Todo(edits) = p.data::<Todo>().unwrap();
        assert_eq!(
            edits,
            &[
                ("/etc/yum.repos.d/a.repo".to_string(), None),
                (
                    "/etc/yum.repos.d/b.repo".to_string(),
                    Some("[other]\nname=o\nbaseurl=x\n".to_string())
                ),
            ]
        );
        let apply = s.apply(&p).unwrap();
        assert!(
            apply.contains("rm -f -- /etc/yum.repos.d/a.repo"),
            "{apply}"
        );
        assert!(plan(&*s, &probe_out(&[("/etc/yum.repos.d/c.repo", "[c]\n")])).is_noop());
    }

    #[test]
    fn arguments_are_checked() {
        assert!(make("managed", "local", json!({}))
            .unwrap_err()
            .contains("baseurl or mirrorlist"));
        assert!(make("managed", "a/b", json!({"baseurl": "x"})).is_err());
        assert!(make("managed", "l", json!({"baseurl": "x\ny"})).is_err());
        assert!(make(
            "managed",
            "l",
            json!({"baseurl": "x", "enabled": true, "disabled": false})
        )
        .unwrap_err()
        .contains("Only one of enabled/disabled"));
        assert!(make("managed", "l", json!({"baseurl": "x", "gpgcheck": "maybe"})).is_err());
        assert!(make("managed", "l", json!({"baseurl": "x", "dist": "y"}))
            .unwrap_err()
            .contains("unknown field `dist`"));
        let s = make("managed", "l", json!({"baseurl": "x", "disabled": true})).unwrap();
        let p = plan(&*s, &probe_out(&[]));
        let Todo(edits) = p.data::<Todo>().unwrap();
        assert!(edits[0].1.as_deref().unwrap().ends_with("enabled=0\n"));
    }

    /// Against real dnf in the container of `modules::pkg`'s dnf test:
    /// the repository written is one dnf uses, and absent takes it away.
    #[test]
    #[ignore = "needs a podman container with dnf named in HALITE_TEST_CONTAINER"]
    fn yum_repo_converges_in_a_container() {
        let sh = |script: &str| crate::testing::container_sh(&format!("(\n{script}\n) 2>&1"));
        sh("rm -f /etc/yum.repos.d/halite-t.repo");
        for (function, args) in [
            (
                "managed",
                json!({"baseurl": "file:///srv/repo", "gpgcheck": false, "humanname": "halite test"}),
            ),
            (
                "managed",
                json!({"baseurl": "file:///srv/repo", "gpgcheck": false, "enabled": false}),
            ),
            ("absent", json!({})),
        ] {
            let s = make(function, "halite-t", args.clone()).unwrap();
            let p = plan(&*s, &sh(&s.probe()));
            assert!(!p.is_noop(), "{function} {args}");
            let out = sh(&format!(
                "(\n{}\n)\necho \"@@exit $?\"",
                s.apply(&p).unwrap()
            ));
            let a = s.finish(
                &p,
                Output {
                    text: &out,
                    rc: if out.contains("@@exit 0") { 0 } else { 1 },
                },
            );
            assert!(a.result, "{a:?}");
            assert!(plan(&*s, &sh(&s.probe())).is_noop(), "{function} {args}");
            let listed = sh("dnf -q repolist --all 2>/dev/null");
            let line = listed
                .lines()
                .find(|l| l.starts_with("halite-t "))
                .unwrap_or("");
            match (function, args.get("enabled")) {
                ("managed", None) => assert!(
                    line.contains("halite test") && line.ends_with("enabled"),
                    "{listed}"
                ),
                ("managed", Some(_)) => assert!(line.ends_with("disabled"), "{listed}"),
                _ => assert!(line.is_empty(), "{listed}"),
            }
        }
    }
}
