//! The operations behind the commands: a command-line run, a `jobs rerun`
//! and each host step of an orchestration all come here with the same typed
//! [`RunOptions`] and get back the same [`Ran`]. The CLI only turns flags
//! into options and outcomes into exit codes (cargo's "each command is a
//! thin wrapper around ops"); nothing here knows about clap.
//!
//! A run goes through three phases, one file each:
//! - `prepare`: settings, inventory, target, function, routes and the
//!   sudo password, all checked before anything connects;
//! - [`select`]: which hosts the target names (grains gathered, pillars
//!   compiled only for the hosts the other matchers leave undecided);
//! - `record`: the job record, written as hosts finish, and the run's
//!   [`Ending`].

mod prepare;
mod record;
mod select;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::Settings;
use crate::fleet::{BatchPlan, GrainSource, HostResult, MaxFail, Plan};
use crate::functions::Args;
use crate::grains::GrainCache;
use crate::output::{self, Format, Printer};
use crate::target::TargetType;
use crate::transport::HostKeyPolicy;

pub use prepare::{project, Error, Prepared};
pub use select::{select, Selection};

/// Everything a run is asked to do, typed: built once from the command
/// line (or from a job record, or from an orchestration step).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--config`: the project file (else ./halite.yaml when present).
    pub config: Option<PathBuf>,
    /// Flags that override halite.yaml.
    pub overrides: Overrides,
    pub target: TargetSpec,
    /// `module.function`.
    pub function: String,
    pub args: Args,
    pub execution: Execution,
    pub connection: ConnectionFlags,
    pub show: Show,
}

/// A target expression and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub kind: TargetType,
    pub expr: String,
    /// Between the keys of a grain or pillar expression (`--delimiter`).
    pub delimiter: char,
}

/// Flags that win over halite.yaml's settings.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub inventory: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub forks: Option<usize>,
    pub max_handshakes: Option<usize>,
    pub timeout: Option<Duration>,
}

impl Overrides {
    /// The project's settings (`config`, else ./halite.yaml) with these
    /// flags applied.
    pub fn settings(&self, config: Option<&std::path::Path>) -> Result<Settings, Error> {
        let mut settings = Settings::load(config)?;
        if let Some(i) = &self.inventory {
            settings.inventory = i.clone();
        }
        if let Some(k) = &self.known_hosts {
            settings.known_hosts = k.clone();
        }
        if let Some(f) = self.forks {
            settings.forks = f;
        }
        if let Some(h) = self.max_handshakes {
            settings.max_handshakes = h;
        }
        if let Some(t) = self.timeout {
            settings.timeout = Some(t);
        }
        Ok(settings)
    }
}

/// How hosts are run: batches, failures tolerated, verification.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    pub batch: Option<BatchPlan>,
    /// `--batch-fail-limit`: stop at the Nth failure.
    pub batch_fail_limit: Option<usize>,
    pub max_fail: Option<MaxFail>,
    pub verify: Option<String>,
    /// `--batch-wait`, in seconds (kept as typed: the job record stores it).
    pub batch_wait: Option<f64>,
    /// Gather grains again instead of using the cache.
    pub refresh_grains: bool,
}

/// How hosts are reached.
#[derive(Debug, Clone)]
pub struct ConnectionFlags {
    pub host_key_policy: HostKeyPolicy,
    /// `--ask-sudo-pass`: read it from the terminal before connecting.
    pub ask_sudo_pass: bool,
    /// `--ssh-config FILE`; `none` reads none; unset: ~/.ssh/config.
    pub ssh_config: Option<PathBuf>,
}

/// How the run shows itself.
#[derive(Debug, Clone, Default)]
pub struct Show {
    /// `--out`; unset: human, or grouped for many hosts on a terminal.
    pub format: Option<Format>,
    pub style: StyleFlags,
    pub progress: bool,
    /// Print nothing per host (an orchestration step whose output is one
    /// document at the end). Errors are still said.
    pub silent: bool,
    /// `--metrics-file`.
    pub metrics_file: Option<PathBuf>,
}

/// The flags that shape how results look.
#[derive(Debug, Clone, Default)]
pub struct StyleFlags {
    pub no_color: bool,
    pub state_output: Option<output::highstate::StateOutput>,
    pub state_verbose: Option<bool>,
}

impl StyleFlags {
    /// The output style: flags over halite.yaml.
    pub fn style(&self, settings: &Settings) -> output::Style {
        let mut style = output::Style::detect(self.no_color);
        style.states.output = self.state_output.unwrap_or(settings.state_output);
        style.states.verbose = self.state_verbose.unwrap_or(settings.state_verbose);
        style
    }
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every targeted host succeeded.
    AllOk,
    /// Some host failed, was unreachable or did not run.
    HostsFailed,
    /// Nothing ran: bad input (no host matched, a key declared twice).
    Refused,
    /// Ctrl-C.
    Interrupted,
}

