//! `cron.present` and `cron.absent`: one job in a user's crontab, as Salt's
//! `salt.states.cron` manages it.
//!
//! Each managed job is the line after a marker comment naming its
//! identifier (`# HALITE_CRON_IDENTIFIER:ID`, Salt's idea with our name),
//! so the job's schedule or command can change and still be the same job.
//! The probe reads the crontab (`crontab -l -u USER`); the plan computes
//! the new crontab on the controller (`test=True` shows the line); the
//! apply installs it with `crontab -u USER`, only if the crontab is still
//! what was read.

use serde::Deserialize;
use serde_json::json;

use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, StateFunction,
};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// A cron plan's data: the user's whole new crontab, and the hash of the
/// one it was computed from (`None`: the user had none).
#[derive(Debug, PartialEq)]
struct Crontab {
    content: String,
    sha256: Option<String>,
}

const TIME_ARGS: [&str; 5] = ["minute", "hour", "daymonth", "month", "dayweek"];

pub const MODULE: ModuleDef = ModuleDef {
    name: "cron",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure the cron job `name` (a command) is in `user`'s crontab with the given schedule.",
            args: &[
                "user",
                "minute",
                "hour",
                "daymonth",
                "month",
                "dayweek",
                "special",
                "comment",
                "identifier",
                "commented",
            ],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the cron job `name` (or `identifier`) is not in `user`'s crontab.",
            args: &["user", "identifier", "special"],
            build: build_absent,
        },
    ],
    // Identity `USER IDENTIFIER`.
    ledger: &[LedgerKind {
        kind: "cron",
        // A marker line ending in the identifier (a literal `case` pattern).
        exists: |w| {
            format!(
                "{{ _w={w}; crontab -l -u \"${{_w%% *}}\" 2>/dev/null | {{ while IFS= read -r _l; do case $_l in \"#\"*\"{MARK}${{_w#* }}\") exit 0 ;; esac; done; exit 1; }}; }}"
            )
        },
        prune: ("absent", |identity| {
            let (user, id) = identity.split_once(' ').unwrap_or(("root", identity));
            json!({"name": id, "user": user, "identifier": id})
        }),
    }],
};

/// The marker comment's tag; the identifier follows it to the line's end.
const MARK: &str = "HALITE_CRON_IDENTIFIER:";
const TAG: &str = "halite-cron:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    user: Option<String>,
    minute: Option<Value>,
    hour: Option<Value>,
    daymonth: Option<Value>,
    month: Option<Value>,
    dayweek: Option<Value>,
    special: Option<String>,
    comment: Option<String>,
    identifier: Option<String>,
    #[serde(default)]
    commented: bool,
}

#[derive(Debug)]
struct Cron {
    user: String,
    identifier: String,
    command: String,
    /// The whole job line (`None`: absent).
    line: Option<String>,
    comment: Option<String>,
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, true)
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, false)
}

fn one_line(chunk: &Chunk, what: &str, s: &str) -> Result<(), String> {
    if s.contains(['\n', '\r']) || s.trim().is_empty() {
        return Err(format!(
            "{}: {what} must be one non-empty line",
            chunk.describe()
        ));
    }
    Ok(())
}

fn build(chunk: &Chunk, present: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let user = a.user.unwrap_or_else(|| "root".into());
    super::user::check_name("user", &user).map_err(err)?;
    let command = chunk.name.trim().to_string();
    one_line(chunk, "the command (name)", &command)?;
    // Salt: the identifier defaults to the command itself.
    let identifier = a.identifier.unwrap_or_else(|| command.clone());
    one_line(chunk, "identifier", &identifier)?;
    if let Some(c) = &a.comment {
        one_line(chunk, "comment", c)?;
    }
    let line = if present {
        let schedule = match &a.special {
            Some(sp) => {
                const SPECIAL: [&str; 8] = [
                    "@reboot",
                    "@yearly",
                    "@annually",
                    "@monthly",
                    "@weekly",
                    "@daily",
                    "@midnight",
                    "@hourly",
                ];
                if !SPECIAL.contains(&sp.as_str()) {
                    return Err(err(format!("special `{sp}` is not one of {SPECIAL:?}")));
                }
                sp.clone()
            }
            None => {
                let fields = [&a.minute, &a.hour, &a.daymonth, &a.month, &a.dayweek];
                let mut out = Vec::new();
                for (name, v) in TIME_ARGS.iter().zip(fields) {
                    let f = match v {
                        None | Some(Value::Null) => "*".to_string(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::String(s)) => s.trim().to_string(),
                        Some(other) => {
                            return Err(err(format!("{name} `{other}` is not a cron field")))
                        }
                    };
                    let ok = !f.is_empty()
                        && f.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/')
                        });
                    if !ok {
                        return Err(err(format!("{name} `{f}` is not a cron field")));
                    }
                    out.push(f);
                }
                out.join(" ")
            }
        };
        let prefix = if a.commented { "#DISABLED#" } else { "" };
        Some(format!("{prefix}{schedule} {command}"))
    } else {
        None
    };
    Ok(Box::new(Cron {
        user,
        identifier,
        command,
        line,
        comment: a.comment,
    }))
}

