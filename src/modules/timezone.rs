//! `timezone.system`: the host's time zone and whether the hardware clock
//! keeps UTC, as Salt's `salt.states.timezone.system` with
//! `salt.modules.timezone` sets them on Linux.
//!
//! The probe asks `timedatectl` (time zone, "RTC in local TZ"), or without
//! it reads `/etc/timezone` or the `/etc/localtime` link and `/etc/adjtime`,
//! and whether `/usr/share/zoneinfo/NAME` exists. The apply does what Salt
//! does: `timedatectl set-timezone` where there is one, `/etc/localtime`
//! linked to the zone file, `/etc/timezone` written (Debian), and
//! `timedatectl set-local-rtc false` for `utc: True`. As in Salt, `utc:
//! False` never moves the clock to local time.

use serde::Deserialize;
use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "timezone",
    functions: &[FnDef {
        name: "system",
        doc: "Set the host's time zone `name` (e.g. Europe/Paris) and, with utc: True (the default), a UTC hardware clock.",
        args: &["utc"],
        build,
    }],
    ledger: &[],
};

const TAG: &str = "halite-tz:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "yes")]
    utc: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
struct Timezone {
    name: String,
    utc: bool,
}

/// What the apply changes: the zone, the hardware clock; the comment once done.
#[derive(Debug, PartialEq)]
struct Todo {
    zone: bool,
    utc: bool,
    done: String,
}

fn build(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let name = chunk.name.clone();
    let ok = !name.is_empty()
        && !name.starts_with(['/', '-'])
        && !name.split('/').any(|p| p == ".." || p.is_empty())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if !ok {
        return Err(format!(
            "{}: `{name}` is not a time zone name like Europe/Paris",
            chunk.describe()
        ));
    }
    Ok(Box::new(Timezone { name, utc: a.utc }))
}

/// The probe's answer: the zone, whether the clock keeps local time,
/// whether the zone file exists, whether `timedatectl` works.
#[derive(Debug, PartialEq)]
struct Found {
    zone: String,
    local_rtc: bool,
    zone_file: bool,
    timedatectl: bool,
}

fn parse(text: &str) -> Result<Found, String> {
    let (tags, _) = super::tagged_probe(text, TAG, "the time zone")?;
    let get = |k: &str| {
        tags.iter()
            .find_map(|t| t.strip_prefix(k).map(|v| v.trim().to_string()))
    };
    let zone = get("zone ").filter(|z| !z.is_empty()).ok_or_else(|| {
        format!(
            "Unable to compare desired timezone to system timezone: cannot read it ({})",
            text.trim()
        )
    })?;
    Ok(Found {
        zone,
        local_rtc: get("rtc ").as_deref() == Some("local"),
        zone_file: tags.iter().any(|t| t == "zonefile"),
        timedatectl: tags.iter().any(|t| t == "timedatectl"),
    })
}

