//! `halite TARGET FUNCTION ARGS...`: check everything that can be checked
//! before connecting (settings, inventory, target, function and arguments),
//! pick the hosts, run, record the job and print.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::{
    usage_error, Common, RunArgs, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE,
};
use crate::config::{PasswordSource, Settings};
use crate::fleet::{self, GrainSource, Observer, Plan, Summary};
use crate::functions::{self, Args};
use crate::grains::GrainCache;
use crate::inventory::{Host, Inventory};
use crate::jobs::{new_jid, JobCache, JobRecord, JobStatus};
use crate::output::{self, Printer};
use crate::target::{MatchCtx, Target, TargetType};
use crate::transport::route::Routes;
use crate::transport::ssh_config::SshConfig;
use crate::transport::sudo::SudoPassword;
use crate::transport::{ConnectOptions, HostKeyPolicy};
use crate::Value;

/// Everything a run needs, checked.
pub(super) struct Prepared {
    settings: Settings,
    inventory: Inventory,
    target: Target,
    target_type: TargetType,
    target_expr: String,
    function_name: String,
    args: Args,
    function: Arc<dyn functions::Function>,
    connect: ConnectOptions,
}

pub fn exec(run: &RunArgs, common: &Common) -> u8 {
    let prepared = match prepare(run, common) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::error(&format!("cannot start the async runtime: {e}"));
            return EXIT_USAGE;
        }
    };
    runtime.block_on(execute(prepared, run, common, false)).code
}

/// How a run ended, for `halite orchestrate`'s steps.
pub(super) struct Ran {
    pub code: u8,
    pub jid: Option<String>,
    pub results: std::collections::BTreeMap<String, fleet::HostResult>,
    /// Why nothing ran (no host matched, a pillar repeating a key).
    pub refused: Option<String>,
    pub interrupted: bool,
}

impl Ran {
    fn refused(why: String) -> Ran {
        Ran {
            code: EXIT_USAGE,
            jid: None,
            results: Default::default(),
            refused: Some(why),
            interrupted: false,
        }
    }
}

fn target_type(run: &RunArgs) -> TargetType {
    match () {
        _ if run.pcre => TargetType::Pcre,
        _ if run.list => TargetType::List,
        _ if run.grain => TargetType::Grain,
        _ if run.grain_pcre => TargetType::GrainPcre,
        _ if run.pillar => TargetType::Pillar,
        _ if run.pillar_pcre => TargetType::PillarPcre,
        _ if run.ipcidr => TargetType::Ipcidr,
        _ if run.nodegroup => TargetType::Nodegroup,
        _ if run.compound => TargetType::Compound,
        _ => TargetType::Glob,
    }
}

fn prepare(run: &RunArgs, common: &Common) -> anyhow::Result<Prepared> {
    prepare_with(run, common, Args::from_words(&run.args))
}

/// The project's settings with the run's flags applied.
pub(super) fn settings(run: &RunArgs, common: &Common) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(common.config.as_deref())?;
    if let Some(i) = &run.inventory {
        settings.inventory = i.clone();
    }
    if let Some(k) = &run.known_hosts {
        settings.known_hosts = k.clone();
    }
    if let Some(f) = run.forks {
        settings.forks = f as usize;
    }
    if let Some(h) = run.max_handshakes {
        settings.max_handshakes = h as usize;
    }
    if let Some(t) = run.timeout {
        settings.timeout = Some(Duration::from_secs_f64(t));
    }
    Ok(settings)
}

