//! The `docker` execution module (Salt's `dockermod` names): list, inspect,
//! pull, start, stop and remove containers and images ad hoc, on podman or
//! docker, through the engine's CLI only (no API socket, no Python).
//!
//! The engine choice and the name and reference checks it shares with the
//! `docker_image` and `docker_container` states are [`crate::platform::container`]'s.

use serde_json::{json, Map};

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::platform::container::{
    bare_id, check_container_name, engine_missing, image_ref, prelude, Engine,
};
use crate::platform::report::markers;
use crate::transport::quote::{join, quote};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "docker.ps",
        doc: "List running containers (all=True: also stopped ones) by name: Id, Image, Status, Ports, Command, Created.",
        parse: |a| parse(a, "docker.ps"),
    },
    Spec {
        name: "docker.images",
        doc: "List images by short ID: Id, RepoTags, Size, Created (all=True: intermediate ones too).",
        parse: |a| parse(a, "docker.images"),
    },
    Spec {
        name: "docker.inspect_container",
        doc: "The engine's inspect data of one container (a dict).",
        parse: |a| parse(a, "docker.inspect_container"),
    },
    Spec {
        name: "docker.inspect_image",
        doc: "The engine's inspect data of one image (a dict).",
        parse: |a| parse(a, "docker.inspect_image"),
    },
    Spec {
        name: "docker.pull",
        doc: "Pull an image (repo:tag; no tag means :latest, never all tags): Status, Id.",
        parse: |a| parse(a, "docker.pull"),
    },
    Spec {
        name: "docker.start",
        doc: "Start a container: result and state old/new.",
        parse: |a| parse(a, "docker.start"),
    },
    Spec {
        name: "docker.stop",
        doc: "Stop a container (timeout=SECONDS before it is killed, default 10): result and state old/new.",
        parse: |a| parse(a, "docker.stop"),
    },
    Spec {
        name: "docker.rm",
        doc: "Remove a container (force=True: even a running one; stop=True: stop it first): the removed IDs.",
        parse: |a| parse(a, "docker.rm"),
    },
    Spec {
        name: "docker.rmi",
        doc: "Remove images (force=True: even if used; on podman that removes their containers): Tags and Layers removed.",
        parse: |a| parse(a, "docker.rmi"),
    },
];

#[derive(Debug)]
enum Op {
    Ps {
        all: bool,
    },
    Images {
        all: bool,
    },
    InspectContainer(String),
    InspectImage(String),
    Pull {
        image: String,
        defaulted: bool,
    },
    Start(String),
    Stop {
        name: String,
        timeout: u64,
    },
    Rm {
        name: String,
        force: bool,
        stop: bool,
    },
    Rmi {
        images: Vec<String>,
        force: bool,
    },
}

#[derive(Debug)]
struct Docker {
    function: &'static str,
    engine: Option<Engine>,
    op: Op,
}

fn invalid(function: &'static str, message: impl Into<String>) -> ArgError {
    ArgError::Invalid {
        function,
        message: message.into(),
    }
}

