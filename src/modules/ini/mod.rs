//! `ini.options_present` and `ini.options_absent`: options of an ini file,
//! as Salt's `salt.states.ini_manage` sets and removes them.
//!
//! The probe reads the file; the plan replays Salt's edits on its model
//! of the file ([`model`]) on the controller, so `test=True` knows the
//! exact new text and `changes`; the apply writes it only if the file is
//! still what was read. Salt rewrites (normalizes) the file on every run,
//! even when no option changes; halite writes only when one does.

mod model;

use serde::Deserialize;
use serde_json::{json, Map};

use super::conffile;
use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;
use model::{Item, Section, Syntax};

pub const MODULE: ModuleDef = ModuleDef {
    name: "ini",
    functions: &[
        FnDef {
            name: "options_present",
            doc: "Set options in the ini file `name`: sections {section: {key: value}, key: value} (separator, strict, no_spaces).",
            args: &["sections", "separator", "strict", "encoding", "no_spaces"],
            build: build_present,
        },
        FnDef {
            name: "options_absent",
            doc: "Remove options from the ini file `name`: sections {section: [key, ...]} (separator).",
            args: &["sections", "separator", "encoding"],
            build: build_absent,
        },
    ],
    ledger: &[],
};

const TAG: &str = "halite-ini:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    sections: Option<Map<String, Value>>,
    separator: Option<String>,
    #[serde(default)]
    strict: bool,
    encoding: Option<String>,
    #[serde(default)]
    no_spaces: bool,
}

/// A present state's declaration: top-level options, then sections.
#[derive(Debug)]
enum Want {
    Present {
        options: Vec<(String, String)>,
        sections: Vec<(String, Vec<(String, String)>)>,
        strict: bool,
    },
    Absent(Vec<(String, Vec<String>)>),
}

#[derive(Debug)]
struct Ini {
    name: String,
    syntax: Syntax,
    want: Want,
}

/// The new text and the hash of the text read.
#[derive(Debug, PartialEq)]
struct Todo {
    content: String,
    sha256: Option<String>,
}

/// Python's `str()` of a scalar.
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, true)
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, false)
}

fn build(chunk: &Chunk, present: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    if !chunk.name.starts_with('/') || chunk.name.contains(['\0', '\n']) {
        return Err(err(format!("`{}` is not an absolute path", chunk.name)));
    }
    if let Some(e) = a.encoding.as_deref() {
        if !matches!(e.to_lowercase().as_str(), "utf-8" | "utf8") {
            return Err(err(format!("encoding `{e}` is not supported (utf-8 only)")));
        }
    }
    let sep = a.separator.unwrap_or_else(|| "=".into());
    if sep.is_empty() || sep.contains('\n') {
        return Err(err(format!("separator `{sep}` must be one line")));
    }
    let syntax = Syntax::new(&sep, a.no_spaces).map_err(err)?;
    let scalar = |what: &str, v: &Value| {
        py_str(v).ok_or_else(|| err(format!("{what}: `{v}` is not a string or number")))
    };
    let sections = a.sections.unwrap_or_default();
    let want = if present {
        let (mut options, mut secs) = (Vec::new(), Vec::new());
        for (k, v) in &sections {
            match v {
                Value::Object(body) => {
                    let mut b = Vec::new();
                    for (bk, bv) in body {
                        b.push((bk.clone(), scalar(&format!("{k}.{bk}"), bv)?));
                    }
                    secs.push((k.clone(), b));
                }
                v => options.push((k.clone(), scalar(k, v)?)),
            }
        }
        Want::Present {
            options,
            sections: secs,
            strict: a.strict,
        }
    } else {
        if a.strict || a.no_spaces {
            return Err(err("ini.options_absent takes no strict or no_spaces".into()));
        }
        let mut out = Vec::new();
        for (k, v) in &sections {
            let Value::Array(keys) = v else {
                return Err(err(format!(
                    "sections: `{k}` must be a list of keys to remove"
                )));
            };
            let keys = keys
                .iter()
                .map(|key| scalar(k, key))
                .collect::<Result<Vec<_>, _>>()?;
            out.push((k.clone(), keys));
        }
        Want::Absent(out)
    };
    Ok(Box::new(Ini {
        name: chunk.name.clone(),
        syntax,
        want,
    }))
}

