//! `file.accumulated`: text that `file.accumulated` states collect for a
//! file, handed to the `file.managed` and `file.blockreplace` states of
//! that file they are ordered before (Salt's accumulators).
//!
//! In Salt the accumulated states store their text while the run goes,
//! and `file.managed` reads it when it renders its template. halite
//! renders templates on the controller when the state tree is compiled,
//! so the text flows at compile time instead: [`feed`] walks the compiled
//! states in execution order and gives each `file.managed` its
//! `accumulator` template variable (`{accumulator name: [text, ...]}`,
//! in its `context`, as Salt does) and each `file.blockreplace` its
//! accumulated lines after its `content`. The accumulated state itself
//! changes nothing on the host: it reports the charge, or fails when no
//! file state requires or watches it (Salt's "Orphaned accumulator").

use serde::Deserialize;
use serde_json::{json, Map};

use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::{Chunk, Kind};
use crate::Value;

/// The argument [`feed`] gives an accumulated state (never from an SLS:
/// the compiler refuses arguments file.accumulated does not declare).
pub const FED: &str = "__accumulated__";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    filename: String,
    text: Value,
    #[serde(rename = "__accumulated__", default)]
    fed: Option<Fed>,
}

/// What [`feed`] found out about an accumulated state.
#[derive(Debug, Deserialize, PartialEq)]
struct Fed {
    /// A file state requires or watches it.
    feeds: bool,
    /// It added text not already accumulated.
    charged: bool,
}

#[derive(Debug)]
struct Accumulated {
    name: String,
    filename: String,
    describe: String,
    fed: Option<Fed>,
}

pub fn build(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = crate::modules::typed_args(chunk)?;
    texts(&a.text).map_err(|m| format!("{}: {m}", chunk.describe()))?;
    if a.filename.is_empty() {
        return Err(format!("{}: filename must not be empty", chunk.describe()));
    }
    Ok(Box::new(Accumulated {
        name: chunk.name.clone(),
        filename: a.filename,
        describe: format!("{}:{}", chunk.sls, chunk.id),
        fed: a.fed,
    }))
}

/// `text` as a list of chunks: one string, or a list (of strings, or of
/// mappings for a template that wants them).
fn texts(text: &Value) -> Result<Vec<Value>, String> {
    match text {
        Value::String(_) | Value::Object(_) => Ok(vec![text.clone()]),
        Value::Array(a) => Ok(a.clone()),
        other => Err(format!("text `{other}` is not text or a list")),
    }
}

impl StateFunction for Accumulated {
    fn probe(&self) -> String {
        String::new()
    }

    fn plan_reads_host(&self) -> bool {
        false
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        match &self.fed {
            Some(Fed {
                feeds: true,
                charged,
            }) => Ok(Plan::noop(if *charged {
                format!(
                    "Accumulator {} for file {} was charged by text",
                    self.name, self.filename
                )
            } else {
                String::new()
            })),
            _ => Err(format!(
                "Orphaned accumulator {} in {}",
                self.name, self.describe
            )),
        }
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        Ok(String::new())
    }

    fn finish(&self, plan: &Plan, _: Output) -> Applied {
        Applied {
            result: true,
            changes: Map::new(),
            comment: plan.comment.clone(),
        }
    }
}

/// Whether chunk `k` requires or watches chunk `j`.
fn orders_after(k: &Chunk, j: usize) -> bool {
    k.requisites
        .iter()
        .any(|(kind, i)| *i == j && matches!(kind, Kind::Require | Kind::Watch))
}

