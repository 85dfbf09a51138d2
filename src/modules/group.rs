//! `group.present` and `group.absent`: local groups, as Salt's
//! `salt.states.group` manages them, through Debian's `groupadd`,
//! `groupmod`, `gpasswd` and `groupdel`, or BusyBox's `addgroup` and
//! `delgroup` where shadow is missing (`crate::platform::accounts`; a gid
//! change is refused there: BusyBox has no groupmod).
//!
//! Members are the names listed in `/etc/group` (what `gpasswd` manages and
//! Salt's `group.info` reports), not users whose primary group it is.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Map};

use super::user::{
    apply_account, check_name, finish_with, parse_group, tools_seen, Account, GroupEnt, Id,
    NameList, NumOrText, PATH_PRELUDE,
};
use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, StateFunction,
};
use crate::platform::accounts::{self, Change, Members, Tools};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "group",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure the group `name` exists with the declared gid and members (or addusers / delusers).",
            args: &["gid", "system", "members", "addusers", "delusers"],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the group `name` does not exist.",
            args: &[],
            build: build_absent,
        },
    ],
    ledger: &[LedgerKind {
        kind: "group",
        exists: |w| format!("getent group {w} >/dev/null 2>&1"),
        prune: ("absent", |_| serde_json::json!({})),
    }],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresentArgs {
    gid: Option<NumOrText>,
    #[serde(default)]
    system: bool,
    members: Option<NameList>,
    addusers: Option<NameList>,
    delusers: Option<NameList>,
}

