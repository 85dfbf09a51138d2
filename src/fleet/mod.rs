//! Running one function across many hosts: parallelism (`--forks`), the
//! batch window (`-b`), the fail limit, grain gathering and pillar
//! compiling for targeting, and Ctrl-C. Every host's outcome, good or bad,
//! becomes a [`HostResult`]: a host failing is data, not an error.

pub mod batch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::functions::{Call, Function, HostCtx};
use crate::grains::GrainCache;
use crate::inventory::Host;
use crate::transport::{
    Command, ConnectOptions, Connection, ExecOutput, FailureClass, TransportError,
};
use crate::Value;

pub use batch::{Batch, BatchPlan, MaxFail};

/// What happened on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The function succeeded.
    Ok,
    /// The function ran and failed (non-zero exit, timeout, apt error...).
    Failed,
    /// No connection: refused, timed out, no route.
    Unreachable,
    /// Connected, but authentication (or sudo) was refused.
    AuthFailed,
    /// The host key was unknown or changed: refused before authenticating.
    HostKey,
    /// Not started: the fail limit was reached or the run was interrupted first.
    NotRun,
    /// Running when Ctrl-C arrived.
    Interrupted,
}

impl Status {
    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::AuthFailed => "auth_failed",
            Status::HostKey => "host_key",
            Status::NotRun => "not_run",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One host's result, as printed and stored in the job cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostResult {
    pub id: String,
    pub status: Status,
    /// The function's return value (Salt's shape); null when it did not run.
    pub ret: Value,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retcode: Option<i32>,
    /// Why the host is not ok, when that is not in `ret`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Unix time (seconds) when work on the host started.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub started: Option<f64>,
    pub duration_ms: u64,
    /// Commands run on the host (grain gathering included).
    pub executions: u32,
    /// State runs: the drift ledger's report (orphans, gone, pruned,
    /// released), next to the state results (`crate::engine`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub drift: Option<crate::engine::DriftReport>,
    /// State runs: the host's drift ledger as the run left it. Not part of
    /// the printed or recorded result: the job cache keeps the latest copy
    /// per host on its own (`JobCache::save_ledger`).
    #[serde(skip)]
    pub ledger: Option<crate::state::ledger::HostCopy>,
    /// Failed because the state tree or pillar declares a key or ID twice
    /// (`engine::CompileFailure::duplicate`): nothing ran on the
    /// host, and the run starts no more hosts.
    #[serde(skip)]
    pub duplicate: bool,
}

impl HostResult {
    /// A result with nothing in it yet.
    pub fn new(id: &str, status: Status) -> Self {
        HostResult {
            error: None,
            ..HostResult::skipped(id, status, "")
        }
    }

    fn skipped(id: &str, status: Status, why: &str) -> Self {
        HostResult {
            id: id.to_string(),
            status,
            ret: Value::Null,
            retcode: None,
            error: Some(why.to_string()),
            started: None,
            duration_ms: 0,
            executions: 0,
            drift: None,
            ledger: None,
            duplicate: false,
        }
    }

    fn from_transport(
        id: &str,
        e: &TransportError,
        started: f64,
        t0: Instant,
        executions: u32,
    ) -> Self {
        let status = match e.class() {
            FailureClass::Unreachable => Status::Unreachable,
            FailureClass::AuthFailed => Status::AuthFailed,
            FailureClass::HostKey => Status::HostKey,
            FailureClass::Command => Status::Failed,
        };
        HostResult {
            id: id.to_string(),
            status,
            ret: Value::Null,
            retcode: None,
            error: Some(e.to_string()),
            started: Some(started),
            duration_ms: t0.elapsed().as_millis() as u64,
            executions,
            drift: None,
            ledger: None,
            duplicate: false,
        }
    }
}