fn parse(args: &Args, f: &'static str) -> Result<Box<dyn Function>, ArgError> {
    let (valid, max_pos): (&[&str], usize) = match f {
        "docker.ps" | "docker.images" => (&["all", "engine"], 0),
        "docker.inspect_container" | "docker.start" => (&["name", "engine"], 1),
        "docker.inspect_image" => (&["name", "engine"], 1),
        "docker.pull" => (&["image", "tag", "engine"], 1),
        "docker.stop" => (&["name", "timeout", "engine"], 1),
        "docker.rm" => (&["name", "force", "stop", "engine"], 1),
        _ => (&["force", "engine"], usize::MAX),
    };
    args.check(f, valid, max_pos)?;
    let engine = Engine::parse(args.kwargs.get("engine")).map_err(|m| invalid(f, m))?;
    let container = |args: &Args| -> Result<String, ArgError> {
        let name = args.required(f, 0, "name")?;
        check_container_name(&name).map_err(|m| invalid(f, m))?;
        Ok(name)
    };
    let image = |name: &str| image_ref(name, None).map_err(|m| invalid(f, m));
    let op = match f {
        "docker.ps" => Op::Ps {
            all: args.flag(f, "all", false)?,
        },
        "docker.images" => Op::Images {
            all: args.flag(f, "all", false)?,
        },
        "docker.inspect_container" => Op::InspectContainer(container(args)?),
        // An image by ID or name, as given: no tag is assumed for inspection.
        "docker.inspect_image" => {
            let name = args.required(f, 0, "name")?;
            image(&name)?;
            Op::InspectImage(name)
        }
        "docker.pull" => {
            let name = args.required(f, 0, "image")?;
            let tag = args.string(f, 9, "tag")?;
            let (image, defaulted) = image_ref(&name, tag.as_deref()).map_err(|m| invalid(f, m))?;
            Op::Pull { image, defaulted }
        }
        "docker.start" => Op::Start(container(args)?),
        "docker.stop" => {
            let timeout = match args.kwargs.get("timeout") {
                None | Some(Value::Null) => 10,
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| invalid(f, format!("timeout must be whole seconds, got {v}")))?,
            };
            Op::Stop {
                name: container(args)?,
                timeout,
            }
        }
        "docker.rm" => Op::Rm {
            name: container(args)?,
            force: args.flag(f, "force", false)?,
            stop: args.flag(f, "stop", false)?,
        },
        _ => {
            let mut images = Vec::new();
            for (i, v) in args.positional.iter().enumerate() {
                let name = match v {
                    Value::String(s) => s.clone(),
                    _ => args.raw_positional.get(i).cloned().unwrap_or_default(),
                };
                image(&name)?;
                images.push(name);
            }
            if images.is_empty() {
                return Err(invalid(f, "name at least one image"));
            }
            Op::Rmi {
                images,
                force: args.flag(f, "force", false)?,
            }
        }
    };
    Ok(Box::new(Docker {
        function: f,
        engine,
        op,
    }))
}

/// `ps` and `images` columns, tab-separated (both engines expand `\t`).
const PS_FORMAT: &str =
    "{{.ID}}\\t{{.Names}}\\t{{.Image}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Command}}\\t{{.CreatedAt}}";
const IMAGES_FORMAT: &str = "{{.ID}}\\t{{.Repository}}\\t{{.Tag}}\\t{{.Size}}\\t{{.CreatedAt}}";

impl Docker {
    fn script(&self) -> String {
        let mut s = prelude(self.engine);
        let e = "\"$h_engine\"";
        let status = |n: &str| {
            format!(
                "{e} container inspect --format '{{{{.State.Status}}}}' -- {}",
                quote(n)
            )
        };
        match &self.op {
            Op::Ps { all } => s.push_str(&format!(
                "exec {e} ps{} --no-trunc --format {}\n",
                if *all { " -a" } else { "" },
                quote(PS_FORMAT)
            )),
            Op::Images { all } => s.push_str(&format!(
                "exec {e} images{} --no-trunc --format {}\n",
                if *all { " -a" } else { "" },
                quote(IMAGES_FORMAT)
            )),
            Op::InspectContainer(n) => {
                s.push_str(&format!("exec {e} container inspect -- {}\n", quote(n)))
            }
            Op::InspectImage(n) => s.push_str(&format!("exec {e} image inspect -- {}\n", quote(n))),
            Op::Pull { image, .. } => {
                let i = quote(image);
                s.push_str(&format!(
                    "h_old=$({e} image inspect --format '{{{{.Id}}}}' -- {i} 2>/dev/null)\n\
                     {e} pull -- {i} >&2 || exit\n\
                     printf '@@old %s\\n@@new %s\\n' \"$h_old\" \"$({e} image inspect --format '{{{{.Id}}}}' -- {i})\"\n"
                ));
            }
            Op::Start(n) | Op::Stop { name: n, .. } => {
                let verb = match &self.op {
                    Op::Stop { timeout, .. } => format!("stop -t {timeout}"),
                    _ => "start".into(),
                };
                s.push_str(&format!(
                    "h_old=$({st}) || exit\n\
                     {e} {verb} -- {n} >/dev/null || exit\n\
                     printf '@@old %s\\n@@new %s\\n' \"$h_old\" \"$({st})\"\n",
                    st = status(n),
                    n = quote(n)
                ));
            }
            Op::Rm { name, force, stop } => {
                let n = quote(name);
                s.push_str(&format!(
                    "h_id=$({e} container inspect --format '{{{{.Id}}}}' -- {n}) || exit\n"
                ));
                if *stop {
                    s.push_str(&format!("{e} stop -- {n} >/dev/null || exit\n"));
                }
                s.push_str(&format!(
                    "{e} rm{} -- {n} >/dev/null || exit\nprintf '@@removed %s\\n' \"$h_id\"\n",
                    if *force { " -f" } else { "" }
                ));
            }
            Op::Rmi { images, force } => s.push_str(&format!(
                "exec {e} rmi{} -- {}\n",
                if *force { " -f" } else { "" },
                join(images)
            )),
        }
        s
    }

