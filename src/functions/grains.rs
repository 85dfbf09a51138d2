//! The `grains` execution module: read a host's grains (`grains.items`,
//! `grains.get`, `grains.item`, `grains.ls`).
//!
//! These run no script of their own: they ask the runner for the host's
//! grains (gathered, cached and merged with the inventory's static grains,
//! see [`crate::grains`]) and answer from them, so they cost at most the one
//! grains round trip and nothing when the cache is fresh.

use serde_json::json;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "grains.items",
        doc: "Return all grains of the host.",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("grains.items", &[], 0)?;
            Ok(Box::new(Grains::Items))
        },
    },
    Spec {
        name: "grains.get",
        doc: "Return one grain; nested keys with ':' (grains.get ip4_interfaces:eth0 default=[]).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "grains.get";
            args.check(F, &["key", "default", "delimiter"], 2)?;
            Ok(Box::new(Grains::Get {
                key: args.required(F, 0, "key")?,
                default: args
                    .kwargs
                    .get("default")
                    .or_else(|| args.positional.get(1))
                    .cloned()
                    .unwrap_or_else(|| json!("")),
                delimiter: delimiter(args, F)?,
            }))
        },
    },
    Spec {
        name: "grains.item",
        doc: "Return a dict of the named grains (grains.item os osrelease).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "grains.item";
            args.check(F, &["default", "delimiter"], usize::MAX)?;
            let keys = (0..args.positional.len())
                .map(|i| args.required(F, i, ""))
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(ArgError::Invalid {
                    function: F,
                    message: "name at least one grain".into(),
                });
            }
            Ok(Box::new(Grains::Item {
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
        name: "grains.ls",
        doc: "Return the sorted names of the host's grains.",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("grains.ls", &[], 0)?;
            Ok(Box::new(Grains::Ls))
        },
    },
];

/// `delimiter=` of the `*.get` / `*.item` functions: `:` by default, never empty.
pub(crate) fn delimiter(args: &Args, f: &'static str) -> Result<String, ArgError> {
    match args.string(f, usize::MAX, "delimiter")? {
        Some(d) if d.is_empty() => Err(ArgError::Invalid {
            function: f,
            message: "`delimiter` must not be empty".into(),
        }),
        Some(d) => Ok(d),
        None => Ok(":".into()),
    }
}

#[derive(Debug)]
enum Grains {
    Items,
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
    Ls,
}

/// Salt's `traverse_dict_and_list`: walk `key` split on `delimiter` through
/// dicts, list indices, and dicts embedded in lists.
fn traverse<'a>(data: &'a Value, key: &str, delimiter: &str) -> Option<&'a Value> {
    let mut ptr = data;
    for part in key.split(delimiter) {
        ptr = match ptr {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => match part.parse::<usize>() {
                Ok(i) => items.get(i)?,
                Err(_) => items
                    .iter()
                    .find_map(|x| x.as_object().and_then(|m| m.get(part)))?,
            },
            _ => return None,
        };
    }
    Some(ptr)
}

impl Function for Grains {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }

    fn interpret(&self, ctx: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        let Value::Object(grains) = ctx.grains else {
            return Outcome::fail(json!("the host's grains are not available"), None);
        };
        Outcome::ok(match self {
            Grains::Items => ctx.grains.clone(),
            Grains::Get {
                key,
                default,
                delimiter,
            } => traverse(ctx.grains, key, delimiter)
                .cloned()
                .unwrap_or_else(|| default.clone()),
            Grains::Item {
                keys,
                default,
                delimiter,
            } => Value::Object(
                keys.iter()
                    .map(|k| {
                        let v = traverse(ctx.grains, k, delimiter)
                            .cloned()
                            .unwrap_or_else(|| default.clone());
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Grains::Ls => {
                let mut keys: Vec<&String> = grains.keys().collect();
                keys.sort();
                json!(keys)
            }
        })
    }

    fn needs_grains(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn grains() -> Value {
        json!({
            "os": "Debian",
            "osmajorrelease": 12,
            "ipv4": ["127.0.0.1", "10.0.0.5"],
            "ip4_interfaces": {"eth0": ["10.0.0.5"], "lo": ["127.0.0.1"]},
            "roles": [{"web": {"port": 80}}, "db"],
            "id": "web1",
        })
    }

    fn run(name: &str, words: &[&str]) -> Outcome {
        let f = parse_call(name, &Args::from_words(words)).unwrap();
        assert!(f.needs_grains());
        let g = grains();
        let ctx = HostCtx {
            id: "web1",
            grains: &g,
        };
        assert!(f.command(&ctx).is_none());
        f.interpret(&ctx, None)
    }

    #[test]
    fn items_and_ls() {
        assert_eq!(run("grains.items", &[]).ret, grains());
        assert_eq!(
            run("grains.ls", &[]).ret,
            json!([
                "id",
                "ip4_interfaces",
                "ipv4",
                "os",
                "osmajorrelease",
                "roles"
            ])
        );
    }

    #[test]
    fn get_walks_nested_keys_and_lists() {
        assert_eq!(run("grains.get", &["os"]), Outcome::ok(json!("Debian")));
        assert_eq!(run("grains.get", &["osmajorrelease"]).ret, json!(12));
        assert_eq!(
            run("grains.get", &["ip4_interfaces:eth0"]).ret,
            json!(["10.0.0.5"])
        );
        assert_eq!(run("grains.get", &["ipv4:1"]).ret, json!("10.0.0.5"));
        assert_eq!(run("grains.get", &["roles:web:port"]).ret, json!(80));
        assert_eq!(
            run("grains.get", &["ip4_interfaces/lo", "delimiter=/"]).ret,
            json!(["127.0.0.1"])
        );
    }

    #[test]
    fn get_falls_back_to_the_default() {
        assert_eq!(run("grains.get", &["nope"]), Outcome::ok(json!("")));
        assert_eq!(run("grains.get", &["nope", "default=[]"]).ret, json!([]));
        assert_eq!(
            run("grains.get", &["os:deeper", "fallback"]).ret,
            json!("fallback")
        );
        assert_eq!(
            run("grains.get", &["ipv4:9", "default=None"]).ret,
            Value::Null
        );
    }

    #[test]
    fn item_returns_a_dict() {
        assert_eq!(
            run("grains.item", &["os", "ip4_interfaces:lo", "missing"]).ret,
            json!({"os": "Debian", "ip4_interfaces:lo": ["127.0.0.1"], "missing": ""})
        );
    }

    #[test]
    fn arguments_are_checked() {
        let p = |n: &str, w: &[&str]| parse_call(n, &Args::from_words(w));
        assert!(matches!(
            p("grains.items", &["x=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(p("grains.items", &["os"]).is_err());
        assert!(p("grains.get", &[]).is_err());
        assert!(p("grains.get", &["a", "b", "c"]).is_err());
        assert!(matches!(
            p("grains.get", &["os", "sanitize=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(p("grains.get", &["os", "delimiter="]).is_err());
        assert!(p("grains.item", &[]).is_err());
        assert!(p("grains.ls", &["os"]).is_err());
    }

    #[test]
    fn missing_grains_fail_clearly() {
        let f = parse_call("grains.items", &Args::default()).unwrap();
        let ctx = HostCtx {
            id: "h",
            grains: &Value::Null,
        };
        assert!(!f.interpret(&ctx, None).success);
    }
}