/// Receives progress while a run goes on (the output layer implements it).
pub trait Observer {
    /// `total` hosts will be run.
    fn started(&mut self, total: usize);
    /// A host finished (any status).
    fn host_done(&mut self, result: &HostResult);
    /// Stage `index` of `count` (1-based) starts with these hosts (staged runs only).
    fn stage_started(&mut self, index: usize, count: usize, hosts: &[String]) {
        let _ = (index, count, hosts);
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {
    fn started(&mut self, _: usize) {}
    fn host_done(&mut self, _: &HostResult) {}
}

/// Grains for hosts: the cache and whether to bypass it.
#[derive(Debug, Clone)]
pub struct GrainSource {
    pub cache: GrainCache,
    pub refresh: bool,
}

impl GrainSource {
    /// Cached gathered grains merged with the host's static ones, if fresh.
    fn cached(&self, host: &Host) -> Option<Value> {
        if self.refresh {
            return None;
        }
        self.cache
            .get(&host.id)
            .map(|g| crate::grains::merge_static(g, &host.grains))
    }

    /// Gather grains over `conn` (one execution), cache them, merge static ones.
    async fn gather(&self, host: &Host, conn: &Connection) -> Result<Value, GatherError> {
        let out = conn
            .exec(&Command::new(crate::grains::gather_script()))
            .await
            .map_err(GatherError::Transport)?;
        if !out.success() {
            return Err(GatherError::Script(format!(
                "grain script exited with {:?}: {}",
                out.exit_code,
                out.stderr.trim()
            )));
        }
        let g = crate::grains::parse(&host.id, &out.stdout)
            .map_err(|e| GatherError::Script(e.to_string()))?;
        // A cache write failure only costs a later re-gather.
        if let Err(e) = self.cache.put(&host.id, &g) {
            tracing::warn!("cannot cache grains of {}: {e}", host.id);
        }
        Ok(crate::grains::merge_static(g, &host.grains))
    }
}

enum GatherError {
    Transport(TransportError),
    Script(String),
}

/// Hosts whose grains are known after [`gather_for_targeting`], and the
/// connections opened on the way (reused by the run).
pub struct Gathered {
    pub grains: HashMap<String, Value>,
    pub conns: HashMap<String, Connection>,
    /// Hosts whose grains could not be read: reported, never silently dropped.
    pub failed: Vec<HostResult>,
}

/// Make sure every host's grains are known, connecting to those without fresh
/// cached grains (in parallel, up to `forks`).
pub async fn gather_for_targeting(
    hosts: &[Host],
    source: &GrainSource,
    opts: &ConnectOptions,
    forks: usize,
) -> Gathered {
    let mut out = Gathered {
        grains: HashMap::new(),
        conns: HashMap::new(),
        failed: Vec::new(),
    };
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let mut set = JoinSet::new();
    for host in hosts {
        if let Some(g) = source.cached(host) {
            out.grains.insert(host.id.clone(), g);
            continue;
        }
        let (host, source, opts, sem) = (host.clone(), source.clone(), opts.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let started = unix_now();
            let t0 = Instant::now();
            let conn = match Connection::open(&host, &opts).await {
                Ok(c) => c,
                Err(e) => return Err(HostResult::from_transport(&host.id, &e, started, t0, 0)),
            };
            match source.gather(&host, &conn).await {
                Ok(g) => Ok((host.id.clone(), g, conn)),
                Err(GatherError::Transport(e)) => Err(HostResult::from_transport(
                    &host.id,
                    &e,
                    started,
                    t0,
                    conn.executions(),
                )),
                Err(GatherError::Script(e)) => Err(HostResult {
                    error: Some(format!("cannot read grains for targeting: {e}")),
                    ..HostResult::skipped(&host.id, Status::Failed, "")
                }),
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((id, g, conn))) => {
                out.grains.insert(id.clone(), g);
                out.conns.insert(id, conn);
            }
            Ok(Err(r)) => out.failed.push(r),
            Err(e) => tracing::error!("grain task died: {e}"),
        }
    }
    out
}

/// Pillars compiled for targeting ([`pillar_for_targeting`]).
#[derive(Default)]
pub struct Pillars {
    /// Host id -> its pillar. Only ever handed to that host's own run.
    pub pillar: HashMap<String, Value>,
    /// Hosts whose pillar failed to compile: whether they match is not
    /// known, so they are reported, never silently dropped.
    pub failed: Vec<HostResult>,
}

/// Compile the pillar of each `(host id, grains)` on the controller, for
/// pillar targeting (`-I`, `-J`, `I@`, `J@`). No remote execution: the
/// grains are already known. Each host's pillar is compiled from its own
/// id and grains only. Rendering is file and CPU work, so it runs on
/// blocking threads, as many at once as the machine has cores.
pub async fn pillar_for_targeting(
    hosts: Vec<(String, Value)>,
    project: Arc<crate::engine::Project>,
) -> Pillars {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let sem = Arc::new(Semaphore::new(cores));
    let mut set = JoinSet::new();
    for (id, grains) in hosts {
        let (project, sem) = (project.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t0 = Instant::now();
            let started = unix_now();
            let compiled = tokio::task::spawn_blocking({
                let id = id.clone();
                move || {
                    crate::pillar::compile(
                        &project.pillar,
                        &id,
                        &grains,
                        &project.groups,
                        None,
                        &project.secrets,
                    )
                    .map_err(|e| (e.to_string(), e.is_duplicate_key()))
                }
            })
            .await
            .unwrap_or_else(|e| Err((format!("the pillar task died: {e}"), false)));
            (id, compiled, started, t0)
        });
    }
    let mut out = Pillars::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((id, Ok(p), _, _)) => {
                out.pillar.insert(id, p);
            }
            Ok((id, Err((e, duplicate)), started, t0)) => out.failed.push(HostResult {
                error: Some(format!("cannot compile the pillar for targeting: {e}")),
                started: Some(started),
                duration_ms: t0.elapsed().as_millis() as u64,
                duplicate,
                ..HostResult::skipped(&id, Status::Failed, "")
            }),
            Err(e) => tracing::error!("pillar task died: {e}"),
        }
    }
    out.failed.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A run of one function over targeted hosts.