    fn fail(&self, out: &ExecOutput) -> Outcome {
        let msg = engine_missing(&out.stdout).unwrap_or_else(|| {
            let m = out.stderr.trim();
            if m.is_empty() {
                format!("{} failed (exit {:?})", self.function, out.exit_code)
            } else {
                m.to_string()
            }
        });
        Outcome::fail(json!(msg), out.exit_code)
    }
}

/// `docker.ps` rows by container name, in Salt's key names.
fn ps_rows(stdout: &str) -> Value {
    let mut m = Map::new();
    for line in stdout.lines().filter(|l| !l.starts_with("@@")) {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 7 {
            continue;
        }
        m.insert(
            c[1].to_string(),
            json!({
                "Id": c[0], "Image": c[2], "Status": c[3], "Ports": c[4],
                "Command": c[5], "Created": c[6],
            }),
        );
    }
    Value::Object(m)
}

/// `docker.images` rows by short ID, tags gathered per image.
fn image_rows(stdout: &str) -> Value {
    let mut m = Map::new();
    for line in stdout.lines().filter(|l| !l.starts_with("@@")) {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 5 {
            continue;
        }
        let id = bare_id(c[0]);
        let short: String = id.chars().take(12).collect();
        let entry = m
            .entry(short)
            .or_insert_with(|| json!({"Id": id, "RepoTags": [], "Size": c[3], "Created": c[4]}));
        if c[1] != "<none>" && c[2] != "<none>" {
            if let Some(tags) = entry["RepoTags"].as_array_mut() {
                tags.push(json!(format!("{}:{}", c[1], c[2])));
            }
        }
    }
    Value::Object(m)
}

