//! `halite TARGET FUNCTION ARGS...`: the flags become typed
//! [`RunOptions`] (the target type read from its flag once, here), and
//! [`ops::run`] does the rest; the run's [`Ending`] becomes the exit code.

use std::time::Duration;

use anyhow::Context;

use super::{
    usage_error, Common, RunArgs, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE,
};
use crate::functions::Args;
use crate::ops::{
    self, ConnectionFlags, Ending, Execution, Overrides, RunOptions, Show, StyleFlags, TargetSpec,
};
use crate::output;
use crate::target::TargetType;
use crate::transport::HostKeyPolicy;

pub fn exec(run: &RunArgs, common: &Common) -> u8 {
    match options(run, common) {
        Ok(options) => run_options(&options),
        Err(e) => usage_error(&e),
    }
}

/// Run `options` to its end on a runtime of its own: the exit code.
pub(super) fn run_options(options: &RunOptions) -> u8 {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            output::error(&format!("{e:#}"));
            return EXIT_USAGE;
        }
    };
    match runtime.block_on(ops::run(options)) {
        Ok(ran) => exit_code(ran.ending),
        Err(e) => usage_error(&e.into()),
    }
}

/// The multi-threaded runtime a run needs (templates' remote calls block
/// a worker).
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A run's exit code (see the crate's README).
pub(super) fn exit_code(ending: Ending) -> u8 {
    match ending {
        Ending::AllOk => EXIT_OK,
        Ending::HostsFailed => EXIT_HOSTS_FAILED,
        Ending::Refused => EXIT_USAGE,
        Ending::Interrupted => EXIT_INTERRUPTED,
    }
}

/// `TARGET FUNCTION ARGS` with the flags, typed.
fn options(run: &RunArgs, common: &Common) -> anyhow::Result<RunOptions> {
    let target = TargetSpec {
        kind: target_type(run),
        expr: run.target.clone().context("missing TARGET")?,
        delimiter: run.delimiter.unwrap_or(':'),
    };
    let function = run.function.clone().context("missing FUNCTION")?;
    Ok(options_for(
        run,
        common,
        target,
        function,
        Args::from_words(&run.args),
    ))
}

/// The run of `function` on `target` with the flags of `run` and `common`
/// (an orchestration step's, a rerun's: their target and function are not
/// the command line's).
pub(super) fn options_for(
    run: &RunArgs,
    common: &Common,
    target: TargetSpec,
    function: String,
    args: Args,
) -> RunOptions {
    RunOptions {
        config: common.config.clone(),
        overrides: overrides(run),
        target,
        function,
        args,
        execution: Execution {
            batch: run.batch.clone(),
            batch_fail_limit: run.batch_fail_limit.map(|n| n as usize),
            max_fail: run.max_fail,
            verify: run.verify.clone(),
            batch_wait: run.batch_wait,
            refresh_grains: run.refresh_grains,
        },
        connection: ConnectionFlags {
            host_key_policy: if run.insecure_ignore_host_keys {
                HostKeyPolicy::InsecureIgnore
            } else if run.accept_new {
                HostKeyPolicy::AcceptNew
            } else {
                HostKeyPolicy::Strict
            },
            ask_sudo_pass: run.ask_sudo_pass,
            ssh_config: run.ssh_config.clone(),
        },
        show: Show {
            format: common.out,
            style: style_flags(common),
            progress: !run.no_progress,
            silent: false,
            metrics_file: run.metrics_file.clone(),
        },
    }
}

/// The flags that override halite.yaml.
pub(super) fn overrides(run: &RunArgs) -> Overrides {
    Overrides {
        inventory: run.inventory.clone(),
        known_hosts: run.known_hosts.clone(),
        forks: run.forks.map(|f| f as usize),
        max_handshakes: run.max_handshakes.map(|h| h as usize),
        timeout: run.timeout.map(Duration::from_secs_f64),
    }
}

pub(super) fn style_flags(common: &Common) -> StyleFlags {
    StyleFlags {
        no_color: common.no_color,
        state_output: common.state_output,
        state_verbose: common.state_verbose,
    }
}

/// The target type its flag names (clap lets at most one be given).
fn target_type(run: &RunArgs) -> TargetType {
    TargetType::ALL
        .into_iter()
        .find(|&kind| run.target_flag(kind))
        .unwrap_or(TargetType::Glob)
}

impl RunArgs {
    /// Whether the flag of `kind` is given: the one place the target
    /// flags are listed outside clap's own definitions.
    fn target_flag(&self, kind: TargetType) -> bool {
        match kind {
            TargetType::Glob => false,
            TargetType::Pcre => self.pcre,
            TargetType::List => self.list,
            TargetType::Grain => self.grain,
            TargetType::GrainPcre => self.grain_pcre,
            TargetType::Pillar => self.pillar,
            TargetType::PillarPcre => self.pillar_pcre,
            TargetType::Ipcidr => self.ipcidr,
            TargetType::Nodegroup => self.nodegroup,
            TargetType::Compound => self.compound,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn kind(words: &[&str]) -> TargetType {
        let cli =
            Cli::try_parse_from(std::iter::once("halite").chain(words.iter().copied())).unwrap();
        target_type(&cli.run)
    }

    #[test]
    fn each_target_flag_names_its_type() {
        let flags = [
            ("-E", TargetType::Pcre),
            ("-L", TargetType::List),
            ("-G", TargetType::Grain),
            ("-P", TargetType::GrainPcre),
            ("-I", TargetType::Pillar),
            ("-J", TargetType::PillarPcre),
            ("-S", TargetType::Ipcidr),
            ("-N", TargetType::Nodegroup),
            ("-C", TargetType::Compound),
        ];
        assert_eq!(kind(&["x", "test.ping"]), TargetType::Glob);
        for (flag, want) in flags {
            assert_eq!(kind(&[flag, "x", "test.ping"]), want, "{flag}");
        }
        // Every kind but glob has its flag.
        assert_eq!(flags.len() + 1, TargetType::ALL.len());
    }
}
