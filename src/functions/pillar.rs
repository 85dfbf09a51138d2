//! The `pillar` execution module: read a host's pillar (`pillar.items`,
//! `pillar.get`, `pillar.item`, `pillar.keys`, `pillar.ls`), as Salt's
//! `salt/modules/pillar.py` does.
//!
//! Nothing runs on the host: the runner compiles the host's pillar on the
//! controller from that host's own grains (or reuses the one compiled for
//! pillar targeting) and hands it to [`Function::interpret_pillar`]. A host
//! therefore only ever receives its own pillar, and the only place the
//! pillar goes is that host's result (and so the job record, as in Salt).

use serde_json::json;

use super::grains::delimiter;
use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::data::traverse;
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "pillar.items",
        doc: "Return the host's whole pillar (pillar.items), or the keys named; pillar='{...}' merges an override.",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "pillar.items";
            args.check(F, &["pillar"], usize::MAX)?;
            Ok(Box::new(Pillar::Items {
                keys: keys(args, F)?,
                overrides: super::state::pillar_override(args, F)?,
            }))
        },
    },
    Spec {
        name: "pillar.get",
        doc: "Return one pillar value; nested keys with ':' (pillar.get users:alice:uid default=0).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "pillar.get";
            args.check(F, &["key", "default", "delimiter"], 2)?;
            Ok(Box::new(Pillar::Get {
                key: args.required(F, 0, "key")?,
                default: args
                    .kwargs
                    .get("default")
                    .or_else(|| args.positional.get(1))
                    .cloned()
                    // Salt's default for a missing key is the empty string.
                    .unwrap_or_else(|| json!("")),
                delimiter: delimiter(args, F)?,
            }))
        },
    },
    Spec {
        name: "pillar.item",
        doc: "Return a dict of the named pillar keys (pillar.item role users:alice).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "pillar.item";
            args.check(F, &["default", "delimiter"], usize::MAX)?;
            let keys = keys(args, F)?;
            if keys.is_empty() {
                return Err(ArgError::Invalid {
                    function: F,
                    message: "name at least one pillar key".into(),
                });
            }
            Ok(Box::new(Pillar::Item {
                keys,
                default: args
                    .kwargs
                    .get("default")
                    .cloned()
                    .unwrap_or_else(|| json!("")),
                delimiter: delimiter(args, F)?,
            }))
        },
    },
    Spec {
        name: "pillar.keys",
        doc: "Return the keys of the pillar dict at a key (pillar.keys users).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "pillar.keys";
            args.check(F, &["key", "delimiter"], 1)?;
            Ok(Box::new(Pillar::Keys {
                key: args.required(F, 0, "key")?,
                delimiter: delimiter(args, F)?,
            }))
        },
    },
    Spec {
        name: "pillar.ls",
        doc: "Return the top-level keys of the host's pillar.",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("pillar.ls", &[], 0)?;
            Ok(Box::new(Pillar::Ls))
        },
    },
];

/// Every positional argument, as a key.
fn keys(args: &Args, f: &'static str) -> Result<Vec<String>, ArgError> {
    (0..args.positional.len())
        .map(|i| args.required(f, i, ""))
        .collect()
}

#[derive(Debug)]
enum Pillar {
    Items {
        /// Salt's `items(*args)`: with keys, the same as `item(*args)`.
        keys: Vec<String>,
        overrides: Option<Value>,
    },
    Get {
        key: String,
        default: Value,
        delimiter: String,
    },
    Item {
        keys: Vec<String>,
        default: Value,
        delimiter: String,
    },
    Keys {
        key: String,
        delimiter: String,
    },
    Ls,
}

/// `{key: value or default}` for each key, in the order asked.
fn item(pillar: &Value, keys: &[String], default: &Value, delimiter: &str) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| {
                let v = traverse(pillar, k, delimiter)
                    .cloned()
                    .unwrap_or_else(|| default.clone());
                (k.clone(), v)
            })
            .collect(),
    )
}

