//! `pkgrepo.managed` / `pkgrepo.absent` on zypper hosts: a repository
//! whose alias is the state's name, read from the `[ALIAS]` sections of
//! /etc/zypp/repos.d/*.repo and changed only through zypper itself (`zypper
//! ar` for a new one, `mr` for its name, gpgcheck and enabled flags, `rr`
//! then `ar` for a new baseurl, `rr` for absent). Only the options given
//! are compared (`name` from `humanname`, else the alias; `baseurl`,
//! `gpgcheck`, `enabled`); zypper's defaults are read as it reads them (a
//! missing `name` is the alias, a missing `enabled` or `gpgcheck` is on,
//! `file:///x` is written `file:/x`). When an enabled repository changed,
//! its metadata is fetched (`zypper refresh ALIAS`; `refresh: False` skips
//! that): halite's pkg probe never refreshes.

use serde::Deserialize;
use serde_json::json;

use super::files;
use super::yum::{finish_repo, flag, one_line, section};
use crate::modules::{Applied, Output, Plan, PlanMismatch, StateFunction};
use crate::platform::report::markers;
use crate::state::Chunk;
use crate::transport::quote::{join, quote};
use crate::Value;

const REPOS_D: &str = "/etc/zypp/repos.d";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    humanname: Option<String>,
    baseurl: Option<String>,
    gpgcheck: Option<Value>,
    enabled: Option<Value>,
    disabled: Option<Value>,
    refresh: Option<bool>,
}

#[derive(Debug)]
struct ZypperRepo {
    refresh: bool,
    managed: bool,
    alias: String,
    /// The options to set: name, baseurl, gpgcheck (when given), enabled.
    options: Vec<(&'static str, String)>,
}

/// What apply runs.
#[derive(Debug, PartialEq)]
enum Todo {
    Add,
    Modify,
    Readd,
    Remove,
}

/// `enabled` from `enabled`/`disabled`, `1` unless one says otherwise.
fn enabled(a: &Args) -> Result<&'static str, String> {
    match (&a.enabled, &a.disabled) {
        (Some(_), Some(_)) => Err("Only one of enabled/disabled is allowed".into()),
        (Some(e), None) => flag("enabled", e),
        (None, Some(d)) => Ok(if flag("disabled", d)? == "1" {
            "0"
        } else {
            "1"
        }),
        (None, None) => Ok("1"),
    }
}

pub(super) fn build(chunk: &Chunk, managed: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = crate::modules::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let alias = chunk.name.clone();
    if alias.is_empty()
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(err(format!(
            "`{alias}` is not a repository alias ([A-Za-z0-9_.:-]+)"
        )));
    }
    let mut options = Vec::new();
    if managed {
        let Some(url) = &a.baseurl else {
            return Err(err("give baseurl".into()));
        };
        let name = a.humanname.clone().unwrap_or_else(|| alias.clone());
        options.push(("name", one_line("humanname", &name).map_err(err)?));
        options.push(("baseurl", one_line("baseurl", url).map_err(err)?));
        if let Some(g) = &a.gpgcheck {
            options.push(("gpgcheck", flag("gpgcheck", g).map_err(err)?.into()));
        }
        options.push(("enabled", enabled(&a).map_err(err)?.into()));
    }
    Ok(Box::new(ZypperRepo {
        refresh: a.refresh.unwrap_or(true),
        managed,
        alias,
        options,
    }))
}

/// A URL as zypper writes it: an empty authority dropped (`file:///x` is
/// `file:/x`).
fn normal_url(url: &str) -> String {
    match url.split_once(":///") {
        Some((scheme, rest)) => format!("{scheme}:/{rest}"),
        None => url.to_string(),
    }
}

