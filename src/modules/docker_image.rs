//! `docker_image.present` and `docker_image.absent` (Salt's names) on podman
//! or docker, through the engine's CLI.
//!
//! `present` pulls `repo:tag` (no tag: `latest`, and the comment says so;
//! never every tag), or loads an image archive shipped from `salt://`
//! (`load:`). An image that is there is left alone unless `force: True`
//! (pull again) or, for `load`, the archive differs from the one last loaded
//! (its SHA-256 is kept in [`LOAD_RECORDS`] on the host: Salt only checks
//! that the name exists, so a new archive under the same tag would never be
//! loaded). `force` is the one case `test=True` cannot predict exactly: only
//! the registry knows whether the pull brings a new image, so the plan says
//! it will pull and the result reports a change only if the image ID moved.
//!
//! An archive travels inside the apply script (base64, like file.managed's
//! content), so it is held in memory on the controller and read by the
//! target's shell: archives over [`LOAD_LIMIT`] are refused when the state is
//! built; push bigger images to a registry and pull them.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::platform::container::{bare_id, engine_missing, image_ref, prelude, Engine};
use crate::platform::report::{markers, message};
use crate::state::Chunk;
use crate::transport::quote::{join, quote};
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "docker_image",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure an image is there: pulled (name[:tag], tag; default latest; force re-pulls) or loaded from load: salt://archive.tar (engine: podman|docker).",
            args: &["tag", "force", "load", "engine"],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure images are not there (name or images: [..], force; engine: podman|docker).",
            args: &["images", "force", "engine"],
            build: build_absent,
        },
    ],
    ledger: &[],
};

/// Where the SHA-256 of the archive last loaded for each image is recorded.
pub const LOAD_RECORDS: &str = "/var/lib/halite/docker_image";

/// The largest archive `load:` ships inside the apply script.
pub const LOAD_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresentArgs {
    tag: Option<Value>,
    #[serde(default)]
    force: bool,
    load: Option<String>,
    engine: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentArgs {
    images: Option<Vec<String>>,
    #[serde(default)]
    force: bool,
    engine: Option<Value>,
}

/// An archive to load: its bytes, their hash, and where it came from.
#[derive(Debug)]
struct Archive {
    url: String,
    bytes: Vec<u8>,
    sha256: String,
}

#[derive(Debug)]
struct Present {
    image: String,
    /// No tag was given: `latest` was assumed.
    defaulted: bool,
    force: bool,
    load: Option<Archive>,
    engine: Option<Engine>,
}

#[derive(Debug)]
struct Absent {
    images: Vec<String>,
    force: bool,
    engine: Option<Engine>,
}

fn build_present(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: PresentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let tag = match &a.tag {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(err(format!("tag `{other}` is not a string"))),
    };
    let (image, defaulted) = image_ref(&chunk.name, tag.as_deref()).map_err(err)?;
    let engine = Engine::parse(a.engine.as_ref()).map_err(err)?;
    let load = match &a.load {
        None => None,
        Some(url) => {
            use crate::modules::file::SourceError;
            let (_, real) =
                crate::modules::file::resolve_salt_url(ctx.states_root, url).map_err(|e| {
                    err(match e {
                        SourceError::Unsupported => {
                            format!("load: {url} is not supported (only salt:// sources are)")
                        }
                        SourceError::Escape => format!("load: {url} is outside the states root"),
                        SourceError::Missing => {
                            format!("load: {url} not found under {}", ctx.states_root.display())
                        }
                    })
                })?;
            let size = std::fs::metadata(&real)
                .map_err(|e| err(format!("cannot read {}: {e}", real.display())))?
                .len();
            if size > LOAD_LIMIT {
                return Err(err(format!(
                    "load: {url} is {size} bytes; archives travel inside the apply script and may be at most {LOAD_LIMIT} bytes: push the image to a registry and pull it instead"
                )));
            }
            let bytes = std::fs::read(&real)
                .map_err(|e| err(format!("cannot read {}: {e}", real.display())))?;
            let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes));
            Some(Archive {
                url: url.clone(),
                bytes,
                sha256,
            })
        }
    };
    Ok(Box::new(Present {
        image,
        defaulted,
        force: a.force,
        load,
        engine,
    }))
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: AbsentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let names = match a.images {
        Some(list) if !list.is_empty() => list,
        _ => vec![chunk.name.clone()],
    };
    let mut images = Vec::new();
    for n in names {
        // An image is removed as named: by ID, or by name with its tag.
        let (r, _) = image_ref(&n, None).map_err(err)?;
        let looks_like_id = n.len() >= 12 && n.chars().all(|c| c.is_ascii_hexdigit());
        images.push(if looks_like_id { n } else { r });
    }
    Ok(Box::new(Absent {
        images,
        force: a.force,
        engine: Engine::parse(a.engine.as_ref()).map_err(err)?,
    }))
}

