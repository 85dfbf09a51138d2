//! The mine's store on the controller: what `mine.update` brought back
//! from each host, one file per host (`CACHE_DIR/mine/HOST.json`, written
//! atomically and owner-only through [`crate::cache_file`]), read back by
//! `mine.get` (the command line's and a template's `salt['mine.get']`).
//!
//! Salt keeps the mine in the master's cache and matches `mine.get`'s
//! target against the minion data it cached; halite keeps each host's
//! grains of its last `mine.update` beside its data for the same reason
//! (they are never returned). Pillar is never stored here: a pillar
//! target is decided by compiling the host's pillar when asked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::target::{MatchCtx, Target};
use crate::Value;

/// One host's mine: the functions' returns by alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostMine {
    /// The host id (file names are encoded; this is the id as given).
    pub id: String,
    /// Seconds since the epoch of the last update.
    #[serde(default)]
    pub updated: f64,
    /// The host's grains at its last update, for grain targets.
    #[serde(default)]
    pub grains: Value,
    /// Alias (the `mine_functions` key) -> the function's return.
    #[serde(default)]
    pub data: BTreeMap<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum MineError {
    #[error("mine store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mine store {path}: not a mine file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The directory of the mine files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Which functions `mine.get` asks for: Salt returns `{host: value}` for
/// one function and `{function: {host: value}}` for a list or a
/// comma-separated string of several.
#[derive(Debug, Clone, PartialEq)]
pub enum Funs {
    One(String),
    Many(Vec<String>),
}

impl Funs {
    /// `fun` as Salt reads it: `a,b` is two functions (repeats dropped),
    /// a list is always the keyed form.
    pub fn from_value(fun: &Value) -> Option<Funs> {
        match fun {
            Value::String(s) => {
                let mut names: Vec<String> = Vec::new();
                for n in s.split(',') {
                    if !names.iter().any(|x| x == n) {
                        names.push(n.to_string());
                    }
                }
                Some(if names.len() == 1 {
                    Funs::One(names.remove(0))
                } else {
                    Funs::Many(names)
                })
            }
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Funs::Many),
            _ => None,
        }
    }
}

impl Store {
    /// The store under the controller's cache directory.
    pub fn new(cache_dir: &Path) -> Store {
        Store {
            dir: cache_dir.join("mine"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", crate::cache_file::host_file_name(id)))
    }

    /// Host `id`'s mine; `None` when it has none.
    pub fn load(&self, id: &str) -> Result<Option<HostMine>, MineError> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| MineError::Format { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MineError::Io { path, source }),
        }
    }

    fn save(&self, mine: &HostMine) -> Result<(), MineError> {
        let name = format!("{}.json", crate::cache_file::host_file_name(&mine.id));
        let text = serde_json::to_vec_pretty(mine).expect("JSON values serialize");
        crate::cache_file::write_private(&self.dir, &name, &text).map_err(|source| MineError::Io {
            path: self.dir.join(&name),
            source,
        })
    }

    /// Store what host `id`'s functions returned: over its earlier data
    /// (Salt's default), or in place of it with `clear` (Salt's
    /// `clear=True`). The grains are the host's as of now.
    pub fn update(
        &self,
        id: &str,
        grains: &Value,
        data: BTreeMap<String, Value>,
        clear: bool,
        now: f64,
    ) -> Result<(), MineError> {
        let mut mine = match (clear, self.load(id)?) {
            (false, Some(old)) => old,
            _ => HostMine::default(),
        };
        mine.id = id.to_string();
        mine.updated = now;
        mine.grains = grains.clone();
        mine.data.extend(data);
        self.save(&mine)
    }

    /// Forget host `id`'s function `fun` (Salt's `mine.delete`).
    pub fn delete(&self, id: &str, fun: &str) -> Result<(), MineError> {
        let Some(mut mine) = self.load(id)? else {
            return Ok(());
        };
        match mine.data.remove(fun) {
            Some(_) => self.save(&mine),
            None => Ok(()),
        }
    }

    /// Forget everything host `id` sent (Salt's `mine.flush`).
    pub fn flush(&self, id: &str) -> Result<(), MineError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(MineError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Every host's mine, by id. No store yet is an empty mine.
    pub fn all(&self) -> Result<BTreeMap<String, HostMine>, MineError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(MineError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|source| MineError::Io {
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Temp files of a write in progress start with a dot.
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|source| MineError::Io {
                path: path.clone(),
                source,
            })?;
            let mine: HostMine = serde_json::from_slice(&bytes)
                .map_err(|source| MineError::Format { path, source })?;
            out.insert(mine.id.clone(), mine);
        }
        Ok(out)
    }
}