impl ZypperRepo {
    fn function(&self) -> &'static str {
        if self.managed {
            "pkgrepo.managed"
        } else {
            "pkgrepo.absent"
        }
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The options that differ from the section `have`, as Salt's changes.
    fn differences(&self, have: &[(String, String)]) -> serde_json::Map<String, Value> {
        let mut changes = serde_json::Map::new();
        for (k, v) in &self.options {
            let was = have.iter().find(|(h, _)| h == k).map(|(_, v)| v.as_str());
            let same = match (*k, was) {
                ("enabled" | "gpgcheck", Some(w)) => flag(k, &json!(w)).ok() == Some(v.as_str()),
                ("enabled" | "gpgcheck", None) => v == "1",
                ("name", None) => *v == self.alias,
                ("baseurl", Some(w)) => normal_url(w) == normal_url(v),
                (_, w) => w == Some(v.as_str()),
            };
            if !same {
                changes.insert((*k).into(), json!({"old": was, "new": v}));
            }
        }
        changes
    }

    fn plan_of(&self, have: Option<Vec<(String, String)>>) -> Plan {
        let alias = &self.alias;
        let warn = "This may cause pkg states to behave differently than stated if this action is repeated without test=True, due to the differences in the configured repositories.";
        match (self.managed, have) {
            (true, None) => Plan::change(
                json!({"repo": alias}),
                format!("Package repo '{alias}' would be configured. {warn}"),
            )
            .with_data(Todo::Add),
            (true, Some(have)) => {
                let changes = self.differences(&have);
                if changes.is_empty() {
                    return Plan::noop(format!("Package repo '{alias}' already configured"));
                }
                let todo = if changes.contains_key("baseurl") {
                    Todo::Readd
                } else {
                    Todo::Modify
                };
                Plan::change(
                    Value::Object(changes),
                    format!("Package repo '{alias}' would be configured. {warn}"),
                )
                .with_data(todo)
            }
            (false, None) => Plan::noop(format!("Package repo {alias} is absent")),
            (false, Some(_)) => Plan::change(
                json!({"repo": alias}),
                format!("Package repo '{alias}' will be removed. {warn}"),
            )
            .with_data(Todo::Remove),
        }
    }

    /// `zypper ar` with the managed options.
    fn add_line(&self) -> String {
        let mut w: Vec<String> = vec!["zypper".into(), "-q".into(), "ar".into()];
        w.extend(self.flags());
        w.push("--".into());
        w.push(self.option("baseurl").unwrap_or_default().to_string());
        w.push(self.alias.clone());
        format!("{} </dev/null || exit\n", join(&w))
    }

    /// The name, gpgcheck and enabled options as `ar`/`mr` flags.
    fn flags(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(n) = self.option("name") {
            w.push("--name".into());
            w.push(n.to_string());
        }
        match self.option("gpgcheck") {
            Some("1") => w.push("--gpgcheck".into()),
            Some(_) => w.push("--no-gpgcheck".into()),
            None => {}
        }
        if self.option("enabled") == Some("0") {
            w.push("--disable".into());
        }
        w
    }
}