/// The file on the host recording the archive last loaded as `image`.
fn record_path(image: &str) -> String {
    let safe: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{LOAD_RECORDS}/{safe}.sha256")
}

fn image_id_snippet(image: &str) -> String {
    format!(
        "\"$h_engine\" image inspect --format '{{{{.Id}}}}' -- {} 2>/dev/null",
        quote(image)
    )
}

impl Present {
    fn facts(&self, text: &str) -> Result<(String, String), String> {
        if let Some(m) = engine_missing(text) {
            return Err(m);
        }
        let m = markers(text);
        if !m.contains_key("end") {
            return Err(format!(
                "docker_image.present: the probe did not complete: {}",
                text.trim()
            ));
        }
        Ok((
            bare_id(m.get("id").map_or("", String::as_str)),
            m.get("loaded")
                .map_or("", String::as_str)
                .trim()
                .to_string(),
        ))
    }

    fn latest_note(&self) -> &'static str {
        if self.defaulted {
            " (no tag given: using 'latest', not every tag)"
        } else {
            ""
        }
    }
}

impl StateFunction for Present {
    fn probe(&self) -> String {
        let mut s = prelude(self.engine);
        s.push_str(&format!(
            "printf '@@id %s\\n' \"$({})\"\n",
            image_id_snippet(&self.image)
        ));
        if self.load.is_some() {
            s.push_str(&format!(
                "printf '@@loaded %s\\n' \"$(cat {} 2>/dev/null)\"\n",
                quote(&record_path(&self.image))
            ));
        }
        s.push_str("printf '@@end\\n'\n");
        s
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let (id, loaded) = self.facts(facts.text)?;
        let i = &self.image;
        let note = self.latest_note();
        if let Some(a) = &self.load {
            if !id.is_empty() && loaded == a.sha256 && !self.force {
                return Ok(Plan::noop(format!(
                    "Image {i} is present, loaded from {} as it is now{note}",
                    a.url
                )));
            }
            let why = if id.is_empty() {
                "is not present"
            } else if self.force {
                "is present (force: True)"
            } else {
                "was not loaded from this archive"
            };
            return Ok(Plan::change(
                json!({"image": {"old": id, "new": format!("loaded from {}", a.url)}}),
                format!("Image {i} {why}: it will be loaded from {}{note}", a.url),
            ));
        }
        if !id.is_empty() && !self.force {
            return Ok(Plan::noop(format!("Image {i} is already present{note}")));
        }
        let comment = if id.is_empty() {
            format!("Image {i} will be pulled{note}")
        } else {
            format!(
                "Image {i} will be pulled again (force: True); it changes only if the registry has a newer one{note}"
            )
        };
        Ok(Plan::change(
            json!({"image": {"old": id, "new": format!("pulled {i}")}}),
            comment,
        ))
    }

    fn apply(&self, _plan: &Plan) -> Result<String, PlanMismatch> {
        let i = quote(&self.image);
        let mut s = prelude(self.engine);
        s.push_str(&format!(
            "h_old=$({})\nprintf '@@old %s\\n' \"$h_old\"\n",
            image_id_snippet(&self.image)
        ));
        match &self.load {
            None => s.push_str(&format!("\"$h_engine\" pull -- {i} || exit\n")),
            Some(a) => {
                s.push_str(
                    "h_t=$(mktemp \"${TMPDIR:-/var/tmp}/halite-image.XXXXXX\") || exit\n\
                     trap 'rm -f \"$h_t\"' EXIT\n",
                );
                s.push_str(&crate::modules::file::b64_heredoc(
                    &a.bytes, "\"$h_t\"", "exit",
                ));
                // "Loaded image: x", "Loaded image(s): x,y", "Loaded image ID: sha256:..".
                s.push_str(&format!(
                    "h_out=$(\"$h_engine\" load -i \"$h_t\" 2>&1) || {{ printf '%s\\n' \"$h_out\"; exit 1; }}\n\
                     printf '%s\\n' \"$h_out\"\n\
                     h_got=$(printf '%s\\n' \"$h_out\" | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1 | cut -d, -f1)\n\
                     [ -n \"$h_got\" ] || {{ echo 'the archive named no image'; exit 1; }}\n\
                     if [ \"$h_got\" != {i} ]; then \"$h_engine\" tag \"$h_got\" {i} || exit; fi\n\
                     mkdir -p {dir} && printf '%s\\n' {sha} >{rec} || exit\n",
                    dir = quote(LOAD_RECORDS),
                    sha = quote(&a.sha256),
                    rec = quote(&record_path(&self.image)),
                ));
            }
        }
        s.push_str(&format!(
            "printf '@@new %s\\n' \"$({})\"\n",
            image_id_snippet(&self.image)
        ));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let m = markers(out.text);
        let (old, new) = (
            bare_id(m.get("old").map_or("", String::as_str)),
            bare_id(m.get("new").map_or("", String::as_str)),
        );
        let i = &self.image;
        let verb = if self.load.is_some() { "load" } else { "pull" };
        if out.rc != 0 || new.is_empty() {
            let why = engine_missing(out.text).unwrap_or_else(|| message(out.text));
            return Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment: format!("Failed to {verb} image {i}: {why}"),
            };
        }
        let note = self.latest_note();
        if old == new {
            // force: the registry (or archive) had nothing newer.
            return Applied {
                result: true,
                changes: serde_json::Map::new(),
                comment: format!("Image {i} is already up to date ({verb}ed again){note}"),
            };
        }
        let mut changes = serde_json::Map::new();
        changes.insert("image".into(), json!({"old": old, "new": new}));
        let _ = plan;
        Applied {
            result: true,
            changes,
            comment: format!("Image {i} was {verb}ed{note}"),
        }
    }
}