impl Function for Docker {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(self.script()))
    }

    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let Some(out) = out else {
            return Outcome::fail(json!(format!("{}: no script ran", self.function)), None);
        };
        if out.exit_code != Some(0) {
            return self.fail(out);
        }
        let m = markers(&out.stdout);
        let ret = match &self.op {
            Op::Ps { .. } => ps_rows(&out.stdout),
            Op::Images { .. } => image_rows(&out.stdout),
            Op::InspectContainer(_) | Op::InspectImage(_) => {
                let body: String = out
                    .stdout
                    .lines()
                    .filter(|l| !l.starts_with("@@"))
                    .collect::<Vec<_>>()
                    .join("\n");
                match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Array(mut a)) if a.len() == 1 => a.remove(0),
                    Ok(other) => other,
                    Err(e) => {
                        return Outcome::fail(
                            json!(format!("{}: unreadable inspect output: {e}", self.function)),
                            out.exit_code,
                        )
                    }
                }
            }
            Op::Pull { image, defaulted } => {
                let (old, new) = (
                    bare_id(m.get("old").map_or("", String::as_str)),
                    bare_id(m.get("new").map_or("", String::as_str)),
                );
                let status = if old == new {
                    format!("Image is up to date for {image}")
                } else {
                    format!("Downloaded newer image for {image}")
                };
                let mut r = json!({"Status": status, "Id": new, "Image": image});
                if *defaulted {
                    r["Comment"] =
                        json!("No tag was given: pulled the tag 'latest' (not every tag)");
                }
                r
            }
            Op::Start(n) | Op::Stop { name: n, .. } => {
                let old = m.get("old").cloned().unwrap_or_default();
                let new = m.get("new").cloned().unwrap_or_default();
                let mut r = json!({"result": true, "state": {"old": old, "new": new}});
                if old == new {
                    r["comment"] = json!(format!("Container '{n}' is already {new}"));
                }
                r
            }
            Op::Rm { .. } => json!([m.get("removed").cloned().unwrap_or_default()]),
            Op::Rmi { .. } => {
                let pick = |prefix: &str| -> Vec<String> {
                    out.stdout
                        .lines()
                        .filter_map(|l| l.strip_prefix(prefix))
                        .map(bare_id)
                        .collect()
                };
                json!({"Tags": pick("Untagged: "), "Layers": pick("Deleted: ")})
            }
        };
        Outcome::ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn call(name: &str, words: &[&str]) -> Result<Box<dyn Function>, ArgError> {
        parse_call(name, &Args::from_words(words))
    }

    fn run(name: &str, words: &[&str], stdout: &str, code: i32) -> Outcome {
        call(name, words).unwrap().interpret(
            &HostCtx {
                id: "h",
                grains: &Value::Null,
            },
            Some(&ExecOutput {
                stdout: stdout.into(),
                stderr: "Error: no such container x".into(),
                exit_code: Some(code),
            }),
        )
    }

    #[test]
    fn image_references_default_to_latest_never_all_tags() {
        assert_eq!(image_ref("app", None).unwrap(), ("app:latest".into(), true));
        assert_eq!(
            image_ref("127.0.0.1:5000/app", None).unwrap(),
            ("127.0.0.1:5000/app:latest".into(), true)
        );
        assert_eq!(
            image_ref("127.0.0.1:5000/app:v1", None).unwrap(),
            ("127.0.0.1:5000/app:v1".into(), false)
        );
        assert_eq!(
            image_ref("127.0.0.1:5000/app", Some("v2")).unwrap(),
            ("127.0.0.1:5000/app:v2".into(), false)
        );
        assert!(image_ref("app@sha256:abc", None)
            .unwrap()
            .0
            .ends_with("abc"));
        assert!(image_ref("app:v1", Some("v2")).is_err());
        assert!(image_ref("app", Some("a b")).is_err());
        assert!(image_ref("--all-tags", None).is_err());
        assert!(image_ref("a b", None).is_err());
    }

    #[test]
    fn arguments_are_checked() {
        assert!(call("docker.ps", &["all=True"]).is_ok());
        assert!(call("docker.ps", &["engine=podman"]).is_ok());
        assert!(call("docker.ps", &["engine=lxc"]).is_err());
        assert!(call("docker.ps", &["x"]).is_err());
        assert!(call("docker.start", &["web"]).is_ok());
        assert!(call("docker.start", &["--rm"]).is_err());
        assert!(call("docker.start", &[]).is_err());
        assert!(call("docker.stop", &["web", "timeout=3"]).is_ok());
        assert!(call("docker.stop", &["web", "timeout=soon"]).is_err());
        assert!(call("docker.rm", &["web", "force=True"]).is_ok());
        assert!(call("docker.rmi", &["a:1", "b", "force=True"]).is_ok());
        assert!(call("docker.rmi", &[]).is_err());
        assert!(call("docker.pull", &["app", "tag=v1"]).is_ok());
        assert!(matches!(
            call("docker.pull", &["app", "bogus=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_values() {
        for (f, words) in [
            ("docker.ps", vec!["all=True"]),
            ("docker.images", vec![]),
            ("docker.inspect_container", vec!["web"]),
            ("docker.inspect_image", vec!["app:v1"]),
            ("docker.pull", vec!["app"]),
            ("docker.start", vec!["web"]),
            ("docker.stop", vec!["web"]),
            ("docker.rm", vec!["web", "stop=True"]),
            ("docker.rmi", vec!["app:v1", "app:v2"]),
        ] {
            let script = call(f, &words).unwrap().command(&HostCtx {
                id: "h",
                grains: &Value::Null,
            });
            let script = script.unwrap().script;
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(st.success(), "{f}: {script}");
        }
        let s = call("docker.pull", &["app"]).unwrap();
        let script = s
            .command(&HostCtx {
                id: "h",
                grains: &Value::Null,
            })
            .unwrap()
            .script;
        assert!(script.contains("pull -- app:latest"), "{script}");
    }

    #[test]
    fn prelude_picks_the_pinned_engine_or_says_none_is_there() {
        let run = |engine: Option<Engine>, path: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", &prelude(engine)])
                .env("PATH", path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let empty = tempfile::tempdir().unwrap();
        let none = run(None, &empty.path().display().to_string());
        assert_eq!(
            engine_missing(&none).unwrap(),
            "no container engine on this host: neither podman nor docker is installed"
        );
        let pinned = run(Some(Engine::Docker), &empty.path().display().to_string());
        assert_eq!(
            engine_missing(&pinned).unwrap(),
            "the container engine docker (engine: docker) is not installed on this host"
        );
        // A fake podman on PATH is found.
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("podman");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&fake)
            .status()
            .unwrap();
        let found = run(None, &bin.path().display().to_string());
        assert_eq!(markers(&found)["engine"], "podman");
    }

    #[test]
    fn outputs_take_salts_shapes() {
        let ps = run(
            "docker.ps",
            &[],
            "@@engine podman\nabc123\tweb\t127.0.0.1:5000/app:v1\tUp 2 minutes\t0.0.0.0:8080->8080/tcp\t/bin/httpd -f\t2026-01-01 10:00:00 +0000 UTC\n",
            0,
        );
        assert!(ps.success);
        assert_eq!(ps.ret["web"]["Image"], "127.0.0.1:5000/app:v1");
        assert_eq!(ps.ret["web"]["Status"], "Up 2 minutes");
        let images = run(
            "docker.images",
            &[],
            "@@engine podman\nsha256:5e78e06cb3627b233a9f\t127.0.0.1:5000/app\tv1\t2.13 MB\t2026\n\
             sha256:5e78e06cb3627b233a9f\t127.0.0.1:5000/app\tv2\t2.13 MB\t2026\n\
             sha256:ffff06cb3627b233a9f\t<none>\t<none>\t1 MB\t2026\n",
            0,
        );
        assert_eq!(
            images.ret["5e78e06cb362"]["RepoTags"],
            json!(["127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v2"])
        );
        assert_eq!(images.ret["ffff06cb3627"]["RepoTags"], json!([]));
        let pull = run(
            "docker.pull",
            &["app"],
            "@@engine docker\n@@old \n@@new sha256:abc\n",
            0,
        );
        assert_eq!(pull.ret["Status"], "Downloaded newer image for app:latest");
        assert_eq!(pull.ret["Id"], "abc");
        assert!(pull.ret["Comment"].as_str().unwrap().contains("latest"));
        let stop = run(
            "docker.stop",
            &["web"],
            "@@engine podman\n@@old running\n@@new exited\n",
            0,
        );
        assert_eq!(
            stop.ret["state"],
            json!({"old": "running", "new": "exited"})
        );
        let inspect = run(
            "docker.inspect_container",
            &["web"],
            "@@engine podman\n[{\"Id\": \"abc\", \"Name\": \"web\"}]\n",
            0,
        );
        assert_eq!(inspect.ret["Name"], "web");
        let missing = run("docker.inspect_container", &["x"], "@@engine podman\n", 125);
        assert!(!missing.success);
        assert_eq!(missing.ret, "Error: no such container x");
        let none = run("docker.ps", &[], "@@noengine \n", 1);
        assert!(none
            .ret
            .as_str()
            .unwrap()
            .contains("neither podman nor docker"));
        let rmi = run(
            "docker.rmi",
            &["app:v1"],
            "@@engine podman\nUntagged: 127.0.0.1:5000/app:v1\nDeleted: 5e78e06c\n",
            0,
        );
        assert_eq!(
            rmi.ret,
            json!({"Tags": ["127.0.0.1:5000/app:v1"], "Layers": ["5e78e06c"]})
        );
    }
}