impl StateFunction for Timezone {
    fn probe(&self) -> String {
        format!(
            r#"if out=$(timedatectl 2>/dev/null); then
echo '{TAG} timedatectl'
printf '%s\n' "$out" | sed -n 's/^ *Time \{{0,1\}}zone: *\([^ ]*\).*/{TAG} zone \1/p'
case $(printf '%s\n' "$out" | sed -n 's/^ *RTC in local TZ: *//p') in yes) echo '{TAG} rtc local' ;; *) echo '{TAG} rtc utc' ;; esac
else
if [ -f /etc/timezone ]; then printf '{TAG} zone %s\n' "$(head -n 1 /etc/timezone)"
elif l=$(readlink /etc/localtime); then printf '{TAG} zone %s\n' "${{l#*zoneinfo/}}"; fi
if [ "$(sed -n 3p /etc/adjtime 2>/dev/null)" = LOCAL ]; then echo '{TAG} rtc local'; else echo '{TAG} rtc utc'; fi
fi
[ -f /usr/share/zoneinfo/{z} ] && echo '{TAG} zonefile'
true
"#,
            z = quote(&self.name)
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse(out.text)?;
        let name = &self.name;
        let zone = f.zone != *name;
        if zone && !f.zone_file {
            return Err(format!("Zone does not exist: /usr/share/zoneinfo/{name}"));
        }
        // Salt: only `utc: True` is ever enforced.
        let utc = self.utc && f.local_rtc;
        if !zone && !utc {
            let mut m = vec![format!("Timezone {name} already set")];
            if self.utc {
                m.push(format!("UTC already set to {name}"));
            }
            return Ok(Plan::noop(m.join(", ")));
        }
        if utc && !f.timedatectl {
            return Err(
                "cannot set the hardware clock to UTC: timedatectl is not available".into(),
            );
        }
        let (mut changes, mut would, mut done) = (serde_json::Map::new(), vec![], vec![]);
        if zone {
            changes.insert("timezone".into(), json!(name));
            would.push(format!("Timezone {name} needs to be set"));
            done.push(format!("Set timezone {name}"));
        }
        if utc {
            changes.insert("utc".into(), json!(true));
            would.push("UTC needs to be set to True".to_string());
            done.push("Set UTC to True".to_string());
        }
        Ok(
            Plan::change(Value::Object(changes), would.join(", ")).with_data(Todo {
                zone,
                utc,
                done: done.join(", "),
            }),
        )
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let t = plan.data::<Todo>()?;
        let z = quote(&self.name);
        let mut s = String::new();
        if t.zone {
            s.push_str(&format!(
                "if command -v timedatectl >/dev/null 2>&1; then timedatectl set-timezone {z} 2>/dev/null; fi\n\
                 ln -sfn /usr/share/zoneinfo/{z} /etc/localtime || exit 1\n\
                 if [ -f /etc/timezone ] || [ -f /etc/debian_version ]; then printf '%s\\n' {z} > /etc/timezone || exit 1; fi\n"
            ));
        }
        if t.utc {
            s.push_str("timedatectl set-local-rtc false || exit 1\n");
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        match plan.data::<Todo>() {
            Ok(t) => super::finish_with(plan, out, t.done.clone()),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("timezone", "system", name, args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        build(&chunk, &ctx)
    }

    fn plan(f: &dyn StateFunction, zone: &str, rtc: &str) -> Result<Plan, String> {
        let text =
            format!("{TAG} timedatectl\n{TAG} zone {zone}\n{TAG} rtc {rtc}\n{TAG} zonefile\n");
        f.plan(Output { text: &text, rc: 0 })
    }

    #[test]
    fn zone_and_clock_as_salt_reports_them() {
        let f = state("Europe/Paris", json!({})).unwrap();
        let p = plan(f.as_ref(), "Etc/UTC", "local").unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"timezone": "Europe/Paris", "utc": true})
        );
        assert_eq!(
            p.comment,
            "Timezone Europe/Paris needs to be set, UTC needs to be set to True"
        );
        assert_eq!(
            p.data::<Todo>().unwrap().done,
            "Set timezone Europe/Paris, Set UTC to True"
        );
        let p = plan(f.as_ref(), "Europe/Paris", "utc").unwrap();
        assert!(p.is_noop());
        assert_eq!(
            p.comment,
            "Timezone Europe/Paris already set, UTC already set to Europe/Paris"
        );
        // utc: False leaves a local clock alone, as Salt does.
        let f = state("Europe/Paris", json!({"utc": false})).unwrap();
        assert!(plan(f.as_ref(), "Europe/Paris", "local").unwrap().is_noop());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(state("../etc", json!({}))
            .unwrap_err()
            .contains("not a time zone"));
        assert!(state("a b", json!({}))
            .unwrap_err()
            .contains("not a time zone"));
        let f = state("Mars/Base", json!({})).unwrap();
        let e = f
            .plan(Output {
                text: &format!("{TAG} zone Etc/UTC\n{TAG} rtc utc\n"),
                rc: 0,
            })
            .unwrap_err();
        assert_eq!(e, "Zone does not exist: /usr/share/zoneinfo/Mars/Base");
    }
}