impl Cron {
    fn marker(&self) -> String {
        match &self.comment {
            Some(c) => format!("# {c} {MARK}{}", self.identifier),
            None => format!("# {MARK}{}", self.identifier),
        }
    }

    /// Whether `line` is this job's marker (any comment before the tag).
    fn is_marker(&self, line: &str) -> bool {
        line.starts_with('#')
            && line
                .strip_suffix(&self.identifier)
                .is_some_and(|l| l.ends_with(MARK))
    }

    /// Whether an unmarked `line` runs this command (adopted, as Salt does).
    fn runs_command(&self, line: &str) -> bool {
        let l = line.trim_start_matches("#DISABLED#").trim();
        if l.starts_with('#') || l.is_empty() {
            return false;
        }
        let rest = if l.starts_with('@') {
            l.split_once(char::is_whitespace).map(|x| x.1)
        } else {
            l.splitn(6, char::is_whitespace).nth(5)
        };
        rest.is_some_and(|r| r.trim() == self.command)
    }
}

/// The probe's findings: the crontab (empty when the user has none).
fn parse(text: &str, user: &str) -> Result<(String, Option<String>), String> {
    let (tags, mut content) = super::tagged_probe(text, TAG, "the crontab")?;
    let mut sha = None;
    for t in &tags {
        match t.as_str() {
            "nouser" => return Err(format!("User {user} does not exist")),
            "nocrontab" => content = Some(String::new()),
            rest => sha = rest.strip_prefix("sha256 ").map(str::to_string).or(sha),
        }
    }
    match content {
        Some(c) if c.trim().is_empty() => Ok((String::new(), sha)),
        Some(c) => Ok((c, sha)),
        None => Err(format!(
            "cannot read the crontab of {user}: {}",
            text.trim()
        )),
    }
}

impl StateFunction for Cron {
    fn managed(&self) -> Vec<super::Managed> {
        let identity = format!("{} {}", self.user, self.identifier);
        if self.line.is_some() {
            super::Managed::present("cron", &identity)
        } else {
            super::Managed::absent("cron", &identity)
        }
    }

