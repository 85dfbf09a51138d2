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
