//! Container engines (podman, docker) driven through their CLI: the engine
//! choice (the `engine:` argument, else podman, else docker: the order of
//! the `container_engine` grain), and the checks of container names and
//! image references. Shared by the `docker.*` execution functions and the
//! `docker_image` / `docker_container` states.

use crate::Value;

/// A container engine's CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }

    /// `engine: podman|docker`; `None` (null or absent): whichever the host has.
    pub fn parse(v: Option<&Value>) -> Result<Option<Engine>, String> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "podman" => Ok(Some(Engine::Podman)),
            Some(Value::String(s)) if s == "docker" => Ok(Some(Engine::Docker)),
            Some(other) => Err(format!("engine must be podman or docker, not {other}")),
        }
    }
}

/// The `sh` lines that pick the engine into `$h_engine` (the pinned one, else
/// podman, else docker: the `container_engine` grain's order) and print
/// `@@engine NAME`, or print `@@noengine [PINNED]` and exit 1.
pub fn prelude(engine: Option<Engine>) -> String {
    let mut s = select_engine(engine);
    s.push_str("printf '@@engine %s\\n' \"$h_engine\"\n");
    s
}

/// [`prelude`] without the `@@engine` line.
pub fn select_engine(engine: Option<Engine>) -> String {
    let pinned = engine.map(Engine::name).unwrap_or("");
    format!(
        "LC_ALL=C\nexport LC_ALL\n\
         h_engine={pinned}\n\
         if [ -z \"$h_engine\" ]; then\n\
         \tfor h_t in podman docker; do\n\
         \t\tif command -v \"$h_t\" >/dev/null 2>&1; then\n\
         \t\t\th_engine=$h_t\n\
         \t\t\tbreak\n\
         \t\tfi\n\
         \tdone\n\
         elif ! command -v \"$h_engine\" >/dev/null 2>&1; then\n\
         \th_engine=\n\
         fi\n\
         if [ -z \"$h_engine\" ]; then\n\
         \tprintf '@@noengine %s\\n' '{pinned}'\n\
         \texit 1\n\
         fi\n"
    )
}

/// The message for a host without the engine, when [`prelude`] said so.
pub fn engine_missing(text: &str) -> Option<String> {
    let pinned = text.lines().find_map(|l| l.strip_prefix("@@noengine"))?;
    Some(match pinned.trim() {
        "" => "no container engine on this host: neither podman nor docker is installed".into(),
        e => format!("the container engine {e} (engine: {e}) is not installed on this host"),
    })
}

/// An image ID as both engines print it, without docker's `sha256:`.
pub fn bare_id(id: &str) -> String {
    id.trim().trim_start_matches("sha256:").to_string()
}

/// A container name both engines accept (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`); it
/// can never pass for an option.
pub fn check_container_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 200;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        ))
    }
}

/// An image reference with its tag: `repo` alone means `repo:latest` (never
/// every tag), `tag` (when given) is added to a `repo` that names none.
/// Returns the reference and whether `latest` was assumed.
pub fn image_ref(name: &str, tag: Option<&str>) -> Result<(String, bool), String> {
    let bad = |why: &str| Err(format!("`{name}` is not a valid image reference: {why}"));
    if name.is_empty() || name.starts_with('-') {
        return bad("it is empty or starts with '-'");
    }
    if name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') {
        return bad("it contains whitespace or quotes");
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    let has_tag = last.contains(':') || name.contains('@');
    match tag {
        Some(t) if has_tag => Err(format!(
            "`{name}` already names a tag or digest; `tag: {t}` cannot be added"
        )),
        Some(t)
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) =>
        {
            Err(format!("`{t}` is not a valid tag"))
        }
        Some(t) => Ok((format!("{name}:{t}"), false)),
        None if has_tag => Ok((name.to_string(), false)),
        None => Ok((format!("{name}:latest"), true)),
    }
}