/// `" in section NAME"`, or nothing for the top level.
fn descr(section: &str) -> String {
    if section.is_empty() {
        String::new()
    } else {
        format!(" in section {section}")
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// `strict`: the top-level options and the sections not declared go
/// (Salt's `Removed key` / `Removed section`).
fn strict_top(
    ini: &mut Section,
    cur: &Map<String, Value>,
    options: &[(String, String)],
    sections: &[(String, Vec<(String, String)>)],
    changes: &mut Map<String, Value>,
    comment: &mut String,
) {
    for (k, v) in cur {
        let declared_option = options.iter().any(|(o, _)| o == k);
        let declared_section = sections.iter().any(|(s, _)| s == k);
        match v {
            Value::Object(_) if !declared_section => {
                comment.push_str(&format!("Removed section {k}.\n"));
                ini.pop(k);
                changes.insert(k.clone(), json!({"before": v, "after": null}));
            }
            Value::String(_) if !declared_option => {
                comment.push_str(&format!("Removed key {k}.\n"));
                ini.pop(k);
                changes.insert(k.clone(), json!({"before": v, "after": null}));
            }
            _ => {}
        }
    }
}

impl Ini {
    /// Salt's `options_present` on the model: `changes`, and the comment
    /// its test mode gives.
    fn present(
        &self,
        ini: &mut Section,
        options: &[(String, String)],
        sections: &[(String, Vec<(String, String)>)],
        strict: bool,
    ) -> (Map<String, Value>, String) {
        let syn = &self.syntax;
        let cur = ini.as_dict();
        let cur = cur.as_object().cloned().unwrap_or_default();
        let mut changes = Map::new();
        let mut comment = String::new();
        for (k, v) in options {
            let same = cur.get(k).and_then(Value::as_str) == Some(v.as_str());
            comment.push_str(&format!(
                "{} key {k}.\n",
                if same { "Unchanged" } else { "Changed" }
            ));
            if let Some(c) = ini.update_option(k, v, syn) {
                changes.insert(k.clone(), c);
            }
        }
        if strict {
            strict_top(ini, &cur, options, sections, &mut changes, &mut comment);
        }
        for (name, body) in sections {
            let d = descr(name);
            let original = cur
                .get(name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut sec = Map::new();
            if strict {
                for (k, v) in &original {
                    if body.iter().any(|(b, _)| b == k) {
                        continue;
                    }
                    comment.push_str(&format!("Deleted key {k}{d}.\n"));
                    if let Some(Item::Section(s)) = ini
                        .entries
                        .iter_mut()
                        .find(|(n, _)| n == name)
                        .map(|(_, i)| i)
                    {
                        s.pop(k);
                    }
                    sec.insert(k.clone(), json!({"before": v, "after": null}));
                }
            }
            for (k, v) in body {
                let same = text_of(original.get(k)).as_deref() == Some(v.as_str());
                comment.push_str(&format!(
                    "{} key {k}{d}.\n",
                    if same { "Unchanged" } else { "Changed" }
                ));
            }
            if let Some(Value::Object(c)) = ini.update_section(name, body, syn) {
                sec.extend(c);
            }
            if !sec.is_empty() {
                changes.insert(name.clone(), Value::Object(sec));
            }
        }
        (changes, comment)
    }

    /// Salt's `options_absent` on the model.
    fn absent(
        &self,
        ini: &mut Section,
        sections: &[(String, Vec<String>)],
    ) -> (Map<String, Value>, String) {
        let mut changes = Map::new();
        let mut comment = String::new();
        for (name, keys) in sections {
            let d = descr(name);
            for k in keys {
                let removed = match ini.entries.iter_mut().find(|(n, _)| n == name) {
                    Some((_, Item::Section(s))) => s.pop(k),
                    _ => ini.pop(k),
                };
                match removed {
                    Some(Item::Text(v)) => {
                        comment.push_str(&format!("Deleted key {k}{d}.\n"));
                        let entry = changes.entry(name.clone()).or_insert_with(|| json!({}));
                        entry
                            .as_object_mut()
                            .expect("an object")
                            .insert(k.clone(), json!(v));
                    }
                    Some(Item::Section(s)) => {
                        // A section named as a key of the top level: Salt removes it too.
                        comment.push_str(&format!("Deleted key {k}{d}.\n"));
                        let entry = changes.entry(name.clone()).or_insert_with(|| json!({}));
                        entry
                            .as_object_mut()
                            .expect("an object")
                            .insert(k.clone(), s.as_dict());
                    }
                    None => comment.push_str(&format!("Key {k}{d} does not exist.\n")),
                }
            }
        }
        if comment.is_empty() {
            comment = "No changes detected.".into();
        }
        (changes, comment)
    }
}

impl StateFunction for Ini {
    fn probe(&self) -> String {
        conffile::probe(&quote(&self.name), TAG)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let (read, _) = conffile::parse(out.text, TAG, &self.name)?;
        let old = read.text.clone().unwrap_or_default();
        let mut ini = model::parse(&old, &self.syntax);
        let (changes, comment) = match &self.want {
            Want::Present {
                options,
                sections,
                strict,
            } => self.present(&mut ini, options, sections, *strict),
            Want::Absent(sections) => self.absent(&mut ini, sections),
        };
        if changes.is_empty() {
            return Ok(Plan::noop("No anomaly detected"));
        }
        Ok(
            Plan::change(Value::Object(changes), comment).with_data(Todo {
                content: model::write(&ini, &self.syntax),
                sha256: read.sha256(),
            }),
        )
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let t = plan.data::<Todo>()?;
        Ok(conffile::write(
            &quote(&self.name),
            &t.content,
            t.sha256.as_deref(),
        ))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Todo>() {
            return e.into();
        }
        super::finish_with(plan, out, "Changes take effect".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("ini", function, "/etc/x.ini", args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("ini", function).unwrap().build)(&chunk, &ctx)
    }

    fn plan(f: &dyn StateFunction, text: Option<&str>) -> Plan {
        let out = match text {
            None => format!("{TAG} missing\n"),
            Some(t) => format!(
                "{TAG} content\n{}\n{TAG} end\n",
                data_encoding::BASE64.encode(t.as_bytes())
            ),
        };
        f.plan(Output { text: &out, rc: 0 }).unwrap()
    }

    #[test]
    fn present_sets_options_and_reports_as_salt_does() {
        let f = state(
            "options_present",
            json!({"sections": {"top": 1, "main": {"port": 8080, "host": "a"}, "new": {"k": true}}}),
        )
        .unwrap();
        let p = plan(f.as_ref(), Some("[main]\nport=80\nhost = a\n"));
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({
                "top": {"before": null, "after": "1"},
                "main": {"port": {"before": "80", "after": "8080"}},
                "new": {"before": null, "after": {"k": "True"}}
            })
        );
        assert_eq!(
            p.comment,
            "Changed key top.\nChanged key port in section main.\nUnchanged key host in section main.\nChanged key k in section new.\n"
        );
        let text = &p.data::<Todo>().unwrap().content;
        assert_eq!(
            text,
            "top = 1\n\n[main]\nport = 8080\nhost = a\n\n[new]\nk = True\n"
        );
        assert!(plan(f.as_ref(), Some(text)).is_noop());
    }

    #[test]
    fn strict_removes_what_is_not_declared() {
        let f = state(
            "options_present",
            json!({"strict": true, "sections": {"main": {"a": "1"}}}),
        )
        .unwrap();
        let p = plan(
            f.as_ref(),
            Some("x = 1\n[main]\na = 1\nb = 2\n[old]\nc = 3\n"),
        );
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({
                "x": {"before": "1", "after": null},
                "old": {"before": {"c": "3"}, "after": null},
                "main": {"b": {"before": "2", "after": null}}
            })
        );
        assert_eq!(p.data::<Todo>().unwrap().content, "[main]\na = 1\n");
    }

    #[test]
    fn absent_removes_listed_keys() {
        let f = state("options_absent", json!({"sections": {"main": ["a", "zz"]}})).unwrap();
        let p = plan(f.as_ref(), Some("[main]\na = 1\nb = 2\n"));
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"main": {"a": "1"}})
        );
        assert_eq!(
            p.comment,
            "Deleted key a in section main.\nKey zz in section main does not exist.\n"
        );
        assert_eq!(p.data::<Todo>().unwrap().content, "[main]\nb = 2\n");
        let p = plan(f.as_ref(), None);
        assert!(p.is_noop());
        assert!(state("options_absent", json!({"sections": {"main": "a"}}))
            .unwrap_err()
            .contains("list of keys"));
    }
}