    fn probe(&self) -> String {
        let u = quote(&self.user);
        format!(
            "getent passwd {u} >/dev/null || {{ echo '{TAG} nouser'; exit 0; }}\nif c=$(crontab -l -u {u} 2>&1); then\nprintf '%s sha256 %s\\n' '{TAG}' \"$(printf '%s\\n' \"$c\" | sha256sum | cut -d ' ' -f 1)\"\necho '{TAG} content'; printf '%s\\n' \"$c\" | base64; echo '{TAG} end'\nelif printf '%s' \"$c\" | grep -q '^no crontab for'; then echo '{TAG} nocrontab'\nelse printf '%s\\n' \"$c\"; exit 1\nfi\n"
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let (old, sha) = parse(out.text, &self.user)?;
        let lines: Vec<&str> = old.lines().collect();
        let mut new: Vec<String> = Vec::new();
        let mut found = false;
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i];
            // Our marker and the job line after it; or an unmarked line
            // running this command, adopted.
            let marked = self.is_marker(l);
            if marked || (self.identifier == self.command && self.runs_command(l)) {
                if !found {
                    if let Some(want) = &self.line {
                        new.push(self.marker());
                        new.push(want.clone());
                    }
                }
                found = true;
                i += if marked && i + 1 < lines.len() { 2 } else { 1 };
                continue;
            }
            new.push(l.to_string());
            i += 1;
        }
        let (change, verb) = match (&self.line, found) {
            (Some(want), false) => {
                new.push(self.marker());
                new.push(want.clone());
                ("new", "added")
            }
            (Some(_), true) if new.join("\n") == lines.join("\n") => {
                return Ok(Plan::noop(format!("Cron {} already present", self.command)))
            }
            (Some(_), true) => ("updated", "updated"),
            (None, true) => ("removed", "removed"),
            (None, false) => {
                return Ok(Plan::noop(format!("Cron {} already absent", self.command)))
            }
        };
        let mut content = new.join("\n");
        if !content.is_empty() {
            content.push('\n');
        }
        let mut changes = serde_json::Map::new();
        changes.insert(
            self.user.clone(),
            match &self.line {
                Some(l) => json!({change: l}),
                None => json!({change: self.identifier}),
            },
        );
        Ok(Plan::change(
            Value::Object(changes),
            format!("Cron {} is set to be {verb}", self.command),
        )
        .with_data(Crontab {
            content,
            sha256: sha,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let u = quote(&self.user);
        let Crontab { content, sha256 } = plan.data::<Crontab>()?;
        // Installed only over what the probe read.
        let guard = match sha256 {
            Some(sha) => format!(
                "c=$(crontab -l -u {u} 2>/dev/null) || c=\n[ \"$(printf '%s\\n' \"$c\" | sha256sum | cut -d ' ' -f 1)\" = {} ] || {{ echo 'the crontab changed on the host after it was read'; exit 1; }}\n",
                quote(sha)
            ),
            None => format!(
                "if crontab -l -u {u} >/dev/null 2>&1; then echo 'the crontab appeared on the host after it was read'; exit 1; fi\n"
            ),
        };
        Ok(format!(
            "{guard}t=$(mktemp) || exit 1\nprintf '%s' {} > \"$t\" && crontab -u {u} \"$t\"; r=$?\nrm -f \"$t\"\nexit $r\n",
            quote(content)
        ))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Crontab>() {
            return e.into();
        }
        super::finish_with(plan, out, plan.comment.replace(" is set to be ", " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk {
            id: "c".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("cron", function, name, args)
        };
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("cron", function).unwrap().build)(&chunk, &ctx)
    }

    fn plan(f: &dyn StateFunction, crontab: Option<&str>) -> Result<Plan, String> {
        let text = match crontab {
            None => format!("{TAG} nocrontab\n"),
            Some(c) => format!(
                "{TAG} sha256 abc\n{TAG} content\n{}\n{TAG} end\n",
                data_encoding::BASE64.encode(c.as_bytes())
            ),
        };
        f.plan(Output { text: &text, rc: 0 })
    }

    #[test]
    fn present_adds_updates_adopts_and_keeps() {
        let f = state(
            "present",
            "/usr/local/bin/backup",
            json!({"minute": 15, "hour": "2", "identifier": "backup", "comment": "nightly"}),
        )
        .unwrap();
        let job = "# nightly HALITE_CRON_IDENTIFIER:backup\n15 2 * * * /usr/local/bin/backup\n";
        let p = plan(f.as_ref(), None).unwrap();
        assert_eq!(p.data::<Crontab>().unwrap().content, job);
        assert_eq!(p.changes["root"]["new"], "15 2 * * * /usr/local/bin/backup");
        let other = "MAILTO=ops\n0 * * * * other\n";
        assert_eq!(
            plan(f.as_ref(), Some(other))
                .unwrap()
                .data::<Crontab>()
                .unwrap()
                .content,
            format!("{other}{job}")
        );
        assert!(plan(f.as_ref(), Some(&format!("{other}{job}")))
            .unwrap()
            .is_noop());
        // The schedule changed: the same job, rewritten in place.
        let old = format!("# HALITE_CRON_IDENTIFIER:backup\n0 3 * * * /old/backup\n{other}");
        let p = plan(f.as_ref(), Some(&old)).unwrap();
        assert_eq!(
            p.changes["root"]["updated"],
            "15 2 * * * /usr/local/bin/backup"
        );
        assert_eq!(
            p.data::<Crontab>().unwrap().content,
            format!("{job}{other}")
        );
        // Without an identifier, an unmarked line running the command is adopted.
        let f = state(
            "present",
            "run-me",
            json!({"special": "@reboot", "user": "alice"}),
        )
        .unwrap();
        let p = plan(f.as_ref(), Some("*/5 * * * * run-me\n")).unwrap();
        assert_eq!(
            p.data::<Crontab>().unwrap().content,
            "# HALITE_CRON_IDENTIFIER:run-me\n@reboot run-me\n"
        );
        assert_eq!(p.changes["alice"]["updated"], "@reboot run-me");
    }

    #[test]
    fn absent_removes_the_marked_job_only() {
        let f = state("absent", "x", json!({"identifier": "backup"})).unwrap();
        let p = plan(
            f.as_ref(),
            Some("# HALITE_CRON_IDENTIFIER:backup\n1 2 * * * b\n0 * * * * other\n"),
        )
        .unwrap();
        assert_eq!(p.data::<Crontab>().unwrap().content, "0 * * * * other\n");
        assert!(plan(f.as_ref(), None).unwrap().is_noop());
        assert!(plan(f.as_ref(), Some("0 * * * * other\n"))
            .unwrap()
            .is_noop());
    }

    #[test]
    fn bad_input_is_an_error() {
        let err = |name: &str, args: Value| state("present", name, args).err().unwrap();
        assert!(err("a\nb", json!({})).contains("one non-empty line"));
        assert!(err("x", json!({"minute": "1 2"})).contains("not a cron field"));
        assert!(err("x", json!({"hour": "$(id)"})).contains("not a cron field"));
        assert!(err("x", json!({"special": "@often"})).contains("special"));
        assert!(err("x", json!({"user": "-r"})).contains("may not start"));
        let f = state("present", "x", json!({"user": "ghost"})).unwrap();
        let e = f
            .plan(Output {
                text: &format!("{TAG} nouser\n"),
                rc: 0,
            })
            .unwrap_err();
        assert_eq!(e, "User ghost does not exist");
    }
}