/// [`prepare`] with arguments already typed (an orchestration step's).
pub(super) fn prepare_with(run: &RunArgs, common: &Common, args: Args) -> anyhow::Result<Prepared> {
    let settings = settings(run, common)?;
    let inventory = Inventory::load(&settings.inventory)?;
    for warning in &inventory.warnings {
        output::warn(warning);
    }
    let target_type = target_type(run);
    let target_expr = run.target.clone().context("missing TARGET")?;
    let target = Target::parse_with(
        target_type,
        &target_expr,
        &inventory.groups,
        run.delimiter.unwrap_or(':'),
    )?;
    let function_name = run.function.clone().context("missing FUNCTION")?;
    let function: Arc<dyn functions::Function> =
        Arc::from(functions::parse_call(&function_name, &args)?);
    let routes = routes(run, &inventory)?;
    let connect = ConnectOptions {
        known_hosts: settings.known_hosts.clone(),
        host_key_policy: if run.insecure_ignore_host_keys {
            HostKeyPolicy::InsecureIgnore
        } else if run.accept_new {
            HostKeyPolicy::AcceptNew
        } else {
            HostKeyPolicy::Strict
        },
        connect_attempts: settings.connect_attempts,
        command_timeout: settings.timeout,
        handshakes: Some(std::sync::Arc::new(tokio::sync::Semaphore::new(
            settings.max_handshakes,
        ))),
        routes: Arc::new(routes),
        sudo_password: sudo_password(run.ask_sudo_pass, settings.sudo_password.as_ref())?
            .map(Arc::new),
        ..ConnectOptions::default()
    };
    Ok(Prepared {
        settings,
        inventory,
        target,
        target_type,
        target_expr,
        function_name,
        args,
        function,
        connect,
    })
}

/// Every host's route: the inventory with ~/.ssh/config (or
/// `--ssh-config FILE`, or none) and jump hosts applied.
fn routes(run: &RunArgs, inventory: &Inventory) -> anyhow::Result<Routes> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let local_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string());
    let file = match &run.ssh_config {
        Some(f) if f.as_os_str() == "none" => None,
        Some(f) => Some(f.clone()),
        None => Some(home.join(".ssh/config")).filter(|f| f.exists()),
    };
    let config = match file {
        Some(f) => Some(SshConfig::load(&f, &home)?),
        None => None,
    };
    Ok(Routes::build(
        &inventory.hosts,
        config.as_ref(),
        &home,
        &local_user,
    )?)
}

/// The sudo password: typed (`--ask-sudo-pass`), else from where
/// halite.yaml says. Messages name the file or variable, never the value.
fn sudo_password(
    ask: bool,
    source: Option<&PasswordSource>,
) -> anyhow::Result<Option<SudoPassword>> {
    let secret = match (ask, source) {
        (true, _) => output::read_secret("sudo password (not echoed): ")
            .context("--ask-sudo-pass: cannot read the password from the terminal")?
            .into_bytes(),
        (false, Some(PasswordSource::File(path))) => {
            warn_if_others_can_read(path);
            std::fs::read(path)
                .with_context(|| format!("cannot read sudo_password_file {}", path.display()))?
        }
        (false, Some(PasswordSource::Env(name))) => std::env::var_os(name)
            .with_context(|| {
                format!("sudo_password_env: the environment variable {name} is not set")
            })?
            .into_encoded_bytes(),
        (false, None) => return Ok(None),
    };
    let what = match (ask, source) {
        (true, _) => "--ask-sudo-pass".to_string(),
        (_, Some(PasswordSource::File(path))) => format!("sudo_password_file {}", path.display()),
        (_, Some(PasswordSource::Env(name))) => format!("sudo_password_env {name}"),
        (_, None) => String::new(),
    };
    SudoPassword::new(secret).map(Some).with_context(|| what)
}

/// A password file others can read is said (as OpenSSH says of a key).
fn warn_if_others_can_read(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            output::warn(&format!(
                "sudo_password_file {} can be read by other users (mode {mode:o}): chmod 600 it",
                path.display()
            ));
        }
    }
}

