//! The job cache: every run is recorded (job id, target, function,
//! arguments, per-host results and timings) under `<cache_dir>/jobs/`, so
//! `halite jobs list` and `halite jobs show JID` can read it back.
//!
//! A record is written when the run starts (status `running`, with every
//! targeted host and the controller's pid), each host's result is appended to
//! `JID.log` as it arrives, and the record is rewritten when the run ends (each
//! write atomic). So a killed controller still leaves what it knew: reading a
//! `running` record whose controller is gone merges the log and reports the
//! job `interrupted`, its unfinished hosts `not_run`, ready for `jobs rerun`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::fleet::{HostResult, Summary};
use crate::functions::Args;
use crate::secrets::Secrets;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Finished,
    Interrupted,
}

/// One run, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    pub jid: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub target: String,
    /// The matcher: glob, pcre, list, grain, grain_pcre, ipcidr, nodegroup, compound.
    pub target_type: String,
    pub function: String,
    pub args: Args,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_fail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verify: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_wait: Option<f64>,
    /// The hosts of each stage that started.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stages: Vec<Vec<String>>,
    /// Why hosts were left unstarted, when they were.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped: Option<String>,
    pub status: JobStatus,
    pub duration_ms: u64,
    pub summary: Summary,
    pub results: BTreeMap<String, HostResult>,
    /// Every targeted host, known from the start.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub targeted: Vec<String>,
    /// The controller process, while the job runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<u32>,
    /// An orchestration (`halite orchestrate`): each step, in order, with
    /// the job id of its own run (none for steps that ran no host command).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub steps: Vec<StepJob>,
}

/// One step of an orchestration's job record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepJob {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jid: Option<String>,
}

/// A message carries its cause in its own text and does not also return it
/// as `source()`: the CLI prints an error with its chain, which would print
/// the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no job {jid} in {}", dir.display())]
    NotFound { jid: String, dir: PathBuf },
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: corrupt job record: {error}", path.display())]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
}

/// A new job id: the UTC start time with microseconds, like Salt's (20261123161828123456).
/// Replaces every file diff under a state's `changes` in `v` with how many
/// lines it adds and removes. A diff of a file rendered from pillar holds the
/// pillar's values (old and new), and the job cache must not keep secrets, so
/// records keep diffs only when `job_cache_diffs: true` says so. Markers that
/// carry no content ("New file", "<show_changes=False>", `true`) stay.
fn withhold_diffs(v: &mut crate::Value, in_changes: bool) {
    match v {
        crate::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    crate::Value::String(diff) if in_changes && key == "diff" => {
                        if let Some(summary) = diff_summary(diff) {
                            *diff = summary;
                        }
                    }
                    _ => withhold_diffs(value, in_changes || key == "changes"),
                }
            }
        }
        crate::Value::Array(items) => {
            for item in items {
                withhold_diffs(item, in_changes);
            }
        }
        _ => {}
    }
}

/// "<diff withheld from the job cache: +A -R lines>" for a unified diff;
/// `None` for a marker that holds no file content.
fn diff_summary(diff: &str) -> Option<String> {
    if !diff.contains('\n')
        && (diff == "New file" || diff.starts_with('<') || diff.starts_with("Replace file"))
    {
        return None;
    }
    let (mut added, mut removed) = (0, 0);
    for line in diff.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        if line.starts_with('+') {
            added += 1;
        } else if line.starts_with('-') {
            removed += 1;
        }
    }
    Some(format!(
        "<diff withheld from the job cache: +{added} -{removed} lines>"
    ))
}

