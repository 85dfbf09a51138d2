//! `locale.present` and `locale.system`: a generated locale and the
//! system's `LANG`, as Salt's `salt.states.locale` with
//! `salt.modules.localemod` manage them on Debian-like hosts.
//!
//! `present`: the probe lists `locale -a` and whether the locale (with
//! its charmap, `en_US.UTF-8 UTF-8`) is in `/usr/share/i18n/SUPPORTED`;
//! locales compare as Salt normalizes them (`en_US.utf8`). The apply
//! uncomments (or appends) its line in `/etc/locale.gen` and runs
//! `locale-gen`. `system`: the probe reads `LANG` from `localectl` where
//! systemd runs, else `/etc/default/locale`; the apply uses `localectl
//! set-locale` (keeping the other variables), else `update-locale`.

use serde::Deserialize;
use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;

pub const MODULE: ModuleDef = ModuleDef {
    name: "locale",
    functions: &[
        FnDef {
            name: "present",
            doc: "Generate the locale `name` (e.g. en_US.UTF-8) unless it is available.",
            args: &[],
            build: build_present,
        },
        FnDef {
            name: "system",
            doc: "Set the system locale (LANG) to `name`.",
            args: &[],
            build: build_system,
        },
    ],
    ledger: &[],
};

const TAG: &str = "halite-locale:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

#[derive(Debug)]
struct Locale {
    name: String,
    system: bool,
}

/// The locale line for /etc/locale.gen (`present`), or the variables
/// `localectl set-locale` gets (`system`; empty: use update-locale).
#[derive(Debug, PartialEq)]
enum Todo {
    Generate(String),
    Set(Vec<String>),
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, false)
}

fn build_system(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, true)
}

fn build(chunk: &Chunk, system: bool) -> Result<Box<dyn StateFunction>, String> {
    let _: Args = super::typed_args(chunk)?;
    let name = chunk.name.clone();
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | ' '));
    if !ok || (system && name.contains(' ')) {
        return Err(format!(
            "{}: `{name}` is not a locale name like en_US.UTF-8",
            chunk.describe()
        ));
    }
    Ok(Box::new(Locale { name, system }))
}

/// Salt's `split_locale`: (language, territory, codeset, modifier, charmap).
fn split(loc: &str) -> [String; 5] {
    let (rest, charmap) = loc.split_once(' ').unwrap_or((loc, ""));
    let (rest, modifier) = rest.split_once('@').unwrap_or((rest, ""));
    let (rest, codeset) = rest.split_once('.').unwrap_or((rest, ""));
    let (language, territory) = rest.split_once('_').unwrap_or((rest, ""));
    [language, territory, codeset, modifier, charmap].map(str::to_string)
}

fn join(c: &[String; 5]) -> String {
    let mut s = c[0].clone();
    for (sep, part) in [("_", &c[1]), (".", &c[2]), ("@", &c[3]), (" ", &c[4])] {
        if !part.is_empty() {
            s.push_str(sep);
            s.push_str(part);
        }
    }
    s
}

/// Salt's `normalize_locale`, the form `locale -a` prints.
fn normalize(loc: &str) -> String {
    let mut c = split(loc);
    c[1] = c[1].to_uppercase();
    c[2] = c[2].to_lowercase().replace('-', "");
    c[4] = String::new();
    join(&c)
}

/// The line Salt looks for in SUPPORTED and locale.gen: the charmap
/// defaults to the codeset.
fn gen_line(loc: &str) -> String {
    let mut c = split(loc);
    if c[4].is_empty() {
        c[4] = c[2].clone();
    }
    join(&c)
}

impl Locale {
    fn probe_present(&self) -> String {
        format!(
            "locale -a 2>/dev/null | sed 's/^/{TAG} avail /'\n\
             if grep -qx -- {l} /usr/share/i18n/SUPPORTED 2>/dev/null; then echo '{TAG} supported'; fi\ntrue\n",
            l = quote(&gen_line(&self.name))
        )
    }

    fn probe_system(&self) -> String {
        format!(
            "if [ -d /run/systemd/system ] && out=$(localectl status 2>/dev/null); then\n\
             echo '{TAG} localectl'\n\
             printf '%s\\n' \"$out\" | sed -n '/System Locale:/,/:/p' | sed 's/.*System Locale://' | grep '=' | sed 's/^ */{TAG} var /'\n\
             elif [ -f /etc/default/locale ]; then sed -n 's/^\\(LANG=.*\\)/{TAG} var \\1/p' /etc/default/locale | tr -d '\"'\n\
             fi\ntrue\n"
        )
    }

    fn plan_present(&self, text: &str) -> Result<Plan, String> {
        let name = &self.name;
        let want = normalize(name);
        let tags: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(TAG))
            .map(str::trim)
            .collect();
        if tags
            .iter()
            .filter_map(|t| t.strip_prefix("avail "))
            .any(|a| normalize(a.trim()) == want)
        {
            return Ok(Plan::noop(format!("Locale {name} is already present")));
        }
        if !tags.contains(&"supported") {
            return Err(format!(
                "Failed to generate locale {name}: {} is not in /usr/share/i18n/SUPPORTED",
                gen_line(name)
            ));
        }
        Ok(Plan::change(
            json!({"locale": name}),
            format!("Locale {name} needs to be generated"),
        )
        .with_data(Todo::Generate(gen_line(name))))
    }

    fn plan_system(&self, text: &str) -> Plan {
        let name = &self.name;
        let tags: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(TAG))
            .map(str::trim)
            .collect();
        let vars: Vec<&str> = tags.iter().filter_map(|t| t.strip_prefix("var ")).collect();
        let lang = vars
            .iter()
            .find_map(|v| v.strip_prefix("LANG="))
            .unwrap_or("");
        if lang == name {
            return Plan::noop(format!("System locale {name} already set"));
        }
        let set = if tags.contains(&"localectl") {
            let mut v: Vec<String> = vars
                .iter()
                .filter(|v| !v.starts_with("LANG="))
                .map(|v| v.to_string())
                .collect();
            v.insert(0, format!("LANG={name}"));
            v
        } else {
            Vec::new()
        };
        Plan::change(
            json!({"locale": name}),
            format!("System locale {name} needs to be set"),
        )
        .with_data(Todo::Set(set))
    }
}