/// Run a prepared call. `silent`: print nothing (an orchestration step
/// whose output is one JSON/YAML document at the end).
pub(super) async fn execute(p: Prepared, run: &RunArgs, common: &Common, silent: bool) -> Ran {
    let t0 = std::time::Instant::now();
    let start = SystemTime::now();
    let style = common.style(&p.settings);
    raise_open_files_limit(p.settings.forks);
    if p.connect.host_key_policy == HostKeyPolicy::InsecureIgnore {
        output::warn("--insecure-ignore-host-keys: host keys are NOT verified; anyone on the path can impersonate these hosts");
    }
    let source = GrainSource {
        cache: GrainCache::new(p.settings.cache_dir.join("grains"), p.settings.grains_ttl),
        refresh: run.refresh_grains,
    };
    let all: Vec<Host> = p.inventory.hosts.values().cloned().collect();

    // Targeting. Grain-based expressions need every host's grains: cached,
    // or gathered now over a connection the run then reuses.
    let mut gathered = if p.target.needs_grains() {
        fleet::gather_for_targeting(&all, &source, &p.connect, p.settings.forks).await
    } else {
        fleet::Gathered {
            grains: Default::default(),
            conns: Default::default(),
            failed: Vec::new(),
        }
    };
    let project = Arc::new(crate::state::engine::Project {
        states: p.settings.states.clone(),
        pillar: p.settings.pillar.clone(),
        groups: p.inventory.groups.clone(),
        secrets: Arc::new(crate::secrets::Secrets::new(p.settings.keys.clone())),
    });
    fn host_ctx<'a>(h: &'a Host, grains: &'a HashMap<String, Value>) -> MatchCtx<'a> {
        MatchCtx::new(&h.id, grains.get(&h.id).unwrap_or(&Value::Null))
    }
    let ctx = |h| host_ctx(h, &gathered.grains);
    let known = |h: &&Host| !p.target.needs_grains() || gathered.grains.contains_key(&h.id);
    // Pillar targeting: only the hosts the other matchers leave undecided
    // get their pillar compiled (on the controller, from their own grains).
    let undecided: Vec<(String, Value)> = all
        .iter()
        .filter(known)
        .filter(|h| p.target.decide(&ctx(h)).is_none())
        .map(|h| (h.id.clone(), ctx(h).grains.clone()))
        .collect();
    let mut pillars = if undecided.is_empty() {
        fleet::Pillars::default()
    } else {
        fleet::pillar_for_targeting(undecided, project.clone()).await
    };
    // A pillar that declares a key twice is bad input, whichever host reads
    // it: nothing runs anywhere.
    let refused: Vec<&fleet::HostResult> = pillars.failed.iter().filter(|r| r.duplicate).collect();
    if !refused.is_empty() {
        for r in refused {
            output::error(&format!(
                "{}: {}",
                r.id,
                r.error.as_deref().unwrap_or_default()
            ));
        }
        output::error("nothing ran: the pillar declares a key twice");
        for (_, c) in gathered.conns.drain() {
            c.close().await;
        }
        return Ran::refused("nothing ran: the pillar declares a key twice".into());
    }
    let hosts: Vec<Host> = all
        .iter()
        .filter(known)
        .filter(|h| match pillars.pillar.get(&h.id) {
            Some(pillar) => p.target.matches(&ctx(h).with_pillar(pillar)),
            None => p.target.matches(&ctx(h)),
        })
        .cloned()
        .collect();
    // Pillars of hosts that did not match are dropped now; a host whose
    // pillar failed is reported like one whose grains failed.
    pillars
        .pillar
        .retain(|id, _| hosts.iter().any(|h| &h.id == id));
    gathered.failed.append(&mut pillars.failed);
    if hosts.is_empty() && gathered.failed.is_empty() {
        let why = format!(
            "no host in {} matched the {} target `{}`",
            p.settings.inventory.display(),
            p.target_type.name(),
            p.target_expr
        );
        output::error(&why);
        return Ran::refused(why);
    }
    // Connections opened for hosts that did not match are closed now.
    let unmatched: Vec<String> = gathered
        .conns
        .keys()
        .filter(|id| !hosts.iter().any(|h| &h.id == *id))
        .cloned()
        .collect();
    for id in unmatched {
        if let Some(c) = gathered.conns.remove(&id) {
            c.close().await;
        }
    }

    let jid = new_jid(start);
    let cache = JobCache::new(&p.settings.cache_dir)
        .keeping_diffs(p.settings.job_cache_diffs)
        .withholding(project.secrets.clone());
    if let Some(keep) = p.settings.keep_jobs {
        match cache.prune(keep, SystemTime::now()) {
            Ok(0) => {}
            Ok(n) => tracing::debug!("job cache: removed {n} job(s) older than keep_jobs"),
            Err(e) => output::warn(&format!("job cache: {e}")),
        }
    }
    let mut record = JobRecord {
        jid: jid.clone(),
        started: humantime::format_rfc3339_seconds(start).to_string(),
        target: p.target_expr.clone(),
        target_type: p.target_type.name().to_string(),
        function: p.function_name.clone(),
        args: p.args.clone(),
        batch: run.batch.as_ref().map(|b| b.to_string()),
        max_fail: run.max_fail.map(|m| m.to_string()),
        verify: run.verify.clone(),
        batch_wait: run.batch_wait,
        stages: Vec::new(),
        stopped: None,
        status: JobStatus::Running,
        duration_ms: 0,
        summary: Summary::default(),
        results: Default::default(),
        targeted: hosts
            .iter()
            .map(|h| h.id.clone())
            .chain(gathered.failed.iter().map(|r| r.id.clone()))
            .collect(),
        pid: Some(std::process::id()),
        steps: Vec::new(),
    };
    if let Err(e) = cache.save(&record) {
        output::warn(&format!("job cache: {e}"));
    }

    let mut printer = Recorder {
        printer: if silent {
            Printer::silent()
        } else {
            Printer::new(
                output::default_format(common.out, record.targeted.len()),
                style,
                !run.no_progress,
            )
        },
        cache: &cache,
        jid: &jid,
        warned: false,
    };
    // Hosts whose grains could not be read are part of the answer: the user
    // asked about them and we could not tell.
    for r in &gathered.failed {
        printer.host_done(r);
        record.results.insert(r.id.clone(), r.clone());
    }
    let staged = run.batch.as_ref().is_some_and(|b| b.is_staged());
    // Failures tolerated: --max-fail, or none for a staged rollout (a failed
    // canary stops it); --batch-fail-limit N stops at the Nth failure.
    let tolerated = run
        .max_fail
        .map(|m| m.tolerated(hosts.len()))
        .or(staged.then_some(0));
    let fail_limit = match (
        run.batch_fail_limit.map(|n| n as usize),
        tolerated.map(|t| t + 1),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let plan = Plan {
        hosts,
        function: p.function.clone(),
        forks: p.settings.forks,
        batch: run.batch.clone(),
        fail_limit,
        verify: run.verify.clone(),
        batch_wait: run.batch_wait.map(Duration::from_secs_f64),
        connect: p.connect.clone(),
        grains: source,
        known_grains: gathered.grains,
        conns: gathered.conns,
        known_pillar: pillars.pillar,
        project,
    };
    let outcome = plan.run(&mut printer).await;
    let mut printer = printer.printer;
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
    if let Err(e) = cache.finish(&record) {
        output::warn(&format!("job cache: {e}"));
    }
    printer.finish(&record);
    if let Some(path) = &run.metrics_file {
        output::metrics::write_or_warn(path, &record);
    }
    let code = if outcome.interrupted {
        EXIT_INTERRUPTED
    } else if refused_everywhere(record.results.values()) {
        EXIT_USAGE
    } else if record.summary.all_ok() {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    };
    Ran {
        code,
        jid: Some(record.jid),
        results: record.results,
        refused: None,
        interrupted: outcome.interrupted,
    }
}

/// The state tree or pillar declares a key or ID twice (some host said so)
/// and no host ran anything: bad input, exit 2, as for a bad inventory.
/// Where the tree renders differently per host and some host did run, the
/// run is a failed run (exit 1), not bad input.
fn refused_everywhere<'a>(results: impl Iterator<Item = &'a fleet::HostResult> + Clone) -> bool {
    use fleet::Status;
    let ran = |r: &fleet::HostResult| {
        !r.duplicate && matches!(r.status, Status::Ok | Status::Failed | Status::Interrupted)
    };
    results.clone().any(|r| r.duplicate) && !results.into_iter().any(ran)
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

/// Prints each host and appends it to the job's log as it arrives.
struct Recorder<'a> {
    printer: Printer,
    cache: &'a JobCache,
    jid: &'a str,
    warned: bool,
}

impl Observer for Recorder<'_> {
    fn started(&mut self, total: usize) {
        self.printer.started(total);
    }
    fn stage_started(&mut self, index: usize, count: usize, hosts: &[String]) {
        self.printer.stage_started(index, count, hosts);
    }
    fn host_done(&mut self, result: &fleet::HostResult) {
        let saved = self
            .cache
            .append(self.jid, result)
            .and_then(|()| match &result.ledger {
                Some(copy) => self
                    .cache
                    .save_ledger(&result.id, &copy.to_json(&result.id, self.jid)),
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