pub fn new_jid(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The job cache directory.
#[derive(Debug, Clone)]
pub struct JobCache {
    dir: PathBuf,
    /// The latest copy of each host's drift ledger.
    ledgers: PathBuf,
    /// Whether state results keep their file diffs in the records
    /// (`job_cache_diffs` in halite.yaml; off by default, see `withhold_diffs`).
    keep_diffs: bool,
    /// Values the `gpg` and `age` renderers decrypted in this run: withheld
    /// from every record, wherever a function returned them.
    secrets: Option<Arc<Secrets>>,
}

impl JobCache {
    pub fn new(cache_dir: &Path) -> Self {
        JobCache {
            dir: cache_dir.join("jobs"),
            ledgers: cache_dir.join("ledgers"),
            keep_diffs: false,
            secrets: None,
        }
    }

    /// Records written from now on withhold every value `secrets` has
    /// decrypted (diffs kept by `job_cache_diffs` included), as
    /// `<decrypted secret withheld>`.
    pub fn withholding(mut self, secrets: Arc<Secrets>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// A result as it is stored (see [`JobCache::stored`]), in place.
    fn clean(&self, r: &mut HostResult) {
        if !self.keep_diffs {
            withhold_diffs(&mut r.ret, false);
        }
        if let Some(secrets) = self.secrets.as_ref().filter(|s| s.any_revealed()) {
            secrets.redact(&mut r.ret);
            if let Some(d) = r.drift.as_mut() {
                d.texts_mut(&mut |t| *t = secrets.redact_str(t).into_owned());
            }
            if let Some(e) = r.error.as_mut() {
                *e = secrets.redact_str(e).into_owned();
            }
        }
    }

    /// Records written from now on keep file diffs (`true`) or replace each
    /// with a line count (`false`, the default).
    pub fn keeping_diffs(mut self, keep: bool) -> Self {
        self.keep_diffs = keep;
        self
    }

    /// A result as it is stored: its diffs withheld unless they are kept,
    /// and decrypted values withheld always.
    fn stored<'r>(&self, result: &'r HostResult) -> std::borrow::Cow<'r, HostResult> {
        let revealed = self.secrets.as_ref().is_some_and(|s| s.any_revealed());
        if self.keep_diffs && !revealed {
            return std::borrow::Cow::Borrowed(result);
        }
        let mut r = result.clone();
        self.clean(&mut r);
        std::borrow::Cow::Owned(r)
    }

    fn path(&self, jid: &str) -> PathBuf {
        self.dir.join(format!("{jid}.json"))
    }

    /// Write `record` atomically (temp file in the same directory, then
    /// rename), readable by the owner only (results hold command output).
    pub fn save(&self, record: &JobRecord) -> Result<(), JobError> {
        let mut r = record.clone();
        for result in r.results.values_mut() {
            self.clean(result);
        }
        if let Some(secrets) = &self.secrets {
            if let Some(stopped) = r.stopped.as_mut() {
                *stopped = secrets.redact_str(stopped).into_owned();
            }
        }
        let text = serde_json::to_vec_pretty(&r).expect("job records serialize");
        crate::cache_file::write_private(&self.dir, &format!("{}.json", record.jid), &text).map_err(
            |source| JobError::Io {
                action: "write",
                path: self.path(&record.jid),
                error: source,
            },
        )
    }

    /// Keep `copy` (a host's drift ledger as a state run left it, see
    /// `crate::state::ledger::HostCopy`) as `ledgers/HOST.json`, replacing the
    /// previous copy atomically.
    pub fn save_ledger(&self, host: &str, copy: &crate::Value) -> Result<(), JobError> {
        let name = format!("{}.json", crate::cache_file::host_file_name(host));
        let mut copy = copy.clone();
        if let Some(secrets) = &self.secrets {
            secrets.redact(&mut copy);
        }
        let text = serde_json::to_vec_pretty(&copy).expect("ledger copies serialize");
        crate::cache_file::write_private(&self.ledgers, &name, &text).map_err(|source| {
            JobError::Io {
                action: "write",
                path: self.ledgers.join(&name),
                error: source,
            }
        })
    }

    fn log_path(&self, jid: &str) -> PathBuf {
        self.dir.join(format!("{jid}.log"))
    }

    /// Append one host's result to the job's log (one JSON line), so it
    /// survives the controller being killed.
    pub fn append(&self, jid: &str, result: &HostResult) -> Result<(), JobError> {
        use std::io::Write;
        let path = self.log_path(jid);
        let mut line = serde_json::to_vec(&self.stored(result)).expect("results serialize");
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|source| JobError::Io {
                action: "append to",
                path,
                error: source,
            })
    }

    /// Write the final record and drop the log it supersedes.
    pub fn finish(&self, record: &JobRecord) -> Result<(), JobError> {
        self.save(record)?;
        let _ = std::fs::remove_file(self.log_path(&record.jid));
        Ok(())
    }

    /// Read one job back. A `running` job whose controller is gone is
    /// completed from its log and reported as interrupted.
    pub fn load(&self, jid: &str) -> Result<JobRecord, JobError> {
        let mut record = self.load_record(jid)?;
        if record.status == JobStatus::Running && !record.pid.is_some_and(process_alive) {
            if let Ok(text) = std::fs::read_to_string(self.log_path(jid)) {
                for line in text.lines() {
                    // A line cut short by the kill is simply not there.
                    if let Ok(r) = serde_json::from_str::<HostResult>(line) {
                        record.results.insert(r.id.clone(), r);
                    }
                }
            }
            for id in &record.targeted {
                record
                    .results
                    .entry(id.clone())
                    .or_insert_with(|| HostResult {
                        id: id.clone(),
                        status: crate::fleet::Status::NotRun,
                        ret: crate::Value::Null,
                        retcode: None,
                        error: Some("the controller stopped before this host finished".into()),
                        started: None,
                        duration_ms: 0,
                        executions: 0,
                        drift: None,
                        ledger: None,
                        duplicate: false,
                    });
            }
            record.status = JobStatus::Interrupted;
            record.summary = Summary::of(record.results.values());
        }
        Ok(record)
    }

    fn load_record(&self, jid: &str) -> Result<JobRecord, JobError> {
        if jid.is_empty() || !jid.chars().all(|c| c.is_ascii_digit()) {
            return Err(JobError::NotFound {
                jid: jid.to_string(),
                dir: self.dir.clone(),
            });
        }
        let path = self.path(jid);
        let text = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => JobError::NotFound {
                jid: jid.to_string(),
                dir: self.dir.clone(),
            },
            _ => JobError::Io {
                action: "read",
                path: path.clone(),
                error: source,
            },
        })?;
        serde_json::from_slice(&text).map_err(|source| JobError::Corrupt {
            path,
            error: source,
        })
    }

    /// Remove the records (and logs) of jobs that ended more than `keep`
    /// before `now` (Salt's `keep_jobs`), never one whose controller is
    /// still running it. Returns how many jobs were removed.
    pub fn prune(&self, keep: std::time::Duration, now: SystemTime) -> Result<usize, JobError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(JobError::Io {
                    action: "read",
                    path: self.dir.clone(),
                    error: source,
                })
            }
        };
        let mut removed = 0;
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(jid) = name.strip_suffix(".json") else {
                continue;
            };
            if jid.is_empty() || !jid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > keep));
            if !old {
                continue;
            }
            if let Ok(r) = self.load_record(jid) {
                if r.status == JobStatus::Running && r.pid.is_some_and(process_alive) {
                    continue;
                }
            }
            let _ = std::fs::remove_file(self.log_path(jid));
            if std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every stored job, oldest first. Unreadable records are skipped.
    pub fn list(&self) -> Result<Vec<JobRecord>, JobError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(JobError::Io {
                    action: "read",
                    path: self.dir.clone(),
                    error: source,
                })
            }
        };
        let mut jids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .filter(|j| j.chars().all(|c| c.is_ascii_digit()))
            .collect();
        jids.sort();
        Ok(jids.iter().filter_map(|j| self.load(j).ok()).collect())
    }
}