/// `mine.get`'s answer from `mines`: the hosts `target` matches (`decide`
/// says, per host, whether it matches: a pillar target needs more than
/// the store holds), each with the data of `funs` it has; hosts without
/// any are left out, as in Salt.
pub fn select(
    mines: &BTreeMap<String, HostMine>,
    funs: &Funs,
    mut decide: impl FnMut(&HostMine) -> bool,
) -> Value {
    let mut out = serde_json::Map::new();
    for mine in mines.values() {
        let wanted = match funs {
            Funs::One(f) => mine.data.contains_key(f),
            Funs::Many(fs) => fs.iter().any(|f| mine.data.contains_key(f)),
        };
        if !wanted || !decide(mine) {
            continue;
        }
        match funs {
            Funs::One(f) => {
                out.insert(mine.id.clone(), mine.data[f].clone());
            }
            Funs::Many(fs) => {
                for f in fs {
                    if let Some(v) = mine.data.get(f) {
                        let per = out
                            .entry(f.clone())
                            .or_insert_with(|| Value::Object(Default::default()));
                        if let Value::Object(m) = per {
                            m.insert(mine.id.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// Whether `target` matches a stored host from its id and grains alone:
/// `None` when a pillar matcher leaves it undecided.
pub fn decide(target: &Target, mine: &HostMine) -> Option<bool> {
    target.decide(&MatchCtx::new(&mine.id, &mine.grains))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetType;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        (dir, s)
    }

    fn data(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn an_empty_store_is_an_empty_mine() {
        let (_d, s) = store();
        assert!(s.all().unwrap().is_empty());
        assert_eq!(s.load("web1").unwrap(), None);
        s.flush("web1").unwrap();
        s.delete("web1", "x").unwrap();
    }

    #[test]
    fn updates_merge_unless_cleared_and_files_are_private() {
        let (_d, s) = store();
        let g = json!({"os": "Debian"});
        s.update(
            "web1",
            &g,
            data(&[("a", json!(1)), ("b", json!(2))]),
            false,
            1.0,
        )
        .unwrap();
        s.update("web1", &g, data(&[("b", json!(3))]), false, 2.0)
            .unwrap();
        let m = s.load("web1").unwrap().unwrap();
        assert_eq!(m.data, data(&[("a", json!(1)), ("b", json!(3))]));
        assert_eq!(m.updated, 2.0);
        s.update("web1", &g, data(&[("c", json!(4))]), true, 3.0)
            .unwrap();
        assert_eq!(
            s.load("web1").unwrap().unwrap().data,
            data(&[("c", json!(4))])
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir().join("web1.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn ids_that_are_not_file_names_stay_apart() {
        let (_d, s) = store();
        for id in ["../x", "a/b", ".x", "x"] {
            s.update(id, &Value::Null, data(&[("f", json!(id))]), false, 0.0)
                .unwrap();
        }
        let all = s.all().unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all["../x"].data["f"], "../x");
        assert!(std::fs::read_dir(s.dir())
            .unwrap()
            .all(|e| e.unwrap().path().parent() == Some(s.dir())));
    }

    #[test]
    fn delete_and_flush_touch_one_host() {
        let (_d, s) = store();
        s.update(
            "a",
            &Value::Null,
            data(&[("f", json!(1)), ("g", json!(2))]),
            false,
            0.0,
        )
        .unwrap();
        s.update("b", &Value::Null, data(&[("f", json!(1))]), false, 0.0)
            .unwrap();
        s.delete("a", "f").unwrap();
        assert_eq!(s.load("a").unwrap().unwrap().data, data(&[("g", json!(2))]));
        s.flush("a").unwrap();
        let all = s.all().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let (_d, s) = store();
        std::fs::create_dir_all(s.dir()).unwrap();
        std::fs::write(s.dir().join("x.json"), "{").unwrap();
        let e = s.all().unwrap_err().to_string();
        assert!(e.contains("x.json"), "{e}");
    }

    #[test]
    fn funs_are_read_as_salt_reads_them() {
        assert_eq!(Funs::from_value(&json!("a")), Some(Funs::One("a".into())));
        assert_eq!(
            Funs::from_value(&json!("a,b,a")),
            Some(Funs::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!(Funs::from_value(&json!("a,a")), Some(Funs::One("a".into())));
        assert_eq!(
            Funs::from_value(&json!(["a"])),
            Some(Funs::Many(vec!["a".into()]))
        );
        assert_eq!(Funs::from_value(&json!(3)), None);
    }

    fn mines() -> BTreeMap<String, HostMine> {
        let host = |id: &str, os: &str, d: &[(&str, Value)]| HostMine {
            id: id.into(),
            updated: 0.0,
            grains: json!({"os": os}),
            data: data(d),
        };
        [
            host("web1", "Debian", &[("ip", json!(["10.0.0.1"]))]),
            host(
                "web2",
                "Fedora",
                &[("ip", json!(["10.0.0.2"])), ("up", json!(true))],
            ),
            host("db1", "Debian", &[("up", json!(false))]),
        ]
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect()
    }

    fn get(kind: TargetType, expr: &str, funs: Funs) -> Value {
        let t = Target::parse(kind, expr, &BTreeMap::new()).unwrap();
        select(&mines(), &funs, |m| decide(&t, m).unwrap_or(false))
    }

    #[test]
    fn select_matches_by_id_and_stored_grains() {
        let one = || Funs::One("ip".into());
        assert_eq!(
            get(TargetType::Glob, "*", one()),
            json!({"web1": ["10.0.0.1"], "web2": ["10.0.0.2"]})
        );
        assert_eq!(
            get(TargetType::Glob, "web1", one()),
            json!({"web1": ["10.0.0.1"]})
        );
        assert_eq!(
            get(TargetType::Grain, "os:Debian", one()),
            json!({"web1": ["10.0.0.1"]})
        );
        assert_eq!(
            get(
                TargetType::Compound,
                "G@os:Fedora or db*",
                Funs::One("up".into())
            ),
            json!({"web2": true, "db1": false})
        );
        assert_eq!(
            get(TargetType::List, "db1,web1", Funs::One("nope".into())),
            json!({})
        );
        assert_eq!(
            get(
                TargetType::Glob,
                "*",
                Funs::Many(vec!["ip".into(), "up".into()])
            ),
            json!({"ip": {"web1": ["10.0.0.1"], "web2": ["10.0.0.2"]},
                   "up": {"web2": true, "db1": false}})
        );
    }

    #[test]
    fn a_pillar_target_is_undecided_from_the_store() {
        let t = Target::parse(TargetType::Pillar, "role:web", &BTreeMap::new()).unwrap();
        assert_eq!(decide(&t, &mines()["web1"]), None);
    }
}