#[derive(Debug)]
struct Present {
    name: String,
    gid: Option<u32>,
    system: bool,
    /// Exactly these members.
    members: Option<Vec<String>>,
    addusers: Vec<String>,
    delusers: Vec<String>,
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: PresentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    check_name("group name", &chunk.name).map_err(err)?;
    let gid = match a.gid.map(|v| Id::from_arg(v, "gid", false)).transpose() {
        Ok(Some(Id::Num(n))) => Some(n),
        Ok(_) => None,
        Err(e) => return Err(err(e)),
    };
    let list = |l: Option<NameList>| {
        l.map(|l| l.into_names("user"))
            .transpose()
            .map(|l| l.map(dedup))
    };
    let members = list(a.members).map_err(err)?;
    let addusers = list(a.addusers).map_err(err)?.unwrap_or_default();
    let delusers = list(a.delusers).map_err(err)?.unwrap_or_default();
    // Salt refuses these combinations too; here they fail at compile time.
    if members.is_some() && !(addusers.is_empty() && delusers.is_empty()) {
        return Err(err(
            "conflicting options: `members` cannot be used with `addusers` or `delusers`".into(),
        ));
    }
    let both: Vec<&String> = addusers.iter().filter(|u| delusers.contains(u)).collect();
    if !both.is_empty() {
        return Err(err(format!(
            "the same user(s) cannot be added and deleted: {}",
            both.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Box::new(Present {
        name: chunk.name.clone(),
        gid,
        system: a.system,
        members,
        addusers,
        delusers,
    }))
}

/// Order kept, repeats dropped.
fn dedup(l: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    l.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

/// `group <entry>` or nothing, plus `nouser NAME` for declared users that
/// do not exist (gpasswd would refuse them).
fn probe_group(name: &str, users: &[String]) -> String {
    let mut s = format!(
        "{PATH_PRELUDE}{}{}e=$(getent group {}) && printf 'group %s\\n' \"$e\"\n",
        accounts::DETECT,
        accounts::REPORT,
        quote(name)
    );
    if !users.is_empty() {
        s.push_str(&format!(
            "for u in {}; do getent passwd \"$u\" >/dev/null 2>&1 || printf 'nouser %s\\n' \"$u\"; done\n",
            users.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ")
        ));
    }
    s.push_str("exit 0\n");
    s
}

struct GroupFacts {
    group: Option<GroupEnt>,
    missing_users: Vec<String>,
}

fn parse_facts(text: &str) -> GroupFacts {
    let mut f = GroupFacts {
        group: None,
        missing_users: vec![],
    };
    for line in text.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "group" => f.group = parse_group(rest),
            "nouser" => f.missing_users.push(rest.to_string()),
            _ => {}
        }
    }
    f
}

impl Present {
    fn plan_create(&self, tools: Tools) -> Plan {
        let name = &self.name;
        let mut changes = Map::new();
        changes.insert("name".into(), json!(name));
        if let Some(g) = self.gid {
            changes.insert("gid".into(), json!(g));
        }
        let members = self
            .members
            .clone()
            .unwrap_or_else(|| self.addusers.clone());
        changes.insert("members".into(), json!(members));
        Plan::change(
            Value::Object(changes),
            format!("Group {name} set to be added"),
        )
        .with_data(Account {
            tools,
            change: Change::NewGroup {
                name: name.clone(),
                gid: self.gid,
                system: self.system,
                members,
            },
            done: format!("New group {name} created"),
        })
    }

    fn plan_modify(&self, tools: Tools, cur: &GroupEnt) -> Result<Plan, String> {
        let name = &self.name;
        // Salt's group._changes keys: gid, members (the declared list),
        // addusers / delusers (just the ones that must move).
        let mut changes = Map::new();
        let gid = self.gid.filter(|g| *g != cur.gid);
        if let Some(g) = gid {
            changes.insert("gid".into(), json!(g));
        }
        let members = self.member_changes(cur, &mut changes);
        if changes.is_empty() {
            return Ok(Plan::noop(format!(
                "Group {name} is present and up to date"
            )));
        }
        let change = Change::ModGroup {
            name: name.clone(),
            gid,
            members,
        };
        if let Some(why) = tools.cannot(&change) {
            return Err(format!("group.present {name}: {why}"));
        }
        let mut comment = String::from("The following group attributes are set to be changed:\n");
        for (k, v) in &changes {
            comment.push_str(&format!("{k}: {v}\n"));
        }
        Ok(
            Plan::change(Value::Object(changes), comment.trim_end()).with_data(Account {
                tools,
                change,
                done: format!("Updated group {name}"),
            }),
        )
    }

    /// The member moves for an existing group `cur`, noted in `changes`.
    fn member_changes(&self, cur: &GroupEnt, changes: &mut Map<String, Value>) -> Members {
        let none = Members::Change {
            add: vec![],
            remove: vec![],
        };
        match &self.members {
            Some(m) if m.is_empty() => {
                if cur.members.is_empty() {
                    return none;
                }
                changes.insert("delusers".into(), json!(cur.members));
                Members::Change {
                    add: vec![],
                    remove: cur.members.clone(),
                }
            }
            Some(m) => {
                let want: BTreeSet<&String> = m.iter().collect();
                if want == cur.members.iter().collect() {
                    return none;
                }
                changes.insert("members".into(), json!(m));
                Members::Exactly {
                    want: m.clone(),
                    current: cur.members.clone(),
                }
            }
            None => {
                let add: Vec<String> = self
                    .addusers
                    .iter()
                    .filter(|u| !cur.members.contains(u))
                    .cloned()
                    .collect();
                let remove: Vec<String> = self
                    .delusers
                    .iter()
                    .filter(|u| cur.members.contains(u))
                    .cloned()
                    .collect();
                if !add.is_empty() {
                    changes.insert("addusers".into(), json!(add));
                }
                if !remove.is_empty() {
                    changes.insert("delusers".into(), json!(remove));
                }
                Members::Change { add, remove }
            }
        }
    }
}

impl StateFunction for Present {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("group", &self.name)
    }

    fn probe(&self) -> String {
        let mut users: Vec<String> = self.members.iter().flatten().cloned().collect();
        users.extend(self.addusers.iter().cloned());
        probe_group(&self.name, &users)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let facts = parse_facts(out.text);
        let tools = tools_seen(out.text)?;
        if !facts.missing_users.is_empty() {
            return Err(format!(
                "The following user(s) do not exist: {}",
                facts.missing_users.join(",")
            ));
        }
        match &facts.group {
            None => Ok(self.plan_create(tools)),
            Some(cur) => self.plan_modify(tools, cur),
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        apply_account(plan, "set -e\n")
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_with(plan, out)
    }
}

#[derive(Debug)]
struct Absent {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentArgs {}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let _: AbsentArgs = super::typed_args(chunk)?;
    check_name("group name", &chunk.name).map_err(|m| format!("{}: {m}", chunk.describe()))?;
    Ok(Box::new(Absent {
        name: chunk.name.clone(),
    }))
}

impl StateFunction for Absent {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::absent("group", &self.name)
    }

    fn probe(&self) -> String {
        // groupdel refuses a user's primary group; say so at plan time.
        format!(
            "{PATH_PRELUDE}if e=$(getent group {}); then\n\
             printf 'group %s\\n' \"$e\"\n{}{}\
             g=$(printf '%s\\n' \"$e\" | cut -d: -f3)\n\
             getent passwd | awk -F: -v g=\"$g\" '$4 == g {{ print \"primary \" $1 }}'\n\
             fi\nexit 0\n",
            quote(&self.name),
            accounts::DETECT,
            accounts::REPORT
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let name = &self.name;
        let mut present = false;
        let mut primary_of = Vec::new();
        for line in out.text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "group" => present = parse_group(rest).is_some(),
                "primary" => primary_of.push(rest.to_string()),
                _ => {}
            }
        }
        if !present {
            return Ok(Plan::noop("Group not present"));
        }
        let tools = tools_seen(out.text)?;
        if !primary_of.is_empty() {
            return Err(format!(
                "Group {name} cannot be removed: it is the primary group of user(s) {}",
                primary_of.join(",")
            ));
        }
        Ok(Plan::change(
            json!({ name.as_str(): "" }),
            format!("Group {name} is set for removal"),
        )
        .with_data(Account {
            tools,
            change: Change::DelGroup { name: name.clone() },
            done: format!("Removed group {name}"),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        apply_account(plan, "")
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_with(plan, out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::user::tests::{chunk, ctx, syntax_ok};
    use super::*;

    fn present(args: Value) -> Box<dyn StateFunction> {
        build_present(&chunk("group", "present", "hlt-grp", args), &ctx()).unwrap()
    }

    fn plan(f: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        f.plan(Output { text, rc: 0 })
    }

    const EXISTING: &str = "accounts shadow\ngroup hlt-grp:x:3100:hlt-a,hlt-b\n";
    const SHADOW: &str = "accounts shadow\n";

    #[test]
    fn missing_group_is_created() {
        let f = present(json!({"gid": 3100, "system": true, "members": ["hlt-a", "it's"]}));
        syntax_ok(&f.probe());
        let p = plan(f.as_ref(), SHADOW).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"name": "hlt-grp", "gid": 3100, "members": ["hlt-a", "it's"]})
        );
        assert_eq!(p.comment, "Group hlt-grp set to be added");
        let script = f.apply(&p).unwrap();
        assert!(script.contains("groupadd -r -g 3100 hlt-grp\n"));
        assert!(
            script.contains("gpasswd -M 'hlt-a,it'\\''s' hlt-grp"),
            "{script}"
        );
        syntax_ok(&script);
        assert_eq!(
            f.finish(&p, Output { text: "", rc: 0 }).comment,
            "New group hlt-grp created"
        );
    }

    #[test]
    fn up_to_date_is_a_noop() {
        let p = plan(
            present(json!({"gid": 3100, "members": ["hlt-b", "hlt-a"]})).as_ref(),
            EXISTING,
        )
        .unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "Group hlt-grp is present and up to date");
        assert!(plan(
            present(json!({"addusers": ["hlt-a"], "delusers": ["hlt-c"]})).as_ref(),
            EXISTING
        )
        .unwrap()
        .is_noop());
    }

    #[test]
    fn drift() {
        let f = present(json!({"gid": 3101, "members": ["hlt-a"]}));
        let p = plan(f.as_ref(), EXISTING).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"gid": 3101, "members": ["hlt-a"]})
        );
        let script = f.apply(&p).unwrap();
        assert!(script.contains("groupmod -g 3101 hlt-grp\ngpasswd -M hlt-a hlt-grp"));
        syntax_ok(&script);
        let f = present(json!({"addusers": ["hlt-c", "hlt-a"], "delusers": ["hlt-b"]}));
        let p = plan(f.as_ref(), EXISTING).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"addusers": ["hlt-c"], "delusers": ["hlt-b"]})
        );
        let script = f.apply(&p).unwrap();
        assert!(
            script.contains("gpasswd -a hlt-c hlt-grp")
                && script.contains("gpasswd -d hlt-b hlt-grp")
        );
        let p = plan(present(json!({"members": []})).as_ref(), EXISTING).unwrap();
        assert_eq!(p.changes["delusers"], json!(["hlt-a", "hlt-b"]));
    }

    #[test]
    fn busybox_hosts() {
        let bb = EXISTING.replace("accounts shadow", "accounts busybox");
        let f = present(json!({"members": ["hlt-a", "hlt-c"]}));
        let p = plan(f.as_ref(), &bb).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"members": ["hlt-a", "hlt-c"]})
        );
        let script = f.apply(&p).unwrap();
        assert!(
            script.ends_with("addgroup hlt-c hlt-grp\ndelgroup hlt-b hlt-grp\n"),
            "{script}"
        );
        syntax_ok(&script);
        let e = plan(present(json!({"gid": 3101})).as_ref(), &bb).unwrap_err();
        assert!(
            e.starts_with("group.present hlt-grp: this host has BusyBox's account tools and no groupmod: the gid of existing group hlt-grp cannot be changed"),
            "{e}"
        );
        let f = present(json!({"gid": 3100, "system": true, "addusers": ["hlt-a"]}));
        let p = plan(f.as_ref(), "accounts busybox\n").unwrap();
        assert!(f
            .apply(&p)
            .unwrap()
            .ends_with("addgroup -S -g 3100 hlt-grp\naddgroup hlt-a hlt-grp\n"));
        let f = build_absent(&chunk("group", "absent", "hlt-grp", json!({})), &ctx()).unwrap();
        let p = plan(f.as_ref(), &bb).unwrap();
        assert!(f.apply(&p).unwrap().ends_with("\ndelgroup hlt-grp\n"));
    }

    #[test]
    fn missing_users_fail() {
        let f = present(json!({"members": ["hlt-a", "hlt-nope"]}));
        assert_eq!(
            plan(f.as_ref(), "accounts shadow\nnouser hlt-nope\n").unwrap_err(),
            "The following user(s) do not exist: hlt-nope"
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let bad = |args: Value| {
            build_present(&chunk("group", "present", "hlt-grp", args), &ctx()).is_err()
        };
        assert!(bad(json!({"members": ["a"], "addusers": ["b"]})));
        assert!(bad(json!({"addusers": ["a"], "delusers": ["a"]})));
        assert!(bad(json!({"gid": "wheel"})));
        assert!(bad(json!({"memebers": []})));
        assert!(!bad(json!({"gid": "3100", "addusers": "a,b"})));
        assert!(build_absent(
            &chunk("group", "absent", "hlt-grp", json!({"gid": 1})),
            &ctx()
        )
        .is_err());
    }

    #[test]
    fn absent() {
        let f = build_absent(&chunk("group", "absent", "hlt-grp", json!({})), &ctx()).unwrap();
        syntax_ok(&f.probe());
        let p = plan(f.as_ref(), "").unwrap();
        assert!(p.is_noop());
        let p = plan(f.as_ref(), EXISTING).unwrap();
        assert_eq!(Value::Object(p.changes.clone()), json!({"hlt-grp": ""}));
        assert_eq!(
            f.apply(&p).unwrap(),
            format!("{PATH_PRELUDE}groupdel hlt-grp\n")
        );
        assert!(plan(f.as_ref(), &format!("{EXISTING}primary hlt-a\n"))
            .unwrap_err()
            .contains("primary group of user(s) hlt-a"));
    }
}
