//! `halite orchestrate NAME [test=True] [pillar='{...}']`: render and
//! compile the orchestration (see [`crate::orchestrate`]), run its steps,
//! each host step through the same operation as `halite TARGET FUNCTION`
//! ([`crate::ops::run`]), then record and print the orchestration as one job.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::{usage_error, Common, RunArgs, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::fleet::{HostResult, Status, Summary};
use crate::functions::Args;
use crate::inventory::Inventory;
use crate::jobs::{new_jid, JobCache, JobRecord, JobStatus, StepJob};
use crate::ops::{self, RunOptions, TargetSpec};
use crate::orchestrate::{self, StepRequest, StepRun, StepRunner, MASTER_ID};
use crate::output::{self, Format, Printer};

pub fn exec(name: &str, words: &[String], common: &Common, run: &RunArgs) -> u8 {
    exec_resuming(name, words, common, run, None)
}

/// `halite jobs rerun JID` on an orchestration: the same orchestration and
/// arguments, resumed at the first step that failed or did not run.
pub fn resume(record: &JobRecord, common: &Common, run: &RunArgs) -> u8 {
    let Some(master) = record.results.get(MASTER_ID) else {
        return usage_error(&anyhow::anyhow!(
            "job {} has no orchestration result to resume from",
            record.jid
        ));
    };
    let mut words = record.args.raw_positional.clone();
    words.extend(
        record
            .args
            .raw_kwargs
            .iter()
            .map(|(k, v)| format!("{k}={v}")),
    );
    let from = orchestrate::Resume::from_ret(&record.jid, &master.ret);
    exec_resuming(&record.target, &words, common, run, Some(from))
}

fn exec_resuming(
    name: &str,
    words: &[String],
    common: &Common,
    run: &RunArgs,
    resume: Option<orchestrate::Resume>,
) -> u8 {
    match prepare(name, words, common, run) {
        Ok((steps, settings, test)) => {
            let runtime = match super::run::runtime() {
                Ok(r) => r,
                Err(e) => return usage_error(&e),
            };
            let call = Call {
                name,
                words,
                steps: &steps,
                settings: &settings,
                test,
                resume: resume.as_ref(),
            };
            runtime.block_on(orchestrate_steps(call, common, run))
        }
        Err(e) => usage_error(&e),
    }
}

/// Settings, `test=` and `pillar=`, and the steps, all checked before any
/// step runs.
fn prepare(
    name: &str,
    words: &[String],
    common: &Common,
    run: &RunArgs,
) -> anyhow::Result<(Vec<orchestrate::Step>, crate::config::Settings, bool)> {
    let settings = super::run::overrides(run).settings(common.config.as_deref())?;
    let inventory = Inventory::load(&settings.inventory)?;
    let args = Args::from_words(words);
    if let Some(extra) = args.raw_positional.first() {
        anyhow::bail!("orchestrate {name}: unexpected argument `{extra}` (it takes test=True and pillar='{{...}}')");
    }
    let mut test = false;
    let mut pillar = None;
    for (k, v) in &args.kwargs {
        match (k.as_str(), v) {
            ("test", Value::Bool(b)) => test = *b,
            ("pillar", Value::Object(_)) => pillar = Some(v.clone()),
            ("test" | "pillar", _) => anyhow::bail!(
                "orchestrate {name}: `{k}={}` is not {}",
                args.raw_kwargs.get(k).map(String::as_str).unwrap_or_default(),
                if k == "test" { "True or False" } else { "a mapping" }
            ),
            _ => anyhow::bail!(
                "orchestrate {name}: unknown argument `{k}` (it takes test=True and pillar='{{...}}')"
            ),
        }
    }
    let project = ops::project(&settings, &inventory);
    let steps = orchestrate::load(&project, name, pillar)?;
    Ok((steps, settings, test))
}

/// One orchestration run, checked.
struct Call<'a> {
    name: &'a str,
    words: &'a [String],
    steps: &'a [orchestrate::Step],
    settings: &'a crate::config::Settings,
    test: bool,
    resume: Option<&'a orchestrate::Resume>,
}

async fn orchestrate_steps(call: Call<'_>, common: &Common, run: &RunArgs) -> u8 {
    let Call {
        name,
        words,
        steps,
        settings,
        test,
        resume,
    } = call;
    let t0 = std::time::Instant::now();
    let start = SystemTime::now();
    let format = common.out.unwrap_or(Format::Human);
    let runner = CliRunner {
        run,
        common,
        silent: !matches!(format, Format::Human | Format::Txt | Format::Grouped),
    };
    let finished = orchestrate::execute(steps, &runner, test, resume).await;

    let code = if finished.interrupted {
        EXIT_INTERRUPTED
    } else if finished.success {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    };
    let record = job_record(name, words, start, t0, finished);
    let master = &record.results[MASTER_ID];
    let cache = JobCache::new(&settings.cache_dir);
    if let Err(e) = cache.finish(&record) {
        output::warn(&format!("job cache: {e}"));
    }
    if matches!(format, Format::Json | Format::Yaml) {
        // Salt's `salt-run --out json state.orchestrate` document, plus
        // the orchestration's job id and each step's.
        let doc = serde_json::json!({
            "data": {MASTER_ID: &master.ret},
            "outputter": "highstate",
            "retcode": code,
            "jid": record.jid,
            "steps": record.steps,
        });
        output::document(format, &doc);
    } else {
        let mut printer = Printer::new(format, common.style(settings), false);
        output::orchestration_done();
        crate::fleet::Observer::host_done(&mut printer, master);
        printer.finish(&record);
    }
    code
}