impl StateFunction for Locale {
    fn probe(&self) -> String {
        if self.system {
            self.probe_system()
        } else {
            self.probe_present()
        }
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        if self.system {
            Ok(self.plan_system(out.text))
        } else {
            self.plan_present(out.text)
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        Ok(match plan.data::<Todo>()? {
            Todo::Generate(line) => {
                let l = quote(line);
                format!(
                    "if [ -f /etc/locale.gen ]; then\n\
                     if grep -qx -- {l} /etc/locale.gen; then :\n\
                     elif grep -q \"^[[:space:]]*#[[:space:]]*$(printf '%s' {l} | sed 's/[.[\\*^$/]/\\\\&/g')[[:space:]]*\\$\" /etc/locale.gen; then\n\
                     sed -i \"s/^[[:space:]]*#[[:space:]]*$(printf '%s' {l} | sed 's/[.[\\*^$/]/\\\\&/g')[[:space:]]*\\$/$(printf '%s' {l} | sed 's/[&/\\]/\\\\&/g')/\" /etc/locale.gen || exit 1\n\
                     else printf '%s\\n' {l} >> /etc/locale.gen || exit 1; fi\n\
                     fi\nlocale-gen || exit 1\n"
                )
            }
            Todo::Set(vars) if !vars.is_empty() => format!(
                "localectl set-locale {} || exit 1\n",
                vars.iter().map(|v| quote(v)).collect::<Vec<_>>().join(" ")
            ),
            Todo::Set(_) => format!(
                "command -v update-locale >/dev/null 2>&1 || {{ echo 'Cannot set locale: \"update-locale\" was not found.'; exit 1; }}\nupdate-locale {} || exit 1\n",
                quote(&format!("LANG={}", self.name))
            ),
        })
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let done = match plan.data::<Todo>() {
            Ok(Todo::Generate(_)) => format!("Generated locale {}", self.name),
            Ok(Todo::Set(_)) => format!("Set system locale {}", self.name),
            Err(e) => return e.into(),
        };
        let mut a = super::finish_with(plan, out, done);
        if !a.result {
            a.comment = if self.system {
                format!(
                    "Failed to set system locale to {}: {}",
                    self.name,
                    out.text.trim()
                )
            } else {
                format!(
                    "Failed to generate locale {}: {}",
                    self.name,
                    out.text.trim()
                )
            };
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, name: &str) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("locale", function, name, json!({}));
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("locale", function).unwrap().build)(&chunk, &ctx)
    }

    #[test]
    fn names_normalize_as_salt_does() {
        assert_eq!(normalize("en_us.UTF-8"), "en_US.utf8");
        assert_eq!(
            normalize("ca_ES.UTF-8@valencia UTF-8"),
            "ca_ES.utf8@valencia"
        );
        assert_eq!(gen_line("en_US.UTF-8"), "en_US.UTF-8 UTF-8");
        assert_eq!(gen_line("C"), "C");
    }

    #[test]
    fn present_generates_only_a_missing_supported_locale() {
        let f = state("present", "en_US.UTF-8").unwrap();
        let plan = |t: &str| f.plan(Output { text: t, rc: 0 });
        let p = plan(&format!("{TAG} avail C.utf8\n{TAG} avail en_US.utf8\n")).unwrap();
        assert_eq!(p.comment, "Locale en_US.UTF-8 is already present");
        let p = plan(&format!("{TAG} avail C.utf8\n{TAG} supported\n")).unwrap();
        assert_eq!(p.changes["locale"], "en_US.UTF-8");
        assert_eq!(
            p.data::<Todo>().unwrap(),
            &Todo::Generate("en_US.UTF-8 UTF-8".into())
        );
        assert!(plan(&format!("{TAG} avail C.utf8\n"))
            .unwrap_err()
            .contains("not in /usr/share/i18n/SUPPORTED"));
    }

    #[test]
    fn system_keeps_the_other_variables() {
        let f = state("system", "C").unwrap();
        let text =
            format!("{TAG} localectl\n{TAG} var LANG=C.UTF-8\n{TAG} var LC_TIME=en_GB.UTF-8\n");
        let p = f.plan(Output { text: &text, rc: 0 }).unwrap();
        assert_eq!(p.comment, "System locale C needs to be set");
        assert_eq!(
            p.data::<Todo>().unwrap(),
            &Todo::Set(vec!["LANG=C".into(), "LC_TIME=en_GB.UTF-8".into()])
        );
        let same = format!("{TAG} var LANG=C\n");
        assert!(f.plan(Output { text: &same, rc: 0 }).unwrap().is_noop());
        assert!(state("system", "a;b").unwrap_err().contains("not a locale"));
    }
}
