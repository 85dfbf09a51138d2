//! Salt's `clean` for `file.directory` and `file.recurse`: everything under
//! the directory that no state keeps is removed. Kept are the paths the
//! state declares itself (`file.recurse`'s tree), what the file states it
//! requires manage (Salt's `_gen_keep_files`: a required `file.recurse`
//! keeps its tree, any other required file state its path and, when that
//! is a directory inside this one, everything under it), the directories
//! leading to a kept path, and what `exclude_pat` matches (relative to the
//! directory). The host lists the directory in the probe; which paths go
//! is decided here, on the controller.

use std::collections::BTreeSet;

use regex::Regex;

use crate::modules::Required;
use crate::state::Chunk;
use crate::transport::quote::quote;

/// What `clean` leaves under a directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keep {
    /// Kept paths (and the directories leading to them).
    exact: BTreeSet<String>,
    /// Kept with everything under them.
    subtrees: BTreeSet<String>,
}

impl Keep {
    /// Keep `path` and the directories leading to it.
    pub fn path(&mut self, path: &str) {
        self.exact.insert(path.to_string());
    }

    /// What the required states keep under `root` (Salt counts only file
    /// states).
    pub fn required(&mut self, root: &str, states: &[Required<'_>]) {
        for s in states.iter().filter(|s| s.chunk.module == "file") {
            let name = s.chunk.name.trim_end_matches('/');
            let name = if name.is_empty() { "/" } else { name };
            self.path(name);
            if s.chunk.function == "recurse" {
                for m in s.managed {
                    self.path(&m.resource.identity);
                }
            } else if under(name, root) || name == root {
                self.subtrees.insert(name.to_string());
            }
        }
    }

    fn keeps(&self, path: &str) -> bool {
        self.exact.contains(path)
            || self
                .exact
                .range(format!("{path}/")..)
                .next()
                .is_some_and(|k| under(k, path))
            || self.subtrees.iter().any(|s| s == path || under(path, s))
    }
}

/// `path` is strictly below `dir`.
fn under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.len() > 1 && path.starts_with('/');
    }
    path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// A probe section listing every path under `dir` (NUL-separated, in
/// base64: any name survives) between `TAG list` and `TAG end` lines. A
/// link to a directory is followed (the trailing `/`), as Salt's walk
/// does; links inside are not.
pub fn listing(tag: &str, dir: &str) -> String {
    format!(
        "printf '%s list\\n' '{tag}'\nif [ -d {q} ]; then find {qs} -mindepth 1 -print0 | base64; fi\nprintf '%s end\\n' '{tag}'\n",
        q = quote(dir),
        qs = quote(&format!("{dir}/"))
    )
}

/// The paths [`listing`] printed, or `None` when `text` has no listing.
pub fn parse_listing(tag: &str, text: &str) -> Result<Option<Vec<String>>, String> {
    let mut b64: Option<String> = None;
    for line in text.lines() {
        match (line.strip_prefix(tag).map(str::trim), &mut b64) {
            (Some("list"), _) => b64 = Some(String::new()),
            (Some("end"), Some(b)) => {
                let raw = data_encoding::BASE64
                    .decode(b.as_bytes())
                    .map_err(|e| format!("unexpected listing from the host: {e}"))?;
                return Ok(Some(
                    raw.split(|b| *b == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ));
            }
            (None, Some(b)) => b.push_str(line.trim()),
            _ => {}
        }
    }
    Ok(None)
}

/// What `clean` removes of `listed` (paths under `root`), sorted.
#[derive(Debug, Default, PartialEq)]
pub struct Strays {
    /// Every path not kept, what a removed directory holds included
    /// (Salt's `changes` name each).
    pub all: Vec<String>,
    /// What is removed: a removed directory alone, not what it holds
    /// (Salt's walk does not enter a directory it removed).
    pub top: Vec<String>,
}

pub fn strays(root: &str, listed: &[String], keep: &Keep, exclude: Option<&Regex>) -> Strays {
    let prefix = if root == "/" {
        "/".to_string()
    } else {
        format!("{root}/")
    };
    let mut listed: Vec<&String> = listed.iter().collect();
    listed.sort();
    let mut out = Strays::default();
    for path in listed {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        if keep.keeps(path) || exclude.is_some_and(|re| re.is_match(rel)) {
            continue;
        }
        out.all.push(path.clone());
        // Inside a directory already removed (sorted, so it came first;
        // not necessarily last: `old-x` sorts between `old` and `old/x`).
        if !out.top.iter().any(|d| under(path, d)) {
            out.top.push(path.clone());
        }
    }
    out
}

/// `rm -rf` of each path, failing the snippet on the first error.
pub fn remove_commands(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| format!("rm -rf -- {} || exit 1\n", quote(p)))
        .collect()
}