/// The chunks as their functions must be built (`None`: as compiled):
/// each `file.managed` and `file.blockreplace` of a file given what the
/// `file.accumulated` states before it accumulated for that file, each
/// accumulated state told whether it feeds a file state and charged new
/// text. `Err`: text a blockreplace cannot take.
pub fn feed(chunks: &[Chunk]) -> Result<Vec<Option<Chunk>>, String> {
    let is = |c: &Chunk, f: &str| c.module == "file" && c.function == f;
    if !chunks.iter().any(|c| is(c, "accumulated")) {
        return Ok(vec![None; chunks.len()]);
    }
    // filename -> accumulator name -> (texts, indexes of its states), in
    // the order accumulators were first charged.
    type Accumulators = indexmap::IndexMap<String, (Vec<Value>, Vec<usize>)>;
    let mut data: indexmap::IndexMap<String, Accumulators> = indexmap::IndexMap::new();
    let mut out = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        if is(c, "accumulated") {
            let (Some(Value::String(filename)), Some(text)) =
                (c.args.get("filename"), c.args.get("text"))
            else {
                // build() reports the missing or mistyped argument.
                out.push(None);
                continue;
            };
            let feeds = chunks
                .iter()
                .any(|k| k.module == "file" && orders_after(k, i));
            let mut charged = false;
            if feeds {
                let acc = data
                    .entry(filename.clone())
                    .or_default()
                    .entry(c.name.clone())
                    .or_default();
                acc.1.push(i);
                for t in texts(text).unwrap_or_default() {
                    if !acc.0.contains(&t) {
                        acc.0.push(t);
                        charged = true;
                    }
                }
            }
            let mut fed = c.clone();
            fed.args
                .insert(FED.into(), json!({"feeds": feeds, "charged": charged}));
            out.push(Some(fed));
        } else if is(c, "managed") {
            out.push(data.get(&c.name).map(|acc| {
                let mut fed = c.clone();
                let accumulator: Map<String, Value> = acc
                    .iter()
                    .map(|(name, (texts, _))| (name.clone(), Value::Array(texts.clone())))
                    .collect();
                let mut context = match fed.args.remove("context") {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                context.insert("accumulator".into(), Value::Object(accumulator));
                fed.args.insert("context".into(), Value::Object(context));
                fed
            }));
        } else if is(c, "blockreplace") {
            let Some(acc) = data.get(&c.name) else {
                out.push(None);
                continue;
            };
            // The accumulators whose states this one requires or watches;
            // none: every accumulator of the file.
            let mine: Vec<&(Vec<Value>, Vec<usize>)> = acc
                .values()
                .filter(|(_, states)| states.iter().any(|j| orders_after(c, *j)))
                .collect();
            let chosen: Vec<&(Vec<Value>, Vec<usize>)> = if mine.is_empty() {
                acc.values().collect()
            } else {
                mine
            };
            let mut content = match c.args.get("content") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                // build() reports content that is not text.
                Some(_) => {
                    out.push(None);
                    continue;
                }
            };
            for t in chosen.iter().flat_map(|(texts, _)| texts) {
                let Value::String(line) = t else {
                    return Err(format!(
                        "{}: accumulated text `{t}` is not text",
                        c.describe()
                    ));
                };
                if !content.is_empty() {
                    content.push('\n');
                }
                content.push_str(line);
            }
            let mut fed = c.clone();
            fed.args.insert("content".into(), Value::String(content));
            out.push(Some(fed));
        } else {
            out.push(None);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            id: id.into(),
            sls: "demo".into(),
            ..Chunk::standalone("file", function, name, args)
        }
    }

    fn build_plan(c: &Chunk) -> Result<Plan, String> {
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        let f = build(c, &ctx)?;
        f.plan(Output { text: "", rc: 0 })
    }

    #[test]
    fn managed_gets_the_accumulator_in_its_context() {
        let a = chunk(
            "a",
            "accumulated",
            "extra",
            json!({"filename": "/etc/x", "text": ["one", "two"]}),
        );
        let b = chunk(
            "b",
            "accumulated",
            "extra",
            json!({"filename": "/etc/x", "text": "two"}),
        );
        let other = chunk(
            "o",
            "accumulated",
            "more",
            json!({"filename": "/etc/x", "text": "three"}),
        );
        let mut m = chunk(
            "m",
            "managed",
            "/etc/x",
            json!({"source": "salt://x", "template": "jinja", "context": {"k": 1}}),
        );
        m.requisites = vec![(Kind::Require, 0), (Kind::Watch, 1), (Kind::Require, 2)];
        let unrelated = chunk("u", "managed", "/etc/y", json!({}));
        let fed = feed(&[a, b, other, m, unrelated]).unwrap();
        assert_eq!(
            fed[3].as_ref().unwrap().args["context"],
            json!({"k": 1, "accumulator": {"extra": ["one", "two"], "more": ["three"]}})
        );
        assert!(fed[4].is_none());
        // The first charged text, the second only repeated it.
        let a = build_plan(fed[0].as_ref().unwrap()).unwrap();
        assert!(a.is_noop());
        assert_eq!(
            a.comment,
            "Accumulator extra for file /etc/x was charged by text"
        );
        assert_eq!(build_plan(fed[1].as_ref().unwrap()).unwrap().comment, "");
    }

    #[test]
    fn blockreplace_gets_its_own_accumulators_lines() {
        let a = chunk(
            "a",
            "accumulated",
            "first",
            json!({"filename": "/etc/x", "text": ["l1", "l2"]}),
        );
        let b = chunk(
            "b",
            "accumulated",
            "second",
            json!({"filename": "/etc/x", "text": "l3"}),
        );
        let mut one = chunk(
            "one",
            "blockreplace",
            "/etc/x",
            json!({"marker_start": "#s", "marker_end": "#e", "content": "c"}),
        );
        one.requisites = vec![(Kind::Require, 0)];
        let mut all = chunk(
            "all",
            "blockreplace",
            "/etc/x",
            json!({"marker_start": "#s", "marker_end": "#e"}),
        );
        all.requisites = vec![(Kind::Onchanges, 1)];
        let mut two = chunk(
            "two",
            "blockreplace",
            "/etc/x",
            json!({"marker_start": "#s", "marker_end": "#e"}),
        );
        two.requisites = vec![(Kind::Watch, 1)];
        let fed = feed(&[a, b, one, all, two]).unwrap();
        assert_eq!(fed[2].as_ref().unwrap().args["content"], "c\nl1\nl2");
        // Requiring none of them (onchanges does not count): all of them.
        assert_eq!(fed[3].as_ref().unwrap().args["content"], "l1\nl2\nl3");
        assert_eq!(fed[4].as_ref().unwrap().args["content"], "l3");
    }

    #[test]
    fn an_accumulator_no_file_state_requires_is_orphaned() {
        let a = chunk(
            "a",
            "accumulated",
            "extra",
            json!({"filename": "/etc/x", "text": "one"}),
        );
        let m = chunk("m", "managed", "/etc/x", json!({}));
        let fed = feed(&[a.clone(), m]).unwrap();
        // Not required: its text reaches nobody.
        assert!(fed[1].is_none());
        let e = build_plan(fed[0].as_ref().unwrap()).unwrap_err();
        assert_eq!(e, "Orphaned accumulator extra in demo:a");
        // Alone (state.single): orphaned too.
        assert!(build_plan(&a).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        let e = build_plan(&chunk("a", "accumulated", "x", json!({"filename": "/f"}))).unwrap_err();
        assert!(e.contains("text"), "{e}");
        let e = build_plan(&chunk(
            "a",
            "accumulated",
            "x",
            json!({"filename": "/f", "text": 3}),
        ))
        .unwrap_err();
        assert!(e.contains("not text"), "{e}");
        let a = chunk(
            "a",
            "accumulated",
            "x",
            json!({"filename": "/f", "text": [{"k": "v"}]}),
        );
        let mut b = chunk(
            "b",
            "blockreplace",
            "/f",
            json!({"marker_start": "s", "marker_end": "e"}),
        );
        b.requisites = vec![(Kind::Require, 0)];
        assert!(feed(&[a, b]).unwrap_err().contains("is not text"));
    }
}