impl Function for Pillar {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }

    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        Outcome::fail(json!("the host's pillar is not available"), None)
    }

    fn needs_grains(&self) -> bool {
        true
    }

    fn needs_pillar(&self) -> bool {
        true
    }

    fn pillar_override(&self) -> Option<&Value> {
        match self {
            Pillar::Items { overrides, .. } => overrides.as_ref(),
            _ => None,
        }
    }

    fn interpret_pillar(&self, _: &HostCtx, pillar: &Value) -> Outcome {
        let Value::Object(map) = pillar else {
            return Outcome::fail(json!("the host's pillar is not a mapping"), None);
        };
        match self {
            Pillar::Items { keys, .. } if keys.is_empty() => Outcome::ok(pillar.clone()),
            Pillar::Items { keys, .. } => Outcome::ok(item(pillar, keys, &json!(""), ":")),
            Pillar::Get {
                key,
                default,
                delimiter,
            } => Outcome::ok(
                traverse(pillar, key, delimiter)
                    .cloned()
                    .unwrap_or_else(|| default.clone()),
            ),
            Pillar::Item {
                keys,
                default,
                delimiter,
            } => Outcome::ok(item(pillar, keys, default, delimiter)),
            Pillar::Keys { key, delimiter } => match traverse(pillar, key, delimiter) {
                Some(Value::Object(m)) => Outcome::ok(json!(m.keys().collect::<Vec<_>>())),
                Some(_) => Outcome::fail(
                    json!(format!("Pillar value in key {key} is not a dict")),
                    None,
                ),
                None => Outcome::fail(json!(format!("Pillar key not found: {key}")), None),
            },
            // In the pillar's own order, as Salt's `list(items())`.
            Pillar::Ls => Outcome::ok(json!(map.keys().collect::<Vec<_>>())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn pillar() -> Value {
        json!({
            "role": "web",
            "users": {"alice": {"uid": 1001, "groups": ["adm", "www"]}, "bob": {"uid": 1002}},
            "vhosts": [{"shop": {"port": 443}}, "blog"],
            "flag": false,
        })
    }

    fn call(name: &str, words: &[&str]) -> Outcome {
        let f = parse_call(name, &Args::from_words(words)).unwrap();
        assert!(f.needs_grains() && f.needs_pillar());
        let g = json!({"id": "web1"});
        let ctx = HostCtx {
            id: "web1",
            grains: &g,
        };
        assert!(f.command(&ctx).is_none(), "no remote execution");
        f.interpret_pillar(&ctx, &pillar())
    }

    #[test]
    fn items_ls_and_keys() {
        assert_eq!(call("pillar.items", &[]), Outcome::ok(pillar()));
        assert_eq!(
            call("pillar.items", &["role", "nope"]).ret,
            json!({"role": "web", "nope": ""})
        );
        assert_eq!(
            call("pillar.ls", &[]).ret,
            json!(["role", "users", "vhosts", "flag"])
        );
        assert_eq!(call("pillar.keys", &["users"]).ret, json!(["alice", "bob"]));
        assert_eq!(
            call("pillar.keys", &["users:alice"]).ret,
            json!(["uid", "groups"])
        );
        let o = call("pillar.keys", &["role"]);
        assert!(!o.success);
        assert_eq!(o.ret, json!("Pillar value in key role is not a dict"));
        let o = call("pillar.keys", &["nope"]);
        assert_eq!(o, Outcome::fail(json!("Pillar key not found: nope"), None));
    }

    #[test]
    fn get_walks_nested_keys_lists_and_defaults() {
        assert_eq!(call("pillar.get", &["role"]), Outcome::ok(json!("web")));
        assert_eq!(call("pillar.get", &["users:alice:uid"]).ret, json!(1001));
        assert_eq!(
            call("pillar.get", &["users:alice:groups:1"]).ret,
            json!("www")
        );
        assert_eq!(call("pillar.get", &["vhosts:shop:port"]).ret, json!(443));
        assert_eq!(call("pillar.get", &["flag"]).ret, json!(false));
        assert_eq!(
            call("pillar.get", &["users/bob/uid", "delimiter=/"]).ret,
            json!(1002)
        );
        // Salt's default is the empty string.
        assert_eq!(call("pillar.get", &["nope"]), Outcome::ok(json!("")));
        assert_eq!(call("pillar.get", &["nope", "default=[]"]).ret, json!([]));
        assert_eq!(call("pillar.get", &["role:deeper", "x"]).ret, json!("x"));
    }

    #[test]
    fn item_returns_a_dict() {
        assert_eq!(
            call(
                "pillar.item",
                &["role", "users:bob", "missing", "default=-"]
            )
            .ret,
            json!({"role": "web", "users:bob": {"uid": 1002}, "missing": "-"})
        );
    }

    #[test]
    fn the_override_is_handed_to_the_runner() {
        let f = parse_call("pillar.items", &Args::from_words(&["pillar={role: db}"])).unwrap();
        assert_eq!(f.pillar_override(), Some(&json!({"role": "db"})));
        let f = parse_call("pillar.get", &Args::from_words(&["role"])).unwrap();
        assert_eq!(f.pillar_override(), None);
    }

    #[test]
    fn arguments_are_checked() {
        let p = |n: &str, w: &[&str]| parse_call(n, &Args::from_words(w));
        assert!(matches!(
            p("pillar.items", &["x=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(p("pillar.items", &["pillar=[1]"]).is_err());
        assert!(p("pillar.get", &[]).is_err());
        assert!(p("pillar.get", &["a", "b", "c"]).is_err());
        assert!(matches!(
            p("pillar.get", &["role", "merge=True"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(p("pillar.get", &["role", "delimiter="]).is_err());
        assert!(p("pillar.item", &[]).is_err());
        assert!(p("pillar.keys", &[]).is_err());
        assert!(p("pillar.ls", &["role"]).is_err());
    }

    #[test]
    fn without_the_pillar_they_fail_clearly() {
        let f = parse_call("pillar.items", &Args::default()).unwrap();
        let ctx = HostCtx {
            id: "h",
            grains: &Value::Null,
        };
        assert!(!f.interpret(&ctx, None).success);
        assert!(!f.interpret_pillar(&ctx, &Value::Null).success);
    }
}