/// Whether process `pid` still exists (Linux: /proc/PID).
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jids_sort_by_time_and_records_round_trip() {
        let a = new_jid(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_000_001),
        );
        assert_eq!(a, "20231114221320000001");
        let dir = tempfile::tempdir().unwrap();
        let cache = JobCache::new(dir.path());
        let rec = JobRecord {
            jid: a.clone(),
            started: "2023-11-14T22:13:20Z".into(),
            target: "*".into(),
            target_type: "glob".into(),
            function: "test.ping".into(),
            args: Args::default(),
            batch: None,
            max_fail: None,
            verify: None,
            batch_wait: None,
            stages: Vec::new(),
            stopped: None,
            status: JobStatus::Finished,
            duration_ms: 5,
            summary: Summary::default(),
            results: BTreeMap::new(),
            targeted: Vec::new(),
            pid: None,
            steps: Vec::new(),
        };
        cache.save(&rec).unwrap();
        assert_eq!(cache.load(&a).unwrap(), rec);
        assert_eq!(cache.list().unwrap().len(), 1);
        assert!(matches!(cache.load("123"), Err(JobError::NotFound { .. })));
        assert!(matches!(
            cache.load("../etc"),
            Err(JobError::NotFound { .. })
        ));

        // keep_jobs: a record older than the limit goes, with its log; a
        // young one and one still running stay.
        let later = SystemTime::now() + std::time::Duration::from_secs(2 * 3600);
        let hour = std::time::Duration::from_secs(3600);
        std::fs::write(cache.log_path(&a), "{}\n").unwrap();
        let running = JobRecord {
            jid: "20231114221320000002".into(),
            status: JobStatus::Running,
            pid: Some(std::process::id()),
            steps: Vec::new(),
            ..rec.clone()
        };
        cache.save(&running).unwrap();
        assert_eq!(cache.prune(3 * hour, later).unwrap(), 0);
        assert_eq!(cache.prune(hour, later).unwrap(), 1);
        assert!(matches!(cache.load(&a), Err(JobError::NotFound { .. })));
        assert!(!cache.log_path(&a).exists());
        assert_eq!(cache.list().unwrap().len(), 1, "the running job stays");
    }

    #[test]
    fn diffs_are_withheld_from_records_unless_kept() {
        let ret = serde_json::json!({
            "file_|-cfg_|-/etc/app.conf_|-managed": {
                "changes": {"diff": "--- \n+++ \n@@ -1 +1 @@\n-password=old\n+password=new\n"},
                "comment": "File /etc/app.conf updated",
            },
            "file_|-new_|-/etc/new_|-managed": {"changes": {"diff": "New file"}},
            "file_|-quiet_|-/etc/q_|-managed": {"changes": {"diff": "<show_changes=False>"}},
            "file_|-tree_|-/srv_|-recurse": {
                "changes": {"/srv/a": {"diff": "@@ -1 +1,2 @@\n x\n+secret\n"}},
            },
            "cmd_|-c_|-echo_|-run": {"changes": {"stdout": "diff"}, "diff": "not in changes\n-x"},
        });
        let result = HostResult {
            id: "h".into(),
            status: crate::fleet::Status::Ok,
            ret: ret.clone(),
            retcode: Some(0),
            error: None,
            started: None,
            duration_ms: 1,
            executions: 1,
            drift: None,
            ledger: None,
            duplicate: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = JobCache::new(dir.path());
        let stored = cache.stored(&result).into_owned().ret;
        let text = stored.to_string();
        assert!(
            !text.contains("password") && !text.contains("secret"),
            "{text}"
        );
        assert_eq!(
            stored["file_|-cfg_|-/etc/app.conf_|-managed"]["changes"]["diff"],
            "<diff withheld from the job cache: +1 -1 lines>"
        );
        assert_eq!(
            stored["file_|-tree_|-/srv_|-recurse"]["changes"]["/srv/a"]["diff"],
            "<diff withheld from the job cache: +1 -0 lines>"
        );
        for (key, marker) in [
            ("file_|-new_|-/etc/new_|-managed", "New file"),
            ("file_|-quiet_|-/etc/q_|-managed", "<show_changes=False>"),
        ] {
            assert_eq!(stored[key]["changes"]["diff"], marker);
        }
        // Only diffs of a state's changes are touched.
        assert_eq!(stored["cmd_|-c_|-echo_|-run"], ret["cmd_|-c_|-echo_|-run"]);

        let keeping = JobCache::new(dir.path()).keeping_diffs(true);
        assert_eq!(keeping.stored(&result).ret, ret);
    }

    #[test]
    fn decrypted_values_are_withheld_from_records_even_with_diffs_kept() {
        let secrets = Arc::new(Secrets::default());
        secrets.reveal("hunter22-pw");
        let result = HostResult {
            id: "h".into(),
            status: crate::fleet::Status::Failed,
            ret: serde_json::json!({
                "file_|-cfg_|-/etc/app.conf_|-managed": {
                    "changes": {"diff": "@@ -1 +1 @@\n-password=old\n+password=hunter22-pw\n"},
                },
                "cmd_|-c_|-echo_|-run": {"changes": {"stdout": "hunter22-pw"}},
            }),
            retcode: Some(1),
            error: Some("a.sls:2: YAML error\n  | key: hunter22-pw: x".into()),
            started: None,
            duration_ms: 1,
            executions: 1,
            drift: None,
            ledger: None,
            duplicate: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = JobCache::new(dir.path())
            .keeping_diffs(true)
            .withholding(secrets);
        let stored = cache.stored(&result).into_owned();
        let text = serde_json::to_string(&stored).unwrap();
        assert!(!text.contains("hunter22"), "{text}");
        assert_eq!(
            stored.ret["file_|-cfg_|-/etc/app.conf_|-managed"]["changes"]["diff"],
            "@@ -1 +1 @@\n-password=old\n+password=<decrypted secret withheld>\n"
        );
        // Written records too: the appended log and the final record.
        let mut record = JobRecord {
            jid: "20260101000000000000".into(),
            started: "2026-01-01T00:00:00Z".into(),
            target: "h".into(),
            target_type: "glob".into(),
            function: "state.apply".into(),
            args: Args::default(),
            batch: None,
            max_fail: None,
            verify: None,
            batch_wait: None,
            stages: Vec::new(),
            stopped: None,
            status: JobStatus::Running,
            duration_ms: 0,
            summary: Summary::default(),
            results: Default::default(),
            targeted: vec!["h".into()],
            pid: None,
            steps: Vec::new(),
        };
        cache.save(&record).unwrap();
        cache.append(&record.jid, &result).unwrap();
        let log = std::fs::read_to_string(cache.log_path(&record.jid)).unwrap();
        assert!(log.contains("password=<decrypted secret withheld>") && !log.contains("hunter22"));
        record.results.insert("h".into(), result);
        cache.finish(&record).unwrap();
        let saved = std::fs::read_to_string(cache.path(&record.jid)).unwrap();
        assert!(
            saved.contains("withheld") && !saved.contains("hunter22"),
            "{saved}"
        );
    }
}