pub struct Plan {
    /// Targeted hosts; they start in this order.
    pub hosts: Vec<Host>,
    /// How the function runs on each host, decided once.
    pub call: Arc<Call>,
    pub forks: usize,
    /// `-b`: a sliding window or stages.
    pub batch: Option<BatchPlan>,
    /// Stop starting hosts once this many have failed.
    pub fail_limit: Option<usize>,
    /// `--verify`: run on each host after its function succeeded; non-zero fails the host.
    pub verify: Option<String>,
    /// `--batch-wait`: pause between stages.
    pub batch_wait: Option<Duration>,
    pub connect: ConnectOptions,
    pub grains: GrainSource,
    /// Grains already known (from targeting).
    pub known_grains: HashMap<String, Value>,
    /// Connections already open (from targeting).
    pub conns: HashMap<String, Connection>,
    /// Pillars already compiled (from targeting), each used only by its
    /// own host's run, when the function has no `pillar=` override.
    pub known_pillar: HashMap<String, Value>,
    /// The state tree, pillar and groups, for state functions.
    pub project: Arc<crate::engine::Project>,
    /// The controller's mine store (`mine.*`, `salt['mine.get']`).
    pub mine: crate::mine::Store,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub results: BTreeMap<String, HostResult>,
    pub interrupted: bool,
    pub duration_ms: u64,
    /// The hosts of each stage that started (one stage unless `-b` listed sizes).
    pub stages: Vec<Vec<String>>,
    /// Why hosts were left unstarted, when they were.
    pub stopped: Option<String>,
}

impl Plan {
    /// The number of hosts in flight at once within a stage.
    pub fn window(&self) -> usize {
        let total = self.hosts.len();
        let forks = self.forks.max(1);
        match &self.batch {
            Some(BatchPlan::Window(b)) => b.size(total).min(forks),
            _ => forks,
        }
    }

