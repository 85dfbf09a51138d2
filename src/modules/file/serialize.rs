//! `file.serialize`: a data set written as a YAML or JSON file, as Salt's
//! `salt.states.file.serialize` writes it (`json.dumps(indent=2,
//! sort_keys=True)`, PyYAML's block style with sorted keys; then a
//! newline), through `file.managed`'s probe, plan and write.
//!
//! `dataset_pillar` is read from the host's pillar when the state is
//! built. With `merge_if_exists`, the existing file (shipped by the probe)
//! is parsed on the controller, the data set merged into it as Salt's
//! `merge_recurse` does (mappings recursively, everything else replaced),
//! and the `changes` are Salt's `recursive_diff` of the two.

use serde::Deserialize;
use serde_json::json;

use super::managed;
use super::{check_name, parse_facts, Kind};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::yaml::emit::{Flow, Options};
use crate::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    dataset: Option<Value>,
    dataset_pillar: Option<String>,
    formatter: Option<String>,
    serializer: Option<String>,
    #[serde(default)]
    merge_if_exists: bool,
    user: Option<Value>,
    group: Option<Value>,
    mode: Option<Value>,
    #[serde(default)]
    makedirs: bool,
    backup: Option<Value>,
    show_changes: Option<bool>,
    create: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Yaml,
    Json,
}

#[derive(Debug)]
struct Serialize {
    name: String,
    dataset: Value,
    format: Format,
    merge: bool,
    /// `file.managed`'s arguments but `contents`.
    managed: serde_json::Map<String, Value>,
}

/// The file's text and `file.managed`'s plan for it.
#[derive(Debug, PartialEq)]
struct Todo {
    contents: String,
    inner: Plan,
    /// `changes.diff` when merging (Salt's `recursive_diff`).
    merge_diff: Option<Value>,
}

