//! The third phase of a run: the job. Its record is saved before the
//! first host starts (so `jobs show` sees a running job), each host's
//! result is appended and printed as it arrives, and the finished record
//! gives the run's [`Ending`].

use std::time::{Instant, SystemTime};

use super::{Ending, Prepared, Ran, RunOptions, Selection};
use crate::fleet::{self, HostResult, Observer, Outcome, Summary};
use crate::jobs::{new_jid, JobCache, JobRecord, JobStatus};
use crate::output::{self, Printer};

/// One run's job: the record, where it is kept, and the printer. It is
/// the fleet's [`Observer`]: each host is recorded, then printed.
pub(super) struct Job {
    record: JobRecord,
    cache: JobCache,
    printer: Printer,
    /// A failed append is said once per run, not once per host.
    warned: bool,
}

impl Job {
    /// The record of a run about to start on `selection`, saved; the job
    /// cache pruned first when halite.yaml says `keep_jobs`.
    pub(super) fn start(
        p: &Prepared,
        options: &RunOptions,
        selection: &Selection,
        start: SystemTime,
    ) -> Job {
        let cache = JobCache::new(&p.settings.cache_dir)
            .keeping_diffs(p.settings.job_cache_diffs)
            .withholding(p.project.secrets.clone());
        if let Some(keep) = p.settings.keep_jobs {
            match cache.prune(keep, SystemTime::now()) {
                Ok(0) => {}
                Ok(n) => tracing::debug!("job cache: removed {n} job(s) older than keep_jobs"),
                Err(e) => output::warn(&format!("job cache: {e}")),
            }
        }
        let execution = &options.execution;
        let record = JobRecord {
            jid: new_jid(start),
            started: humantime::format_rfc3339_seconds(start).to_string(),
            target: p.spec.expr.clone(),
            target_type: p.spec.kind.name().to_string(),
            function: p.function_name.clone(),
            args: p.args.clone(),
            batch: execution.batch.as_ref().map(|b| b.to_string()),
            max_fail: execution.max_fail.map(|m| m.to_string()),
            verify: execution.verify.clone(),
            batch_wait: execution.batch_wait,
            stages: Vec::new(),
            stopped: None,
            status: JobStatus::Running,
            duration_ms: 0,
            summary: Summary::default(),
            results: Default::default(),
            targeted: selection
                .hosts
                .iter()
                .map(|h| h.id.clone())
                .chain(selection.failed.iter().map(|r| r.id.clone()))
                .collect(),
            pid: Some(std::process::id()),
            steps: Vec::new(),
        };
        if let Err(e) = cache.save(&record) {
            output::warn(&format!("job cache: {e}"));
        }
        Job {
            record,
            cache,
            printer: Printer::silent(),
            warned: false,
        }
    }

    /// Every host the run reports on, known from the start.
    pub(super) fn targeted(&self) -> usize {
        self.record.targeted.len()
    }

    /// Print through `printer` from now on.
    pub(super) fn printing(mut self, printer: Printer) -> Job {
        self.printer = printer;
        self
    }

    /// Hosts that failed before the run (grains or pillar unreadable).
    pub(super) fn add_failed(&mut self, failed: &[HostResult]) {
        for r in failed {
            Observer::host_done(self, r);
            self.record.results.insert(r.id.clone(), r.clone());
        }
    }

    /// The run is over: finish the record, print the end, write metrics.
    pub(super) fn finish(
        mut self,
        outcome: Outcome,
        t0: Instant,
        metrics_file: Option<&std::path::Path>,
    ) -> Ran {
        let record = &mut self.record;
        record.results.extend(outcome.results);
        record.stages = outcome.stages;
        record.stopped = outcome.stopped;
        record.summary = Summary::of(record.results.values());
        record.status = if outcome.interrupted {
            JobStatus::Interrupted
        } else {
            JobStatus::Finished
        };
        record.duration_ms = t0.elapsed().as_millis() as u64;
        record.pid = None;
        if let Err(e) = self.cache.finish(record) {
            output::warn(&format!("job cache: {e}"));
        }
        self.printer.finish(record);
        if let Some(path) = metrics_file {
            output::metrics::write_or_warn(path, record);
        }
        let ending = if outcome.interrupted {
            Ending::Interrupted
        } else if refused_everywhere(record.results.values()) {
            Ending::Refused
        } else if record.summary.all_ok() {
            Ending::AllOk
        } else {
            Ending::HostsFailed
        };
        Ran {
            ending,
            jid: Some(self.record.jid),
            results: self.record.results,
            refused: None,
        }
    }
}

impl Observer for Job {
    fn started(&mut self, total: usize) {
        self.printer.started(total);
    }
    fn stage_started(&mut self, index: usize, count: usize, hosts: &[String]) {
        self.printer.stage_started(index, count, hosts);
    }
    fn host_done(&mut self, result: &HostResult) {
        let jid = &self.record.jid;
        let saved = self
            .cache
            .append(jid, result)
            .and_then(|()| match &result.ledger {
                Some(copy) => self
                    .cache
                    .save_ledger(&result.id, &copy.to_json(&result.id, jid)),
                None => Ok(()),
            });
        if let Err(e) = saved {
            if !std::mem::replace(&mut self.warned, true) {
                output::warn(&format!("job cache: {e}"));
            }
        }
        self.printer.host_done(result);
    }
}

/// The state tree or pillar declares a key or ID twice (some host said so)
/// and no host ran anything: bad input, exit 2, as for a bad inventory.
/// Where the tree renders differently per host and some host did run, the
/// run is a failed run (exit 1), not bad input.
fn refused_everywhere<'a>(results: impl Iterator<Item = &'a HostResult> + Clone) -> bool {
    use fleet::Status;
    let ran = |r: &HostResult| {
        !r.duplicate && matches!(r.status, Status::Ok | Status::Failed | Status::Interrupted)
    };
    results.clone().any(|r| r.duplicate) && !results.into_iter().any(ran)
}