/// Salt's `include_pat` / `exclude_pat`: a glob (Python fnmatch, matched
/// against the path relative to the source), or `E@` and a regex.
pub(super) fn pattern(
    chunk: &Chunk,
    which: &str,
    p: &Option<String>,
) -> Result<Option<Regex>, String> {
    let Some(p) = p else { return Ok(None) };
    let re = match p.strip_prefix("E@") {
        Some(re) => Regex::new(re).map_err(|e| e.to_string()),
        None => crate::target::fnmatch(p),
    };
    re.map(Some)
        .map_err(|e| format!("{}: {which} `{p}`: {e}", chunk.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::Managed;
    use crate::state::Chunk;
    use serde_json::json;

    fn listed(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    /// Salt's keep rules: a required file keeps itself and its parents,
    /// a required directory inside keeps its whole tree, one outside (an
    /// ancestor) keeps nothing under the root, a required recurse keeps
    /// exactly its tree, non-file states keep nothing; exclude_pat keeps a
    /// path but not necessarily what it holds.
    #[test]
    fn keeps_what_required_file_states_manage() {
        let file = Chunk::standalone("file", "managed", "/srv/d/sub/f", json!({}));
        let dir = Chunk::standalone("file", "directory", "/srv/d/keepdir/", json!({}));
        let outer = Chunk::standalone("file", "directory", "/srv", json!({}));
        let rec = Chunk::standalone("file", "recurse", "/srv/d/tree", json!({}));
        let cmd = Chunk::standalone("cmd", "run", "/srv/d/cmdout", json!({}));
        let rec_managed = [
            Managed::present("file", "/srv/d/tree"),
            Managed::present("file", "/srv/d/tree/a"),
        ]
        .concat();
        let states = [
            Required {
                chunk: &file,
                managed: &[],
            },
            Required {
                chunk: &dir,
                managed: &[],
            },
            Required {
                chunk: &outer,
                managed: &[],
            },
            Required {
                chunk: &rec,
                managed: &rec_managed,
            },
            Required {
                chunk: &cmd,
                managed: &[],
            },
        ];
        let mut keep = Keep::default();
        keep.required("/srv/d", &states);
        let l = listed(&[
            "/srv/d/sub",
            "/srv/d/sub/f",
            "/srv/d/sub/g",
            "/srv/d/keepdir",
            "/srv/d/keepdir/x",
            "/srv/d/keepdir/y/z",
            "/srv/d/tree",
            "/srv/d/tree/a",
            "/srv/d/tree/b",
            "/srv/d/cmdout",
            "/srv/d/old",
            "/srv/d/old/x",
            "/srv/d/old-x",
            "/srv/d/x.tmp",
            "/srv/d/tmpdir",
            "/srv/d/tmpdir/y",
        ]);
        let re = crate::target::fnmatch("*.tmp").unwrap();
        assert_eq!(
            strays("/srv/d", &l, &keep, Some(&re)).top,
            [
                "/srv/d/cmdout",
                "/srv/d/old",
                "/srv/d/old-x",
                "/srv/d/sub/g",
                "/srv/d/tmpdir",
                "/srv/d/tree/b"
            ]
        );
        // An excluded directory stays; what it holds is judged on its own.
        let re = Regex::new("^tmpdir$").unwrap();
        let s = strays("/srv/d", &l, &keep, Some(&re)).top;
        assert!(s.contains(&"/srv/d/tmpdir/y".to_string()), "{s:?}");
        assert!(!s.contains(&"/srv/d/tmpdir".to_string()), "{s:?}");
        // Nothing required: everything goes.
        let s = strays(
            "/srv/d",
            &listed(&["/srv/d/a", "/srv/d/a/b"]),
            &Keep::default(),
            None,
        );
        assert_eq!(s.top, ["/srv/d/a"]);
        assert_eq!(s.all, ["/srv/d/a", "/srv/d/a/b"]);
    }

    #[test]
    fn listing_round_trips_any_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        std::fs::create_dir_all(d.join("sub dir")).unwrap();
        std::fs::write(d.join("sub dir/new\nline"), "").unwrap();
        let dir = d.display().to_string();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(listing("halite-t:", &dir))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut got = parse_listing("halite-t:", &text).unwrap().unwrap();
        got.sort();
        assert_eq!(
            got,
            [format!("{dir}/sub dir"), format!("{dir}/sub dir/new\nline")]
        );
        assert_eq!(parse_listing("halite-t:", "nothing").unwrap(), None);
    }
}