impl StateFunction for ZypperRepo {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        if self.managed {
            crate::modules::Managed::present("file", &format!("{REPOS_D}/{}.repo", self.alias))
        } else {
            Vec::new()
        }
    }

    fn probe(&self) -> String {
        format!(
            "if ! command -v zypper >/dev/null 2>&1; then\n\
             \tprintf '@@unsupported %s\\n' \"$(command -v apt-get dnf yum apk pacman 2>/dev/null | head -n 1)\"\n\
             \texit 1\n\
             fi\n\
             for h_f in {REPOS_D}/*.repo; do\n\
             \t[ -f \"$h_f\" ] || continue\n\
             \tprintf '@@file %s\\n' \"$h_f\"; base64 < \"$h_f\"; printf '@@endfile\\n'\n\
             done\n\
             printf '@@end\\n'\n"
        )
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let f = self.function();
        let m = markers(facts.text);
        if let Some(pm) = m.get("unsupported") {
            return Err(format!(
                "{f}: this host has no zypper ({}): its `pkg_manager` grain is stale (refresh the grains)",
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
        let have = copies.iter().find_map(|(_, c)| section(c, &self.alias));
        Ok(self.plan_of(have))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Todo>()?;
        let todo = &todo;
        let alias = quote(&self.alias);
        let mut s = match *todo {
            Todo::Add => self.add_line(),
            Todo::Readd => format!(
                "zypper -q rr -- {alias} </dev/null || exit\n{}",
                self.add_line()
            ),
            Todo::Modify => {
                let mut flags = self.flags();
                if self.option("enabled") == Some("1") {
                    flags.push("--enable".into());
                }
                format!(
                    "zypper -q mr {} -- {alias} </dev/null || exit\n",
                    join(&flags)
                )
            }
            Todo::Remove => format!("zypper -q rr -- {alias} </dev/null || exit\n"),
        };
        if self.managed && self.refresh && self.option("enabled") == Some("1") {
            s.push_str(&format!(
                "printf '@@refresh\\n'\nzypper -n -q refresh -- {alias} </dev/null || {{ h_rc=$?; printf '@@refresh_failed\\n'; exit \"$h_rc\"; }}\n"
            ));
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Todo>() {
            return e.into();
        }
        finish_repo(plan, out, &self.alias, self.managed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
        let chunk = Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("pkgrepo", function, name, args)
        };
        build(&chunk, function == "managed").unwrap()
    }

    fn facts(text: &str) -> Output<'_> {
        Output { rc: 0, text }
    }

    /// The probe's report of the real repo files zypper wrote
    /// (tests/compat/platform/zypper-repos.txt, one file per section).
    fn probed() -> String {
        let text = include_str!("../../../tests/compat/platform/zypper-repos.txt");
        let (local, updates) = text.split_at(text.find("[updates]").unwrap());
        let mut s = String::new();
        for (p, c) in [("local", local), ("updates", updates)] {
            s.push_str(&format!(
                "@@file {REPOS_D}/{p}.repo\n{}\n@@endfile\n",
                crate::modules::file::encode_b64(c.as_bytes())
            ));
        }
        s.push_str("@@end\n");
        s
    }

    #[test]
    fn zypper_defaults_read_as_zypper_reads_them() {
        let p = probed();
        let same = make(
            "managed",
            "updates",
            json!({"humanname": "halite updates", "baseurl": "file:///srv/repo-updates", "gpgcheck": false}),
        );
        let plan = same.plan(facts(&p)).unwrap();
        assert!(plan.changes.is_empty(), "{plan:?}");
        let local = make("managed", "local", json!({"baseurl": "file:/srv/repo"}));
        assert!(local.plan(facts(&p)).unwrap().changes.is_empty());
    }

    #[test]
    fn changes_choose_add_modify_readd_remove() {
        let p = probed();
        let new = make(
            "managed",
            "extra",
            json!({"baseurl": "http://x/y", "gpgcheck": 0}),
        );
        let plan = new.plan(facts(&p)).unwrap();
        assert_eq!(plan.changes, *json!({"repo": "extra"}).as_object().unwrap());
        assert_eq!(
            new.apply(&plan).unwrap(),
            "zypper -q ar --name extra --no-gpgcheck -- http://x/y extra </dev/null || exit\nprintf '@@refresh\\n'\nzypper -n -q refresh -- extra </dev/null || { h_rc=$?; printf '@@refresh_failed\\n'; exit \"$h_rc\"; }\n"
        );
        let off = make(
            "managed",
            "local",
            json!({"baseurl": "file:/srv/repo", "enabled": false}),
        );
        let plan = off.plan(facts(&p)).unwrap();
        assert_eq!(plan.changes["enabled"], json!({"old": "1", "new": "0"}));
        assert_eq!(
            off.apply(&plan).unwrap(),
            "zypper -q mr --name local --disable -- local </dev/null || exit\n"
        );
        let moved = make("managed", "local", json!({"baseurl": "file:///srv/other"}));
        let plan = moved.plan(facts(&p)).unwrap();
        assert!(moved
            .apply(&plan)
            .unwrap()
            .starts_with("zypper -q rr -- local </dev/null || exit\nzypper -q ar"));
        let gone = make("absent", "updates", json!({}));
        let plan = gone.plan(facts(&p)).unwrap();
        assert_eq!(
            gone.apply(&plan).unwrap(),
            "zypper -q rr -- updates </dev/null || exit\n"
        );
        assert!(make("absent", "nosuch", json!({}))
            .plan(facts(&p))
            .unwrap()
            .changes
            .is_empty());
    }
}