/// `docker_image.absent`'s plan data: the declared images present now.
#[derive(Debug, PartialEq)]
struct Images(Vec<String>);

impl StateFunction for Absent {
    fn probe(&self) -> String {
        let mut s = prelude(self.engine);
        for (n, i) in self.images.iter().enumerate() {
            s.push_str(&format!(
                "printf '@@id{n} %s\\n' \"$({})\"\n",
                image_id_snippet(i)
            ));
        }
        s.push_str("printf '@@end\\n'\n");
        s
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        if let Some(m) = engine_missing(facts.text) {
            return Err(m);
        }
        let m = markers(facts.text);
        if !m.contains_key("end") {
            return Err(format!(
                "docker_image.absent: the probe did not complete: {}",
                facts.text.trim()
            ));
        }
        let present: Vec<String> = self
            .images
            .iter()
            .enumerate()
            .filter(|(n, _)| {
                m.get(&format!("id{n}"))
                    .is_some_and(|v| !v.trim().is_empty())
            })
            .map(|(_, i)| i.clone())
            .collect();
        if present.is_empty() {
            return Ok(Plan::noop(if self.images.len() == 1 {
                format!("Image {} is not present", self.images[0])
            } else {
                "All specified images are not present".into()
            }));
        }
        Ok(Plan::change(
            json!({"removed": present}),
            format!(
                "The following image(s) will be removed: {}",
                present.join(", ")
            ),
        )
        .with_data(Images(present)))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let Images(names) = plan.data::<Images>()?;
        Ok(format!(
            "{}\"$h_engine\" rmi{} -- {}\n",
            prelude(self.engine),
            if self.force { " -f" } else { "" },
            join(names)
        ))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Images>() {
            return e.into();
        }
        if out.rc == 0 {
            return Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: format!(
                    "The following image(s) were removed: {}",
                    plan.changes["removed"]
                        .as_array()
                        .map(|a| a
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ),
            };
        }
        Applied {
            result: false,
            changes: serde_json::Map::new(),
            comment: format!(
                "Failed to remove image(s): {}",
                engine_missing(out.text).unwrap_or_else(|| message(out.text))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::BuildCtx;

    fn chunk(function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("docker_image", function, name, args)
        }
    }

    fn make_in(
        root: &std::path::Path,
        function: &str,
        name: &str,
        args: Value,
    ) -> Result<Box<dyn StateFunction>, String> {
        let def = crate::modules::lookup("docker_image", function).unwrap();
        let ctx = BuildCtx {
            states_root: root,
            renderer: None,
        };
        (def.build)(&chunk(function, name, args), &ctx)
    }

    fn make(function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
        make_in(std::path::Path::new("/nonexistent"), function, name, args).unwrap()
    }

    fn plan(s: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        s.plan(Output { text, rc: 0 })
    }

    #[test]
    fn present_pulls_what_is_missing_and_says_latest() {
        let s = make("present", "127.0.0.1:5000/app", json!({}));
        let p = plan(&*s, "@@engine podman\n@@id \n@@end\n").unwrap();
        assert!(!p.is_noop());
        assert_eq!(
            p.comment,
            "Image 127.0.0.1:5000/app:latest will be pulled (no tag given: using 'latest', not every tag)"
        );
        assert!(s
            .apply(&p)
            .unwrap()
            .contains("pull -- 127.0.0.1:5000/app:latest"));
        let p = plan(&*s, "@@engine podman\n@@id sha256:abc\n@@end\n").unwrap();
        assert!(p.is_noop(), "{p:?}");

        let s = make("present", "app", json!({"tag": "v2"}));
        let p = plan(&*s, "@@engine docker\n@@id \n@@end\n").unwrap();
        assert_eq!(p.comment, "Image app:v2 will be pulled");
        let done = s.finish(
            &p,
            Output {
                text: "@@engine docker\n@@old \nv2: Pulling\n@@new sha256:abc\n",
                rc: 0,
            },
        );
        assert!(done.result);
        assert_eq!(
            Value::Object(done.changes),
            json!({"image": {"old": "", "new": "abc"}})
        );
        let failed = s.finish(
            &p,
            Output {
                text: "@@engine docker\n@@old \nError: manifest unknown\n",
                rc: 125,
            },
        );
        assert!(!failed.result);
        assert_eq!(
            failed.comment,
            "Failed to pull image app:v2: Error: manifest unknown"
        );
    }

    #[test]
    fn force_pulls_again_and_reports_only_a_real_change() {
        let s = make("present", "app:v1", json!({"force": true}));
        let p = plan(&*s, "@@engine podman\n@@id abc\n@@end\n").unwrap();
        assert!(!p.is_noop());
        let same = s.finish(
            &p,
            Output {
                text: "@@old abc\n@@new abc\n",
                rc: 0,
            },
        );
        assert!(same.result && same.changes.is_empty(), "{same:?}");
    }

    #[test]
    fn load_ships_the_archive_and_reloads_only_a_new_one() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("images")).unwrap();
        std::fs::write(root.path().join("images/app.tar"), b"not really a tar").unwrap();
        let s = make_in(
            root.path(),
            "present",
            "app:v1",
            json!({"load": "salt://images/app.tar"}),
        )
        .unwrap();
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(b"not really a tar"));
        let p = plan(&*s, "@@engine podman\n@@id \n@@loaded \n@@end\n").unwrap();
        assert!(p
            .comment
            .contains("will be loaded from salt://images/app.tar"));
        let apply = s.apply(&p).unwrap();
        assert!(apply.contains(&crate::modules::file::encode_b64(b"not really a tar")));
        assert!(apply.contains(&sha));
        let st = std::process::Command::new("sh")
            .args(["-n", "-c", &apply])
            .status()
            .unwrap();
        assert!(st.success(), "{apply}");
        assert!(plan(&*s, &format!("@@id abc\n@@loaded {sha}\n@@end\n"))
            .unwrap()
            .is_noop());
        let p = plan(&*s, "@@id abc\n@@loaded 0123\n@@end\n").unwrap();
        assert!(
            p.comment.contains("was not loaded from this archive"),
            "{p:?}"
        );
        assert!(make_in(
            root.path(),
            "present",
            "x",
            json!({"load": "salt://nope.tar"})
        )
        .is_err());
        assert!(make_in(root.path(), "present", "x", json!({"load": "/etc/passwd"})).is_err());
    }

    #[test]
    fn absent_removes_what_is_there() {
        let s = make("absent", "x", json!({"images": ["app:v1", "app:v2"]}));
        let p = plan(&*s, "@@id0 abc\n@@id1 \n@@end\n").unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"removed": ["app:v1"]})
        );
        assert!(s.apply(&p).unwrap().contains("rmi -- app:v1\n"));
        assert!(plan(&*s, "@@id0 \n@@id1 \n@@end\n").unwrap().is_noop());
        let s = make("absent", "app", json!({}));
        assert_eq!(
            plan(&*s, "@@id0 \n@@end\n").unwrap().comment,
            "Image app:latest is not present"
        );
    }

    #[test]
    fn arguments_and_engine_are_checked() {
        let bad = |name: &str, args: Value| {
            make_in(std::path::Path::new("/nonexistent"), "present", name, args).unwrap_err()
        };
        assert!(bad("app", json!({"engine": "lxc"})).contains("podman or docker"));
        assert!(bad("--all-tags", json!({})).contains("not a valid image"));
        assert!(bad("app:v1", json!({"tag": "v2"})).contains("already names a tag"));
        assert!(bad("app", json!({"bogus": 1})).contains("unknown field"));
        let s = make("present", "app", json!({"engine": "docker"}));
        assert!(s.probe().contains("h_engine=docker\n"));
        let e = plan(&*s, "@@noengine docker\n").unwrap_err();
        assert_eq!(
            e,
            "the container engine docker (engine: docker) is not installed on this host"
        );
    }
}