    /// Run the plan, stage by stage. A stage starts only when the previous
    /// one has finished. Ctrl-C stops starting hosts, ends the commands of
    /// those in flight (reported `interrupted`) and returns what ran.
    pub async fn run(mut self, observer: &mut dyn Observer) -> Outcome {
        let t0 = Instant::now();
        let total = self.hosts.len();
        let window = self.window();
        observer.started(total);
        let sizes = self
            .batch
            .as_ref()
            .map_or(vec![total], |b| b.stage_sizes(total));
        let staged = sizes.len() > 1 || self.batch.as_ref().is_some_and(BatchPlan::is_staged);
        let mut pending = std::mem::take(&mut self.hosts).into_iter();
        let mut state = RunState {
            results: BTreeMap::new(),
            failures: 0,
            stopped: None,
            interrupted: false,
        };
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut stages = Vec::new();
        let stage_count = sizes.len();
        for (k, size) in sizes.into_iter().enumerate() {
            if state.stopped.is_some() || state.interrupted {
                break;
            }
            if k > 0 {
                if let Some(wait) = self.batch_wait {
                    tokio::select! {
                        // Ctrl-C during the pause between stages.
                        _ = &mut ctrl_c => { state.interrupted = true; break; }
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            let stage: Vec<Host> = pending.by_ref().take(size).collect();
            let ids: Vec<String> = stage.iter().map(|h| h.id.clone()).collect();
            if staged {
                observer.stage_started(k + 1, stage_count, &ids);
            }
            stages.push(ids);
            self.run_stage(stage, window, &mut state, observer, &mut ctrl_c)
                .await;
        }
        state.not_run(pending, observer);
        // Connections opened for targeting but not used by the run.
        for (_, c) in self.conns.drain() {
            c.close().await;
        }
        Outcome {
            results: state.results,
            interrupted: state.interrupted,
            duration_ms: t0.elapsed().as_millis() as u64,
            stages,
            stopped: state.stopped,
        }
    }

    /// Run one stage's hosts, at most `window` at once.
    async fn run_stage(
        &mut self,
        hosts: Vec<Host>,
        window: usize,
        state: &mut RunState,
        observer: &mut dyn Observer,
        ctrl_c: &mut std::pin::Pin<&mut impl std::future::Future<Output = std::io::Result<()>>>,
    ) {
        let sem = Arc::new(Semaphore::new(window.max(1)));
        let opts = Arc::new(self.connect.clone());
        let mut running: HashSet<String> = HashSet::new();
        // A host's window slot (permit) is released only once its result has
        // been counted here, so the fail limit is checked before the next start.
        let mut set: JoinSet<(HostResult, tokio::sync::OwnedSemaphorePermit)> = JoinSet::new();
        let mut pending = hosts.into_iter().peekable();
        loop {
            let can_start = state.stopped.is_none() && pending.peek().is_some();
            if !can_start && set.is_empty() {
                break;
            }
            tokio::select! {
                // Ctrl-C wins over everything else so a stuck fleet can always be left.
                biased;
                _ = ctrl_c.as_mut() => {
                    state.interrupted = true;
                    break;
                }
                // Starting comes before collecting: every host a stage's window
                // allows is started before any result can stop the stage.
                permit = sem.clone().acquire_owned(), if can_start => {
                    let Ok(permit) = permit else { break };
                    let Some(host) = pending.next() else { continue };
                    running.insert(host.id.clone());
                    self.start(host, permit, &opts, &mut set);
                }
                Some(joined) = set.join_next(), if !set.is_empty() => {
                    let (r, permit) = match joined {
                        Ok(done) => done,
                        Err(e) => {
                            tracing::error!("host task died: {e}");
                            continue;
                        }
                    };
                    running.remove(&r.id);
                    state.done(r, self.fail_limit, observer);
                    drop(permit);
                }
            }
        }
        if state.interrupted {
            self.end_running(&mut set).await;
            for id in running {
                let r = HostResult::skipped(
                    &id,
                    Status::Interrupted,
                    "interrupted by Ctrl-C while running",
                );
                observer.host_done(&r);
                state.results.insert(id, r);
            }
        }
        // Hosts of this stage that were never started.
        state.not_run(pending, observer);
    }
}

impl Plan {
    /// Start `host` in `set`, holding its window slot (`permit`), with what
    /// targeting learnt of it (connection, grains, pillar).
    fn start(
        &mut self,
        host: Host,
        permit: tokio::sync::OwnedSemaphorePermit,
        opts: &Arc<ConnectOptions>,
        set: &mut JoinSet<(HostResult, tokio::sync::OwnedSemaphorePermit)>,
    ) {
        let conn = self.conns.remove(&host.id);
        let grains = self.known_grains.get(&host.id).cloned();
        let pillar = self.known_pillar.remove(&host.id);
        let job = HostJob {
            call: self.call.clone(),
            opts: opts.clone(),
            source: self.grains.clone(),
            verify: self.verify.clone(),
            project: self.project.clone(),
            mine: Arc::new(crate::functions::mine::Mine {
                store: self.mine.clone(),
                project: self.project.clone(),
            }),
        };
        set.spawn(async move {
            let r = run_host(host, conn, grains, pillar, &job).await;
            (r, permit)
        });
    }

    /// After Ctrl-C: every connection ends the command it is running (its
    /// whole process group, see `transport::launch`); the host tasks get a
    /// few seconds for that before they are dropped. A second Ctrl-C drops
    /// them at once.
    async fn end_running(
        &self,
        set: &mut JoinSet<(HostResult, tokio::sync::OwnedSemaphorePermit)>,
    ) {
        self.connect.interrupt.trigger();
        let second = tokio::signal::ctrl_c();
        let drained = async { while set.join_next().await.is_some() {} };
        tokio::select! {
            _ = drained => {}
            _ = second => {}
            _ = tokio::time::sleep(ENDING_LIMIT) => {}
        }
        set.abort_all();
    }
}

/// How long Ctrl-C waits for running commands to be ended: the kill's grace
/// period and a round trip.
const ENDING_LIMIT: Duration = Duration::from_secs(5);

/// What the stages of one run share.
struct RunState {
    results: BTreeMap<String, HostResult>,
    failures: usize,
    stopped: Option<String>,
    interrupted: bool,
}

impl RunState {
    /// Count a finished host: a key declared twice or the `fail_limit`-th
    /// failure stops new starts. Then report and keep it.
    fn done(&mut self, r: HostResult, fail_limit: Option<usize>, observer: &mut dyn Observer) {
        if r.duplicate && self.stopped.is_none() {
            self.stopped = Some(format!(
                "not started: the state tree or pillar declares a key or ID twice (see {})",
                r.id
            ));
        }
        if !r.status.is_ok() {
            self.failures += 1;
            if fail_limit.is_some_and(|limit| self.failures >= limit) && self.stopped.is_none() {
                self.stopped = Some(format!(
                    "not started: {} host(s) failed, more than the run tolerates",
                    self.failures
                ));
            }
        }
        observer.host_done(&r);
        self.results.insert(r.id.clone(), r);
    }

    /// Report `hosts` as not run, saying why.
    fn not_run(&mut self, hosts: impl Iterator<Item = Host>, observer: &mut dyn Observer) {
        let why = if self.interrupted {
            "not started: interrupted by Ctrl-C".to_string()
        } else {
            self.stopped.clone().unwrap_or_default()
        };
        for host in hosts {
            let r = HostResult::skipped(&host.id, Status::NotRun, &why);
            observer.host_done(&r);
            self.results.insert(host.id.clone(), r);
        }
    }
}

/// What every host of a run does, shared by the host tasks.
struct HostJob {
    call: Arc<Call>,
    opts: Arc<ConnectOptions>,
    source: GrainSource,
    verify: Option<String>,
    project: Arc<crate::engine::Project>,
    mine: Arc<crate::functions::mine::Mine>,
}

/// Close a host's connection once nothing else holds it.
async fn close(conn: Arc<Connection>) {
    if let Ok(c) = Arc::try_unwrap(conn) {
        c.close().await;
    }
}

/// Everything that happens on one host: connect (unless targeting already
/// did), gather grains when the call needs them, run the call (its pillar
/// compiled when it needs one, unless targeting already did: `pillar`),
/// then `--verify`.
async fn run_host(
    host: Host,
    conn: Option<Connection>,
    grains: Option<Value>,
    pillar: Option<Value>,
    job: &HostJob,
) -> HostResult {
    let clock = Clock::start();
    if let Call::ControllerOnly(function) = job.call.as_ref() {
        let ctx = HostCtx {
            id: &host.id,
            grains: &Value::Null,
        };
        return clock.finish(&host.id, function.interpret(&ctx, None), 0);
    }
    // mine.get / delete / flush: the controller's store alone.
    if let Call::Mine(m) = job.call.as_ref() {
        if !m.on_host() {
            return clock.finish(&host.id, job.mine.answer(m, &host.id, &Value::Null), 0);
        }
    }
    // Shared: the state engine lends it to templates' remote calls.
    let conn = Arc::new(match conn {
        Some(c) => c,
        None => match Connection::open(&host, &job.opts).await {
            Ok(c) => c,
            Err(e) => return clock.transport(&host.id, &e, 0),
        },
    });
    let grains = match host_grains(&host, grains, &conn, job).await {
        Ok(g) => g,
        Err(failure) => return clock.close_failed(&host.id, conn, failure).await,
    };
    let ran = match call(&host.id, &grains, pillar, &conn, job).await {
        Ok(ran) => ran,
        Err(e) => {
            return clock
                .close_failed(&host.id, conn, GatherError::Transport(e))
                .await
        }
    };
    // --verify: only after success, on the same connection.
    let verdict = match job.verify.as_deref() {
        Some(v) if ran.outcome.success => Some(conn.exec(&Command::new(v)).await),
        _ => None,
    };
    let n = conn.executions();
    close(conn).await;
    let mut r = clock.finish(&host.id, ran.outcome, n);
    r.drift = ran.drift;
    r.ledger = ran.ledger;
    r.duplicate = ran.duplicate;
    verified(r, verdict)
}

/// When work on a host started, for its result.
struct Clock {
    started: f64,
    t0: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            started: unix_now(),
            t0: Instant::now(),
        }
    }

    fn finish(&self, id: &str, outcome: crate::functions::Outcome, executions: u32) -> HostResult {
        let status = if outcome.success {
            Status::Ok
        } else {
            Status::Failed
        };
        HostResult {
            ret: outcome.ret,
            retcode: outcome.retcode,
            error: None,
            started: Some(self.started),
            duration_ms: self.t0.elapsed().as_millis() as u64,
            executions,
            ..HostResult::skipped(id, status, "")
        }
    }

    fn transport(&self, id: &str, e: &TransportError, executions: u32) -> HostResult {
        HostResult::from_transport(id, e, self.started, self.t0, executions)
    }

    /// The host failed before its call finished: close, say why.
    async fn close_failed(&self, id: &str, conn: Arc<Connection>, e: GatherError) -> HostResult {
        let n = conn.executions();
        close(conn).await;
        match e {
            GatherError::Transport(e) => self.transport(id, &e, n),
            GatherError::Script(e) => HostResult {
                error: Some(e),
                started: Some(self.started),
                duration_ms: self.t0.elapsed().as_millis() as u64,
                executions: n,
                ..HostResult::skipped(id, Status::Failed, "")
            },
        }
    }
}

/// The host's grains: known from targeting, cached, gathered now over
/// `conn`, or not needed (null).
async fn host_grains(
    host: &Host,
    known: Option<Value>,
    conn: &Connection,
    job: &HostJob,
) -> Result<Value, GatherError> {
    match known {
        Some(g) => Ok(g),
        None if job.call.needs_grains() => match job.source.cached(host) {
            Some(g) => Ok(g),
            None => job.source.gather(host, conn).await,
        },
        None => Ok(Value::Null),
    }
}

/// What a call left besides its outcome (state runs only).
struct Ran {
    outcome: crate::functions::Outcome,
    drift: Option<crate::engine::DriftReport>,
    ledger: Option<crate::state::ledger::HostCopy>,
    duplicate: bool,
}

impl Ran {
    fn plain(outcome: crate::functions::Outcome) -> Ran {
        Ran {
            outcome,
            drift: None,
            ledger: None,
            duplicate: false,
        }
    }
}

/// The call itself, on a connected host whose grains are known.
async fn call(
    id: &str,
    grains: &Value,
    pillar: Option<Value>,
    conn: &Arc<Connection>,
    job: &HostJob,
) -> Result<Ran, TransportError> {
    let project = job.project.as_ref();
    let ctx = HostCtx { id, grains };
    match job.call.as_ref() {
        Call::ControllerOnly(function) => Ok(Ran::plain(function.interpret(&ctx, None))),
        Call::State(call) => {
            use crate::engine::{self, Action};
            // Templates' `salt['file.file_exists'](...)` and the like ask
            // the host, when showing too (Salt's show functions render on
            // the minion).
            let remote = Arc::new(crate::functions::HostCall {
                conn: conn.clone(),
                id: id.to_string(),
                grains: grains.clone(),
                mine: Some(job.mine.clone()),
            });
            let o = match call.action {
                Action::Apply => engine::run(conn, id, grains, pillar, project, call, remote).await,
                Action::Show | Action::ShowTop => {
                    engine::show(project, id, grains, pillar, call, Some(remote))
                }
            };
            Ok(Ran {
                outcome: crate::functions::Outcome {
                    success: o.success,
                    ret: o.ret,
                    retcode: None,
                },
                drift: o.drift,
                ledger: o.ledger,
                duplicate: o.duplicate,
            })
        }
        Call::Pillar {
            function,
            overrides,
        } => Ok(from_pillar(
            &ctx,
            function.as_ref(),
            pillar,
            overrides,
            project,
        )),
        Call::Mine(m) => {
            let crate::functions::mine::MineCall::Update { clear, functions } = m else {
                return Ok(Ran::plain(job.mine.answer(m, id, grains)));
            };
            let pillar = match host_pillar(&ctx, pillar, &None, project) {
                Ok(p) => p,
                Err(e) => return Ok(pillar_failed(e)),
            };
            let o = job
                .mine
                .update(&ctx, *clear, functions.as_ref(), &pillar, conn)
                .await?;
            Ok(Ran::plain(o))
        }
        Call::Script(function) => {
            let out = match function.command(&ctx) {
                Some(cmd) => Some(conn.exec(&cmd).await?),
                None => None,
            };
            Ok(Ran::plain(function.interpret(&ctx, out.as_ref())))
        }
    }
}

/// A pillar function's answer. The pillar is compiled from this host's
/// grains only (or is the one targeting compiled, when there is no
/// override); it goes nowhere but into this host's result.
fn from_pillar(
    ctx: &HostCtx,
    function: &dyn Function,
    known: Option<Value>,
    overrides: &Option<Value>,
    project: &crate::engine::Project,
) -> Ran {
    match host_pillar(ctx, known, overrides, project) {
        Ok(p) => Ran::plain(function.interpret_pillar(ctx, &p)),
        Err(e) => pillar_failed(e),
    }
}

/// The host's pillar: the one targeting compiled (when there is no
/// override), else compiled now from this host's grains only.
fn host_pillar(
    ctx: &HostCtx,
    known: Option<Value>,
    overrides: &Option<Value>,
    project: &crate::engine::Project,
) -> Result<Value, crate::pillar::PillarError> {
    match (known, overrides) {
        (Some(p), None) => Ok(p),
        (_, overrides) => crate::pillar::compile(
            &project.pillar,
            ctx.id,
            ctx.grains,
            &project.groups,
            overrides.clone(),
            &project.secrets,
        ),
    }
}

/// The host's result when its pillar could not be compiled.
fn pillar_failed(e: crate::pillar::PillarError) -> Ran {
    Ran {
        duplicate: e.is_duplicate_key(),
        ..Ran::plain(crate::functions::Outcome::fail(
            Value::Array(vec![Value::String(format!("pillar: {e}"))]),
            None,
        ))
    }
}

/// `r` after `--verify`'s verdict: a non-zero exit or an error fails it.
fn verified(mut r: HostResult, verdict: Option<Result<ExecOutput, TransportError>>) -> HostResult {
    match verdict {
        None => {}
        Some(Ok(o)) if o.success() => {}
        Some(Ok(o)) => {
            r.status = Status::Failed;
            let output = format!("{}{}", o.stdout, o.stderr);
            r.error = Some(format!(
                "verify failed (exit {}): {}",
                o.exit_code.map_or("signal".to_string(), |c| c.to_string()),
                output.trim()
            ));
        }
        Some(Err(e)) => {
            r.status = Status::Failed;
            r.error = Some(format!("verify failed: {e}"));
        }
    }
    r
}

/// Seconds since the Unix epoch, as a float.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Host counts by outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub targeted: usize,
    pub ok: usize,
    pub failed: usize,
    /// Unreachable, auth failures and host key refusals.
    pub unreachable: usize,
    /// Not run and interrupted.
    pub not_run: usize,
}

impl Summary {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a HostResult>) -> Summary {
        let mut s = Summary::default();
        for r in results {
            s.targeted += 1;
            match r.status {
                Status::Ok => s.ok += 1,
                Status::Failed => s.failed += 1,
                Status::Unreachable | Status::AuthFailed | Status::HostKey => s.unreachable += 1,
                Status::NotRun | Status::Interrupted => s.not_run += 1,
            }
        }
        s
    }

    /// True when every targeted host succeeded.
    pub fn all_ok(&self) -> bool {
        self.ok == self.targeted
    }
}
