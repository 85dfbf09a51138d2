//! Where template text comes from: files confined to the states root
//! (`..` and symlinks cannot leave it), and Salt's serializer tags
//! (`import_yaml`, `load_json`...) rewritten into plain minijinja before
//! compiling, on the same line so error lines stay true. Shared by the
//! Jinja environment and the `salt[...]` helpers that read the tree.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

pub(super) enum LoadError {
    Escape,
    Missing,
    Io(std::io::Error),
}

/// Normalize a root-relative template path, resolving `.` and `..`
/// segments against `base_dir` (a root-relative directory) when given.
/// `None` when the path is absolute or climbs out of the root.
pub(super) fn normalize(name: &str, base_dir: Option<&str>) -> Option<String> {
    if name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    let base = base_dir.unwrap_or("");
    for seg in base.split('/').chain(name.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(out.join("/"))
}

/// The file for root-relative `rel`, refusing paths (or symlinks) that
/// lead outside `root`.
pub(super) fn resolve_in_root(root: &Path, rel: &str) -> Result<PathBuf, LoadError> {
    let rel = normalize(rel, None).ok_or(LoadError::Escape)?;
    if Path::new(&rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(LoadError::Escape);
    }
    let path = root.join(&rel);
    let real = match path.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LoadError::Missing),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let real_root = root.canonicalize().map_err(LoadError::Io)?;
    if !real.starts_with(&real_root) {
        return Err(LoadError::Escape);
    }
    if !real.is_file() {
        return Err(LoadError::Missing);
    }
    Ok(real)
}

/// Rewrite Salt's serializer tags into minijinja, never adding a newline:
/// - `{% import_yaml EXPR as x %}` → `{% set x = halite_import("yaml", EXPR, "<this file>") %}`
///   (also `import_json`, `import_text`; the file is rendered as a
///   template first, as Salt's `import` does);
/// - `{% load_yaml as x %}...{% endload %}` → `{% set x %}...{% endset %}{% set x = x|load_yaml %}`.
pub(super) fn preprocess(source: &str, name: &str) -> String {
    super::rewrite::rewrite(&salt_tags(source, name), name)
}

fn salt_tags(source: &str, name: &str) -> String {
    static TAGS: OnceLock<Regex> = OnceLock::new();
    let re = TAGS.get_or_init(|| {
        Regex::new(concat!(
            r"\{%([-+]?)\s*(?:",
            r"import_(?P<ikind>yaml|json|text)\s+(?P<expr>[^\n]+?)\s+as\s+(?P<ivar>[A-Za-z_][A-Za-z0-9_]*)",
            r"|load_(?P<lkind>yaml|json|text)\s+as\s+(?P<lvar>[A-Za-z_][A-Za-z0-9_]*)",
            r"|(?P<end>endload)",
            r")\s*([-+]?)%\}"
        ))
        .expect("static regex")
    });
    if !source.contains("import_") && !source.contains("load_") {
        return source.to_string();
    }
    let quoted_name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
    let mut open: Vec<(String, String)> = Vec::new();
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for caps in re.captures_iter(source) {
        let whole = caps.get(0).expect("match");
        out.push_str(&source[last..whole.start()]);
        last = whole.end();
        let (l, r) = (
            &caps[1],
            caps.get(caps.len() - 1).map_or("", |m| m.as_str()),
        );
        if let Some(kind) = caps.name("ikind") {
            out.push_str(&format!(
                "{{%{l} set {} = halite_import(\"{}\", {}, {quoted_name}) {r}%}}",
                &caps["ivar"],
                kind.as_str(),
                &caps["expr"]
            ));
        } else if let Some(kind) = caps.name("lkind") {
            let var = caps["lvar"].to_string();
            out.push_str(&format!("{{%{l} set {var} {r}%}}"));
            open.push((kind.as_str().to_string(), var));
        } else if let Some((kind, var)) = open.pop() {
            out.push_str(&format!(
                "{{%{l} endset {r}%}}{{% set {var} = {var}|load_{kind} %}}"
            ));
        } else {
            // A stray endload: leave it for minijinja to report with its line.
            out.push_str(whole.as_str());
        }
    }
    out.push_str(&source[last..]);
    out
}