pub fn build(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = crate::modules::typed_args(chunk)?;
    let err = |m: &str| format!("{}: {m}", chunk.describe());
    let name = check_name(chunk)?;
    if a.serializer.is_some() && a.formatter.is_some() {
        return Err(err("Only one of serializer and formatter are allowed"));
    }
    let format = match a
        .serializer
        .or(a.formatter)
        .unwrap_or_else(|| "yaml".into())
        .to_lowercase()
        .as_str()
    {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        other => {
            return Err(err(&format!(
                "the {other} serializer is not available (yaml, json)"
            )))
        }
    };
    let truthy = |v: &Option<Value>| v.as_ref().is_some_and(|v| !is_falsy(v));
    if truthy(&a.dataset) && a.dataset_pillar.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(err(
            "Only one of 'dataset' and 'dataset_pillar' is permitted",
        ));
    }
    let dataset = match (&a.dataset_pillar, a.dataset) {
        (Some(key), _) if !key.is_empty() => {
            let pillar = ctx.renderer.map(|r| r.pillar()).unwrap_or(&Value::Null);
            crate::data::traverse(pillar, key, ":").cloned()
        }
        (_, d) => d,
    };
    let dataset = match dataset {
        None | Some(Value::Null) => {
            return Err(err("Neither 'dataset' nor 'dataset_pillar' was defined"))
        }
        Some(d) => d,
    };
    let mut managed = serde_json::Map::new();
    managed.insert("contents_newline".into(), json!(false));
    managed.insert("makedirs".into(), json!(a.makedirs));
    for (k, v) in [
        ("user", a.user),
        ("group", a.group),
        ("mode", a.mode),
        ("backup", a.backup),
        ("show_changes", a.show_changes.map(Value::Bool)),
        ("create", a.create.map(Value::Bool)),
    ] {
        if let Some(v) = v {
            managed.insert(k.into(), v);
        }
    }
    let s = Serialize {
        name,
        dataset,
        format,
        merge: a.merge_if_exists,
        managed,
    };
    // Arguments file.managed refuses fail here, not at plan time.
    s.inner(&s.text(&s.dataset)?, chunk)?;
    Ok(Box::new(s))
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Salt's `dictupdate.merge_recurse`: `new` into `old`, mappings merged
/// recursively, everything else replaced.
fn merge_recurse(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = o.clone();
            for (k, v) in n {
                let merged = match o.get(k) {
                    Some(ov) => merge_recurse(ov, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, n) => n.clone(),
    }
}

/// Salt's `dictdiffer.recursive_diff(old, new).diffs`.
fn recursive_diff(
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
) -> Value {
    const NULL: &str = "<_null_>";
    let mut out = serde_json::Map::new();
    for (k, v) in new {
        match old.get(k) {
            None => {
                out.insert(k.clone(), json!({"new": v, "old": NULL}));
            }
            Some(Value::Object(o)) if v.is_object() => {
                let d = recursive_diff(o, v.as_object().expect("an object"));
                if d.as_object().is_some_and(|d| !d.is_empty()) {
                    out.insert(k.clone(), d);
                }
            }
            Some(o) if o != v => {
                out.insert(k.clone(), json!({"new": v, "old": o}));
            }
            Some(_) => {}
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            out.insert(k.clone(), json!({"new": NULL, "old": v}));
        }
    }
    Value::Object(out)
}

impl Serialize {
    /// The file's text, as Salt's serializer writes it.
    fn text(&self, data: &Value) -> Result<String, String> {
        let body = match self.format {
            Format::Json => crate::render::dump::json_dumps(data, true, Some(2), true),
            // Salt's `file.serialize`: block style, non-ASCII escaped
            // (halite takes no `encoding`, which is what lets Salt keep it).
            Format::Yaml => {
                let text = crate::yaml::emit::dump(data, Options::new(Flow::Never));
                text.strip_suffix('\n').unwrap_or(&text).to_string()
            }
        };
        Ok(format!("{body}\n"))
    }

    fn inner(&self, contents: &str, chunk: &Chunk) -> Result<Box<dyn StateFunction>, String> {
        let mut args = self.managed.clone();
        args.insert("contents".into(), json!(contents));
        let inner = Chunk {
            args,
            function: "managed".into(),
            ..chunk.clone()
        };
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        managed::build(&inner, &ctx)
    }

    fn chunk(&self) -> Chunk {
        Chunk::standalone("file", "serialize", &self.name, json!({}))
    }

    /// The existing file's data, when merging into it.
    fn existing(&self, out: Output) -> Result<Option<Value>, String> {
        if !self.merge {
            return Ok(None);
        }
        let f = parse_facts(out.text)?;
        if f.kind != Kind::File {
            return Ok(None);
        }
        let bytes = f
            .content
            .ok_or_else(|| format!("{} is too large to merge into (over 256 KiB)", self.name))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "Failed to deserialize existing data: {} is not UTF-8",
                self.name
            )
        })?;
        let parsed: Result<Value, String> = match self.format {
            Format::Json => serde_json::from_str(&text).map_err(|e| e.to_string()),
            Format::Yaml => serde_yaml::from_str(&text).map_err(|e| e.to_string()),
        };
        parsed
            .map(|v| (!v.is_null()).then_some(v))
            .map_err(|e| format!("Failed to deserialize existing data: {e}"))
    }
}