/// What a run did.
#[derive(Debug)]
pub struct Ran {
    pub ending: Ending,
    pub jid: Option<String>,
    pub results: BTreeMap<String, HostResult>,
    /// Why nothing ran (no host matched, a pillar repeating a key).
    pub refused: Option<String>,
}

impl Ran {
    fn refused(why: String) -> Ran {
        Ran {
            ending: Ending::Refused,
            jid: None,
            results: BTreeMap::new(),
            refused: Some(why),
        }
    }
}

/// A run from options to its end: prepare (errors are bad input: nothing
/// connected), select the hosts, run them, record the job and print.
pub async fn run(options: &RunOptions) -> Result<Ran, Error> {
    let prepared = Prepared::new(options)?;
    Ok(execute(prepared, options).await)
}

/// Run a prepared call.
pub async fn execute(p: Prepared, options: &RunOptions) -> Ran {
    let t0 = std::time::Instant::now();
    let start = SystemTime::now();
    raise_open_files_limit(p.settings.forks);
    if p.connect.host_key_policy == HostKeyPolicy::InsecureIgnore {
        output::warn("--insecure-ignore-host-keys: host keys are NOT verified; anyone on the path can impersonate these hosts");
    }
    let source = GrainSource {
        cache: GrainCache::new(p.settings.cache_dir.join("grains"), p.settings.grains_ttl),
        refresh: options.execution.refresh_grains,
    };
    let selection = match select(&p, &source).await {
        Ok(s) => s,
        Err(why) => return Ran::refused(why),
    };
    let job = record::Job::start(&p, options, &selection, start);
    let printer = printer(&p, options, job.targeted());
    let mut job = job.printing(printer);
    // Hosts whose grains or pillar could not be read are part of the
    // answer: the user asked about them and we could not tell.
    job.add_failed(&selection.failed);
    let plan = Plan {
        call: p.call.clone(),
        forks: p.settings.forks,
        batch: options.execution.batch.clone(),
        fail_limit: fail_limit(&options.execution, selection.hosts.len()),
        verify: options.execution.verify.clone(),
        batch_wait: options.execution.batch_wait.map(Duration::from_secs_f64),
        connect: p.connect.clone(),
        grains: source,
        hosts: selection.hosts,
        known_grains: selection.grains,
        conns: selection.conns,
        known_pillar: selection.pillar,
        project: p.project.clone(),
        mine: crate::mine::Store::new(&p.settings.cache_dir),
    };
    let outcome = plan.run(&mut job).await;
    job.finish(outcome, t0, options.show.metrics_file.as_deref())
}

/// The printer for `targeted` hosts (the default format depends on how many).
fn printer(p: &Prepared, options: &RunOptions, targeted: usize) -> Printer {
    if options.show.silent {
        return Printer::silent();
    }
    Printer::new(
        output::default_format(options.show.format, targeted),
        options.show.style.style(&p.settings),
        options.show.progress,
    )
}

/// Failures tolerated: --max-fail, or none for a staged rollout (a failed
/// canary stops it); --batch-fail-limit N stops at the Nth failure.
fn fail_limit(execution: &Execution, hosts: usize) -> Option<usize> {
    let staged = execution.batch.as_ref().is_some_and(|b| b.is_staged());
    let tolerated = execution
        .max_fail
        .map(|m| m.tolerated(hosts))
        .or(staged.then_some(0));
    match (execution.batch_fail_limit, tolerated.map(|t| t + 1)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One socket per host in flight: raise the soft open-files limit to the hard
/// one, and say so when even that is too low for `--forks`.
fn raise_open_files_limit(forks: usize) {
    let needed = forks as u64 + 64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => output::warn(&format!(
            "the open files limit is {limit}, too low for --forks {forks} (about {needed} needed): raise the hard limit (ulimit -Hn) or lower --forks"
        )),
        Ok(_) => {}
        Err(e) => tracing::debug!("cannot raise the open files limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_limit_takes_the_stricter_of_the_two() {
        let mut e = Execution::default();
        assert_eq!(fail_limit(&e, 10), None);
        e.batch_fail_limit = Some(3);
        assert_eq!(fail_limit(&e, 10), Some(3));
        e.max_fail = Some("1".parse().unwrap());
        assert_eq!(fail_limit(&e, 10), Some(2));
        e.batch_fail_limit = None;
        e.max_fail = None;
        e.batch = Some("1,100%".parse().unwrap());
        assert_eq!(fail_limit(&e, 10), Some(1), "a failed canary stops it");
    }
}
