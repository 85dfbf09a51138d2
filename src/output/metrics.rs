//! `--metrics-file PATH`: the run's outcome in Prometheus text exposition
//! format, for node_exporter's textfile collector, so a halite run from cron
//! can be graphed and alerted on (hosts failing, runs getting slower, runs
//! no longer happening).
//!
//! The collector may read the file at any moment, so it is written to a
//! temporary file in the same directory (named without `.prom`, which the
//! collector ignores) and renamed over the target: readers see the old run
//! or the new one, never half of one.
//!
//! Every sample carries the run's `jid` and `function`. Since the jid changes
//! every run, each run is a new series; alert on staleness with
//! `time() - max without (jid) (halite_run_timestamp_seconds)`.
//!
//! There is no "changed hosts" metric: ad-hoc functions have no notion of
//! change, and counting ok hosts under that name would mislead. It belongs
//! with state runs; `halite_run_hosts{status="ok"}` is the ok count.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::fleet::Status;
use crate::jobs::JobRecord;

/// Every status, so each run exposes all of them (zeros included): a
/// series that appears only when something goes wrong cannot be alerted on
/// reliably.
pub const STATUSES: [Status; 7] = [
    Status::Ok,
    Status::Failed,
    Status::Unreachable,
    Status::AuthFailed,
    Status::HostKey,
    Status::NotRun,
    Status::Interrupted,
];

