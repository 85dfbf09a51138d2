//! The folder layout is the architecture (ARCHITECTURE.md, "Layers"): the
//! top-level modules of src/ import each other in one direction only. This
//! test reads every source file's `crate::NAME` paths (imports, paths in
//! code and doc links alike; unit-test modules and test files left out, as
//! a test may reach anything) and fails on a circle between top-level
//! modules, naming it, and on the edges the platform layer exists to
//! prevent (state modules and execution functions never import each other).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src/") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's text without its unit-test module (by convention the last
/// item of a file, after `#[cfg(test)]`).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Top-level module -> the top-level modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let name = rel.file_name().unwrap().to_string_lossy();
        if name == "tests.rs" || rel.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if ["lib", "main", "testing"].contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = g.entry(top.clone()).or_default();
        for (i, _) in without_tests(&text).match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !word.is_empty() && word != top {
                deps.insert(word);
            }
        }
    }
    let known: BTreeSet<String> = g.keys().cloned().collect();
    for deps in g.values_mut() {
        deps.retain(|d| known.contains(d));
    }
    g
}

/// A circle through `from`, if any: the path back to it.
fn circle(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in g.get(&at).into_iter().flatten() {
            if next == from {
                let mut p = path.clone();
                p.push(from.to_string());
                return Some(p);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_import_in_one_direction() {
    let g = graph();
    assert!(g.len() > 15, "src/ was not read: {g:?}");
    let circles: Vec<String> = g
        .keys()
        .filter_map(|m| circle(&g, m))
        .map(|p| p.join(" -> "))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_layers_the_architecture_names() {
    let g = graph();
    let never = [
        ("functions", "modules"),
        ("modules", "functions"),
        ("modules", "engine"),
        ("engine", "functions"),
        ("state", "modules"),
        ("state", "engine"),
        ("render", "functions"),
        ("render", "pillar"),
        ("platform", "modules"),
        ("platform", "functions"),
    ];
    for (a, b) in never {
        assert!(
            !g.get(a).is_some_and(|d| d.contains(b)),
            "src/{a} imports src/{b}: {:?}",
            g.get(a)
        );
    }
    // Everything the platform layer knows is its own or the transport's.
    let platform = g.get("platform").cloned().unwrap_or_default();
    assert!(platform.iter().all(|d| d == "transport"), "{platform:?}");
}

/// Inside one folder, sibling files (not its mod.rs, the folder's face)
/// import each other in one direction too: file -> the siblings it names
/// as `super::NAME` or by their whole `crate::` path.
#[test]
fn files_of_one_folder_import_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut circles = Vec::new();
    let mut folders = 0;
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        by_dir
            .entry(f.parent().unwrap().to_path_buf())
            .or_default()
            .push(f);
    }
    for (dir, files) in &by_dir {
        let module = |f: &Path| f.file_stem().unwrap().to_string_lossy().into_owned();
        let siblings: BTreeSet<String> = files
            .iter()
            .map(|f| module(f))
            .chain(
                std::fs::read_dir(dir)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join("mod.rs").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            )
            .filter(|m| !["mod", "tests", "lib", "main"].contains(&m.as_str()))
            .collect();
        let rel = dir
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('/', "::");
        let whole = if rel.is_empty() {
            "crate::".to_string()
        } else {
            format!("crate::{rel}::")
        };
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files {
            let me = module(f);
            if !siblings.contains(&me) {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap();
            let text = without_tests(&text);
            let deps = g.entry(me.clone()).or_default();
            for prefix in ["super::", whole.as_str()] {
                for (i, _) in text.match_indices(prefix) {
                    // `crate::x::super::` is not a thing; a longer
                    // `crate::` path than this folder's is matched whole.
                    if prefix == "super::" && text[..i].ends_with("::") {
                        continue;
                    }
                    let word: String = text[i + prefix.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if word != me && siblings.contains(&word) {
                        deps.insert(word);
                    }
                }
            }
        }
        folders += 1;
        for m in g.keys() {
            if let Some(p) = circle(&g, m) {
                circles.push(format!("{}: {}", dir.display(), p.join(" -> ")));
            }
        }
    }
    assert!(folders > 10, "src/ was not read");
    assert!(
        circles.is_empty(),
        "import circles between the files of a folder: {circles:#?}"
    );
}