/// Runs each host step as `halite TARGET FUNCTION ARGS` would ([`ops::run`]),
/// with the orchestration's flags.
struct CliRunner<'a> {
    run: &'a RunArgs,
    common: &'a Common,
    /// The orchestration prints one document at the end (json, yaml,
    /// junit): the steps print nothing.
    silent: bool,
}

impl StepRunner for CliRunner<'_> {
    fn run(&self, req: StepRequest) -> Pin<Box<dyn Future<Output = StepRun> + '_>> {
        Box::pin(async move {
            let options = step_options(self.run, self.common, self.silent, &req);
            if !self.silent {
                output::step_started(&req.id, &req.host.function, &req.host.tgt, req.test);
            }
            match ops::run(&options).await {
                Ok(ran) => StepRun {
                    jid: ran.jid,
                    results: ran.results,
                    refused: ran.refused,
                    interrupted: ran.ending == ops::Ending::Interrupted,
                },
                Err(e) => StepRun {
                    refused: Some(format!("{:#}", anyhow::Error::from(e))),
                    ..StepRun::default()
                },
            }
        })
    }
}

/// The run a step stands for: the orchestration's flags with the step's
/// target, function, batch plan, --max-fail and --verify; its arguments
/// already typed (an orchestration's YAML values keep their types; they
/// are not read again as words).
fn step_options(run: &RunArgs, common: &Common, silent: bool, req: &StepRequest) -> RunOptions {
    let h = &req.host;
    let target = TargetSpec {
        kind: h.tgt_type,
        expr: h.tgt.clone(),
        delimiter: run.delimiter.unwrap_or(':'),
    };
    let mut kwargs: Map<String, Value> = h.kwargs.clone();
    if req.test && h.is_state {
        kwargs.insert("test".into(), Value::Bool(true));
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let args = Args {
        raw_positional: h.positional.iter().map(text).collect(),
        raw_kwargs: kwargs.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        positional: h.positional.clone(),
        kwargs: kwargs.into_iter().collect(),
    };
    let mut options = super::run::options_for(run, common, target, h.function.clone(), args);
    options.execution.batch = h.batch.clone();
    options.execution.max_fail = h.max_fail;
    options.execution.verify = h.verify.clone();
    options.show.silent = silent;
    options
}

/// The orchestration's own job record: its result as the one "host"
/// `halite_master`, and each step's job id.
fn job_record(
    name: &str,
    words: &[String],
    start: SystemTime,
    t0: std::time::Instant,
    finished: orchestrate::Finished,
) -> JobRecord {
    let status = if finished.success {
        Status::Ok
    } else {
        Status::Failed
    };
    let master = HostResult {
        ret: Value::Object(finished.ret),
        error: None,
        started: None,
        duration_ms: t0.elapsed().as_millis() as u64,
        ..HostResult::new(MASTER_ID, status)
    };
    let mut record = JobRecord {
        jid: new_jid(start),
        started: humantime::format_rfc3339_seconds(start).to_string(),
        target: name.to_string(),
        target_type: "orchestration".into(),
        function: "state.orchestrate".into(),
        args: Args::from_words(words),
        batch: None,
        max_fail: None,
        verify: None,
        batch_wait: None,
        stages: Vec::new(),
        stopped: None,
        status: if finished.interrupted {
            JobStatus::Interrupted
        } else {
            JobStatus::Finished
        },
        duration_ms: t0.elapsed().as_millis() as u64,
        summary: Summary::default(),
        results: Default::default(),
        targeted: vec![MASTER_ID.to_string()],
        pid: None,
        steps: finished
            .jids
            .into_iter()
            .map(|(id, jid)| StepJob { id, jid })
            .collect(),
    };
    record.results.insert(MASTER_ID.to_string(), master);
    record.summary = Summary::of(record.results.values());
    record
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::orchestrate::step::HostStep;
    use crate::target::TargetType;

    fn step(kind: TargetType, is_state: bool) -> StepRequest {
        StepRequest {
            id: "deploy".into(),
            host: HostStep {
                tgt: "role:web".into(),
                tgt_type: kind,
                function: "state.apply".into(),
                positional: vec![Value::from("web")],
                kwargs: Map::new(),
                batch: Some("1".parse().unwrap()),
                max_fail: None,
                verify: Some("true".into()),
                fail_minions: Vec::new(),
                is_state,
                test: false,
                expect_minions: true,
            },
            test: true,
        }
    }

    #[test]
    fn a_step_runs_with_its_own_target_type_batch_and_test_mode() {
        let cli = Cli::try_parse_from([
            "halite",
            "-b",
            "5",
            "--delimiter",
            "|",
            "orchestrate",
            "orch.x",
        ])
        .unwrap();
        for kind in TargetType::ALL {
            let o = step_options(&cli.run, &cli.common, true, &step(kind, true));
            assert_eq!(o.target.kind, kind);
            assert_eq!(o.target.expr, "role:web");
            assert_eq!(o.target.delimiter, '|', "the orchestration's --delimiter");
            assert_eq!(o.execution.batch.as_ref().unwrap().to_string(), "1");
            assert_eq!(o.execution.verify.as_deref(), Some("true"));
            assert!(o.show.silent);
            assert_eq!(o.args.kwargs.get("test"), Some(&Value::Bool(true)));
            assert_eq!(o.args.raw_positional, ["web"]);
        }
        let o = step_options(&cli.run, &cli.common, false, &step(TargetType::Glob, false));
        assert!(
            !o.args.kwargs.contains_key("test"),
            "test= goes to state steps only"
        );
        assert!(!o.show.silent);
    }
}