/// Upper bounds of the per-host duration histogram, in seconds: from a
/// ping (well under a second) to a long package upgrade (the default
/// command timeout is 600 s).
pub const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// A label value escaped per the exposition format.
fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole file.
pub fn render(record: &JobRecord) -> String {
    // Exhaustive on purpose: a new status must be added to STATUSES.
    let _ = |s: Status| match s {
        Status::Ok
        | Status::Failed
        | Status::Unreachable
        | Status::AuthFailed
        | Status::HostKey
        | Status::NotRun
        | Status::Interrupted => (),
    };
    let base = format!(
        "jid=\"{}\",function=\"{}\"",
        label(&record.jid),
        label(&record.function)
    );
    let mut out = String::new();

    family(
        &mut out,
        "halite_run_hosts",
        "gauge",
        "Targeted hosts of the last halite run, by outcome.",
    );
    for status in STATUSES {
        let n = record
            .results
            .values()
            .filter(|r| r.status == status)
            .count();
        let _ = writeln!(
            out,
            "halite_run_hosts{{{base},status=\"{}\"}} {n}",
            status.as_str()
        );
    }

    family(
        &mut out,
        "halite_run_duration_seconds",
        "gauge",
        "Wall time of the last halite run.",
    );
    let _ = writeln!(
        out,
        "halite_run_duration_seconds{{{base}}} {}",
        record.duration_ms as f64 / 1000.0
    );

    if let Ok(t) = humantime::parse_rfc3339(&record.started) {
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        family(
            &mut out,
            "halite_run_timestamp_seconds",
            "gauge",
            "Unix time the last halite run started.",
        );
        let _ = writeln!(out, "halite_run_timestamp_seconds{{{base}}} {secs}");
    }

    family(
        &mut out,
        "halite_host_duration_seconds",
        "histogram",
        "Time spent on each host that was attempted (hosts not run are left out).",
    );
    // Hosts never started (not run) took no time; counting them as 0 s
    // would pull the distribution down as more of the fleet is skipped.
    let durations_ms: Vec<u64> = record
        .results
        .values()
        .filter(|r| r.started.is_some())
        .map(|r| r.duration_ms)
        .collect();
    let durations: Vec<f64> = durations_ms.iter().map(|ms| *ms as f64 / 1000.0).collect();
    for le in BUCKETS {
        let n = durations.iter().filter(|d| **d <= le).count();
        let _ = writeln!(
            out,
            "halite_host_duration_seconds_bucket{{{base},le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "halite_host_duration_seconds_bucket{{{base},le=\"+Inf\"}} {}",
        durations.len()
    );
    let _ = writeln!(
        out,
        "halite_host_duration_seconds_sum{{{base}}} {}",
        // Summed in whole milliseconds so the sum prints without float noise.
        durations_ms.iter().sum::<u64>() as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "halite_host_duration_seconds_count{{{base}}} {}",
        durations.len()
    );
    out
}

/// Write `text` to `path` atomically: a temporary file beside it, then a
/// rename. The temporary file is removed if anything fails.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write the run's metrics; a failure is a warning, not a failed run: the
/// exit code keeps describing the hosts, and the file going stale is what
/// monitoring notices (see the module doc).
pub fn write_or_warn(path: &Path, record: &JobRecord) {
    if let Err(e) = write_atomic(path, &render(record)) {
        super::warn(&format!(
            "cannot write the metrics file {}: {e}",
            path.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{HostResult, Summary};
    use crate::functions::Args;
    use crate::jobs::JobStatus;
    use crate::Value;

    fn record(durations: &[(Status, Option<u64>)]) -> JobRecord {
        let results = durations
            .iter()
            .enumerate()
            .map(|(i, (status, ms))| {
                let id = format!("h{i}");
                (
                    id.clone(),
                    HostResult {
                        id,
                        status: *status,
                        ret: Value::Null,
                        retcode: None,
                        error: None,
                        started: ms.map(|_| 1.7e9),
                        duration_ms: ms.unwrap_or(0),
                        executions: 0,
                        drift: None,
                        ledger: None,
                        duplicate: false,
                    },
                )
            })
            .collect();
        JobRecord {
            jid: "20231114221320000001".into(),
            started: "2023-11-14T22:13:20Z".into(),
            target: "*".into(),
            target_type: "glob".into(),
            function: "cmd.run".into(),
            args: Args::default(),
            batch: None,
            max_fail: None,
            verify: None,
            batch_wait: None,
            stages: Vec::new(),
            stopped: None,
            targeted: Vec::new(),
            pid: None,
            steps: Vec::new(),
            status: JobStatus::Finished,
            duration_ms: 1500,
            summary: Summary::default(),
            results,
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let mut r = record(&[]);
        r.function = "x\"y".into();
        assert!(render(&r).contains("function=\"x\\\"y\""));
    }

    #[test]
    fn every_status_and_a_cumulative_histogram() {
        let r = record(&[
            (Status::Ok, Some(50)),
            (Status::Ok, Some(700)),
            (Status::Failed, Some(2000)),
            (Status::Unreachable, Some(900_000)),
            (Status::NotRun, None),
        ]);
        let text = render(&r);
        let base = "jid=\"20231114221320000001\",function=\"cmd.run\"";
        for (status, n) in [
            ("ok", 2),
            ("failed", 1),
            ("unreachable", 1),
            ("auth_failed", 0),
            ("host_key", 0),
            ("not_run", 1),
            ("interrupted", 0),
        ] {
            let line = format!("halite_run_hosts{{{base},status=\"{status}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        for (le, n) in [("0.1", 1), ("1", 2), ("2.5", 3), ("600", 3), ("+Inf", 4)] {
            let line = format!("halite_host_duration_seconds_bucket{{{base},le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains(&format!(
            "halite_host_duration_seconds_sum{{{base}}} 902.75\n"
        )));
        assert!(text.contains(&format!("halite_host_duration_seconds_count{{{base}}} 4\n")));
        assert!(text.contains(&format!(
            "halite_run_timestamp_seconds{{{base}}} 1700000000\n"
        )));
        assert!(text.contains(&format!("halite_run_duration_seconds{{{base}}} 1.5\n")));
        assert!(text.contains("# TYPE halite_host_duration_seconds histogram\n"));
    }

    #[test]
    fn atomic_write_leaves_only_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("halite.prom");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let missing = dir.path().join("no/such/dir/halite.prom");
        assert!(write_atomic(&missing, "x").is_err());
    }
}
