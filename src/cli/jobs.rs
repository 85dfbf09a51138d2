//! `halite jobs list|show|rerun`: read the job cache back, and resume a run
//! on exactly the hosts that failed or did not run (the same operation as
//! a command-line run, [`crate::ops::run`], with options from the record).

use super::{usage_error, Common, JobsAction, RunArgs, EXIT_OK};
use crate::config::Settings;
use crate::fleet::Status;
use crate::jobs::{JobCache, JobRecord};
use crate::ops::{RunOptions, TargetSpec};
use crate::output;
use crate::target::TargetType;

pub fn exec(action: &JobsAction, common: &Common, run: &RunArgs) -> u8 {
    match try_exec(action, common, run) {
        Ok(code) => code,
        Err(e) => usage_error(&e),
    }
}

fn try_exec(action: &JobsAction, common: &Common, run: &RunArgs) -> anyhow::Result<u8> {
    let settings = Settings::load(common.config.as_deref())?;
    let cache = JobCache::new(&settings.cache_dir);
    match action {
        JobsAction::List => output::list_jobs(&cache.list()?, common.out.unwrap_or_default()),
        JobsAction::Show { jid } => output::show_job(
            &cache.load(jid)?,
            common.out.unwrap_or_default(),
            common.style(&settings),
        ),
        JobsAction::Rerun {
            jid,
            failed,
            not_run,
        } => {
            let record = cache.load(jid)?;
            if !record.steps.is_empty() {
                anyhow::ensure!(
                    *failed || *not_run,
                    "say which steps to rerun: --failed, --not-run, or both (an orchestration resumes at its first step that failed or did not run)"
                );
                return Ok(super::orchestrate::resume(&record, common, run));
            }
            let again = rerun_options(&record, *failed, *not_run, run, common)?;
            return Ok(super::run::run_options(&again));
        }
    }
    Ok(EXIT_OK)
}

/// The hosts of `record` to run again: failed and/or not run.
fn rerun_hosts(record: &JobRecord, failed: bool, not_run: bool) -> anyhow::Result<Vec<&str>> {
    anyhow::ensure!(
        failed || not_run,
        "say which hosts to rerun: --failed, --not-run, or both"
    );
    let ids: Vec<&str> = record
        .results
        .values()
        .filter(|r| match r.status {
            Status::Ok => false,
            Status::Failed | Status::Unreachable | Status::AuthFailed | Status::HostKey => failed,
            Status::NotRun | Status::Interrupted => not_run,
        })
        .map(|r| r.id.as_str())
        .collect();
    anyhow::ensure!(
        !ids.is_empty(),
        "job {} has no host to rerun (asked for:{}{})",
        record.jid,
        if failed { " failed" } else { "" },
        if not_run { " not run" } else { "" }
    );
    Ok(ids)
}