impl StateFunction for Serialize {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    fn probe(&self) -> String {
        super::probe_snippet(&self.name, true)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let name = &self.name;
        let existing = self.existing(out)?;
        let data = match &existing {
            Some(old) => {
                let merged = merge_recurse(old, &self.dataset);
                if &merged == old {
                    return Ok(Plan::noop(format!(
                        "The file {name} is in the correct state"
                    )));
                }
                merged
            }
            None => self.dataset.clone(),
        };
        let contents = self.text(&data)?;
        let inner = self.inner(&contents, &self.chunk())?.plan(out)?;
        if inner.is_noop() {
            return Ok(inner);
        }
        let mut plan = Plan {
            comment: format!("Dataset will be serialized and stored into {name}"),
            ..inner.clone()
        };
        let merge_diff = match (&existing, &data) {
            (Some(Value::Object(o)), Value::Object(n)) => Some(recursive_diff(o, n)),
            _ => None,
        };
        if let Some(d) = &merge_diff {
            plan.changes.insert("diff".into(), d.clone());
        } else if plan.changes.get("diff") == Some(&json!("New file")) {
            // Salt's test mode names a new file so; its apply says "New file".
            plan.changes.remove("diff");
            plan.changes.insert("newfile".into(), json!(name));
        }
        Ok(plan.with_data(Todo {
            contents,
            inner,
            merge_diff,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let t = plan.data::<Todo>()?;
        match self.inner(&t.contents, &self.chunk()) {
            Ok(f) => f.apply(&t.inner),
            // Built once already with the same arguments: cannot fail.
            Err(_) => Err(PlanMismatch {
                expected: "file.managed",
                found: "arguments file.managed refused",
            }),
        }
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let t = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let Ok(f) = self.inner(&t.contents, &self.chunk()) else {
            return Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment: "internal error: file.managed refused its arguments".into(),
            };
        };
        let mut done = f.finish(&t.inner, out);
        if let (true, Some(d)) = (done.result, &t.merge_diff) {
            done.changes.insert("diff".into(), d.clone());
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("file", "serialize", "/srv/x", args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        build(&chunk, &ctx)
    }

    fn facts(content: Option<&str>) -> String {
        match content {
            None => "halite-file: parent dir\nhalite-file: type missing\n".into(),
            Some(c) => format!(
                "halite-file: parent dir\nhalite-file: type file\nhalite-file: stat 0 0 root root 644\nhalite-file: size {}\nhalite-file: content\n{}\nhalite-file: end\n",
                c.len(),
                data_encoding::BASE64.encode(c.as_bytes())
            ),
        }
    }

    fn plan(f: &dyn StateFunction, content: Option<&str>) -> Plan {
        f.plan(Output {
            text: &facts(content),
            rc: 0,
        })
        .unwrap()
    }

    #[test]
    fn json_and_yaml_text_as_salt_writes_them() {
        let data = json!({"name": "app", "port": 8080, "tags": ["a"], "n": {"z": 1, "a": [1, {"k": "v"}]}});
        let f = state(json!({"formatter": "json", "dataset": data})).unwrap();
        let p = plan(f.as_ref(), None);
        assert_eq!(
            p.comment,
            "Dataset will be serialized and stored into /srv/x"
        );
        assert_eq!(
            p.data::<Todo>().unwrap().contents,
            "{\n  \"n\": {\n    \"a\": [\n      1,\n      {\n        \"k\": \"v\"\n      }\n    ],\n    \"z\": 1\n  },\n  \"name\": \"app\",\n  \"port\": 8080,\n  \"tags\": [\n    \"a\"\n  ]\n}\n"
        );
        let f = state(json!({"dataset": data})).unwrap();
        let text = plan(f.as_ref(), None)
            .data::<Todo>()
            .unwrap()
            .contents
            .clone();
        assert_eq!(
            text,
            "n:\n  a:\n  - 1\n  - k: v\n  z: 1\nname: app\nport: 8080\ntags:\n- a\n"
        );
        let same = plan(f.as_ref(), Some(&text));
        assert!(same.is_noop());
        assert_eq!(same.comment, "File /srv/x is in the correct state");
    }

    #[test]
    fn merge_if_exists_merges_and_diffs_as_salt_does() {
        let f = state(json!({"formatter": "json", "merge_if_exists": true,
                             "dataset": {"added": 1, "keep": {"inner": "new"}}}))
        .unwrap();
        let p = plan(
            f.as_ref(),
            Some("{\"old\": true, \"keep\": {\"other\": 2, \"inner\": \"old\"}}\n"),
        );
        assert_eq!(
            p.changes["diff"],
            json!({"added": {"new": 1, "old": "<_null_>"}, "keep": {"inner": {"new": "new", "old": "old"}}})
        );
        assert_eq!(
            p.data::<Todo>().unwrap().contents,
            "{\n  \"added\": 1,\n  \"keep\": {\n    \"inner\": \"new\",\n    \"other\": 2\n  },\n  \"old\": true\n}\n"
        );
        let same = plan(
            f.as_ref(),
            Some("{\"added\": 1, \"keep\": {\"inner\": \"new\"}, \"x\": 0}"),
        );
        assert_eq!(same.comment, "The file /srv/x is in the correct state");
        assert!(same.is_noop());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(state(json!({})).unwrap_err().contains("Neither 'dataset'"));
        assert!(state(json!({"dataset": {"a": 1}, "formatter": "toml"}))
            .unwrap_err()
            .contains("not available"));
        assert!(
            state(json!({"dataset": {"a": 1}, "formatter": "json", "serializer": "json"}))
                .unwrap_err()
                .contains("Only one of serializer")
        );
        assert!(state(json!({"dataset": {"a": 1}, "dataset_pillar": "x"}))
            .unwrap_err()
            .contains("Only one of 'dataset'"));
    }
}