/// The run that resumes `record` on its failed and/or not-run hosts, named
/// by a list whatever the job's own target type was: the same function,
/// arguments and batch options; flags given now win.
fn rerun_options(
    record: &JobRecord,
    failed: bool,
    not_run: bool,
    now: &RunArgs,
    common: &Common,
) -> anyhow::Result<RunOptions> {
    let ids = rerun_hosts(record, failed, not_run)?;
    let target = TargetSpec {
        kind: TargetType::List,
        expr: ids.join(","),
        delimiter: ':',
    };
    let mut again = super::run::options_for(
        now,
        common,
        target,
        record.function.clone(),
        record.args.clone(),
    );
    let parse = |what: &str, v: &str| {
        anyhow::anyhow!("job {}: stored {what} `{v}` no longer parses", record.jid)
    };
    let execution = &mut again.execution;
    if execution.batch.is_none() {
        execution.batch = match &record.batch {
            Some(b) => Some(b.parse().map_err(|_| parse("batch", b))?),
            None => None,
        };
    }
    if execution.max_fail.is_none() {
        execution.max_fail = match &record.max_fail {
            Some(m) => Some(m.parse().map_err(|_| parse("max-fail", m))?),
            None => None,
        };
    }
    execution.verify = execution.verify.take().or_else(|| record.verify.clone());
    if execution.batch_wait.is_none() {
        execution.batch_wait = match record.batch_wait {
            Some(w) if !(w >= 0.0 && w.is_finite()) => {
                return Err(parse("batch-wait", &w.to_string()))
            }
            w => w,
        };
    }
    Ok(again)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::fleet::HostResult;

    fn record(target_type: &str) -> JobRecord {
        let mut results = std::collections::BTreeMap::new();
        for (id, status) in [
            ("web1", Status::Ok),
            ("web2", Status::Failed),
            ("web3", Status::NotRun),
            ("web4", Status::Unreachable),
        ] {
            results.insert(id.to_string(), HostResult::new(id, status));
        }
        JobRecord {
            jid: "20261203101500123456".into(),
            started: String::new(),
            target: "role:web".into(),
            target_type: target_type.into(),
            function: "cmd.run".into(),
            args: crate::functions::Args::from_words(&["echo hi", "cwd=/tmp"]),
            batch: Some("1,50%".into()),
            max_fail: Some("1".into()),
            verify: Some("true".into()),
            batch_wait: Some(2.0),
            stages: Vec::new(),
            stopped: None,
            status: crate::jobs::JobStatus::Finished,
            duration_ms: 0,
            summary: Default::default(),
            results,
            targeted: Vec::new(),
            pid: None,
            steps: Vec::new(),
        }
    }

    fn cli(words: &[&str]) -> Cli {
        Cli::try_parse_from(["halite"].iter().chain(words)).unwrap()
    }

    #[test]
    fn a_rerun_names_the_hosts_by_list_whatever_the_jobs_target_type() {
        let now = cli(&["jobs", "rerun", "1", "--failed"]);
        for kind in ["pillar", "pillar_pcre", "compound", "grain"] {
            let o = rerun_options(&record(kind), true, false, &now.run, &now.common).unwrap();
            assert_eq!(o.target.kind, TargetType::List, "{kind}");
            assert_eq!(o.target.expr, "web2,web4", "{kind}");
            assert_eq!(o.function, "cmd.run");
            assert_eq!(o.args, record(kind).args);
            assert_eq!(o.execution.batch.unwrap().to_string(), "1,50%");
            assert_eq!(o.execution.max_fail.unwrap().to_string(), "1");
            assert_eq!(o.execution.verify.as_deref(), Some("true"));
            assert_eq!(o.execution.batch_wait, Some(2.0));
        }
        let o = rerun_options(&record("pillar"), false, true, &now.run, &now.common).unwrap();
        assert_eq!(o.target.expr, "web3");
        let o = rerun_options(&record("pillar"), true, true, &now.run, &now.common).unwrap();
        assert_eq!(o.target.expr, "web2,web3,web4");
    }

    #[test]
    fn flags_given_to_the_rerun_win_over_the_record() {
        let now = cli(&[
            "-b",
            "2",
            "--max-fail",
            "0",
            "--verify",
            "false",
            "--batch-wait",
            "0",
            "-I",
            "jobs",
            "rerun",
            "1",
            "--failed",
        ]);
        let o = rerun_options(&record("glob"), true, false, &now.run, &now.common).unwrap();
        assert_eq!(
            o.target.kind,
            TargetType::List,
            "-I does not re-read the hosts"
        );
        assert_eq!(o.execution.batch.unwrap().to_string(), "2");
        assert_eq!(o.execution.max_fail.unwrap().to_string(), "0");
        assert_eq!(o.execution.verify.as_deref(), Some("false"));
        assert_eq!(o.execution.batch_wait, Some(0.0));
    }

    #[test]
    fn nothing_to_rerun_is_said() {
        let now = cli(&["jobs", "rerun", "1"]);
        let mut r = record("glob");
        let e = rerun_options(&r, false, false, &now.run, &now.common).unwrap_err();
        assert!(
            e.to_string().contains("--failed, --not-run, or both"),
            "{e}"
        );
        r.results.retain(|id, _| id == "web1");
        let e = rerun_options(&r, true, true, &now.run, &now.common).unwrap_err();
        assert!(e.to_string().contains("has no host to rerun"), "{e}");
    }
}
