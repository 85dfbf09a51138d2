//! The `halite` command line: argument definitions (clap), turned into
//! typed options for [`crate::ops`] by [`run`], [`jobs`] and
//! [`orchestrate`]. This is the edge of the program:
//! the only place that uses `anyhow` and turns outcomes into exit codes.
//!
//! Exit codes (documented in the README):
//! - 0: every targeted host succeeded;
//! - 1: at least one host failed, was unreachable, or did not run;
//! - 2: usage or configuration error (bad flags, inventory, target
//!   expression, function or argument, or no host matched): nothing ran;
//! - 130: interrupted by Ctrl-C.

pub mod jobs;
pub mod orchestrate;
pub mod run;
pub mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args as ClapArgs, Parser, Subcommand};

use crate::output;

pub const EXIT_OK: u8 = 0;
pub const EXIT_HOSTS_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Push-based, agentless configuration management over SSH.
#[derive(Debug, Parser)]
#[command(
    name = "halite",
    version,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  halite '*' test.ping\n  halite -G 'os:Debian' pkg.install bash refresh=True\n  halite -b 25% 'web*' cmd.run 'systemctl restart nginx'\n  halite orchestrate orch.deploy test=True\n  halite jobs list\n\nExit codes: 0 all hosts ok, 1 some host failed/unreachable/not run, 2 usage or config error, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the job cache.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Run an orchestration: `halite orchestrate orch.deploy [test=True] [pillar='{...}']`
    /// renders states/orch/deploy.sls on the controller and runs its steps
    /// (salt.state, salt.function, test.*) in order, each on its own target.
    Orchestrate {
        /// The orchestration SLS, e.g. orch.deploy.
        name: String,
        /// `test=True`, `pillar='{...}'`.
        args: Vec<String>,
    },
    /// Encrypted pillar values (the `gpg` and `age` renderers).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Print a shell completion script (e.g. `halite completions bash > /etc/bash_completion.d/halite`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (e.g. `halite manpage > /usr/local/share/man/man1/halite.1`).
    Manpage,
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// List recorded runs, oldest first.
    List,
    /// Show one run's per-host results.
    Show { jid: String },
    /// Run a job again on exactly its failed and/or not-run hosts, with the same
    /// function, arguments and batch plan. Connection flags may be given again.
    Rerun {
        jid: String,
        /// The hosts that failed (failed, unreachable, auth or host key refused).
        #[arg(long)]
        failed: bool,
        /// The hosts that did not run (not run or interrupted).
        #[arg(long)]
        not_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Encrypt a value read from stdin (or typed, not echoed) and print the armored text to paste
    /// into a pillar file whose shebang ends in `|gpg` or `|age`.
    #[command(after_help = "Examples:\n  \
        printf %s 'hunter2' | halite secret encrypt --age-recipient age1...\n  \
        halite secret encrypt --gpg-recipient salt-master --key db:password < password.txt\n\n\
        Recipients default to age_recipients or gpg_recipients in halite.yaml.")]
    Encrypt(EncryptArgs),
}

#[derive(Debug, ClapArgs)]
pub struct EncryptArgs {
    /// Encrypt with gpg to this public key (id, fingerprint or user id in gpg_keydir); repeatable.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["age_recipient", "age"])]
    pub gpg_recipient: Vec<String>,
    /// Encrypt with age to this X25519 recipient (age1...); repeatable.
    #[arg(long, value_name = "RECIPIENT", conflicts_with = "gpg")]
    pub age_recipient: Vec<String>,
    /// Use gpg and halite.yaml's gpg_recipients.
    #[arg(long, conflicts_with = "age")]
    pub gpg: bool,
    /// Use age and halite.yaml's age_recipients.
    #[arg(long)]
    pub age: bool,
    /// Print a YAML document setting this key (nested on `:`, e.g. db:password) instead of the
    /// bare armored text.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

impl Common {
    /// The output style: colours, and how state results print (flags over
    /// halite.yaml).
    pub fn style(&self, settings: &crate::config::Settings) -> output::Style {
        run::style_flags(self).style(settings)
    }
}

/// Options shared by every command.
#[derive(Debug, ClapArgs)]
pub struct Common {
    /// Project file (default: ./halite.yaml when present).
    #[arg(short = 'c', long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format [default: human; grouped for runs on more than 8 hosts when stdout is a terminal].
    #[arg(long = "out", global = true, value_enum)]
    pub out: Option<output::Format>,
    /// How state results print: full, terse (a line per state), mixed (terse unless failed),
    /// changes (changed and failed states in full) [default: full, or state_output in halite.yaml].
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub state_output: Option<output::highstate::StateOutput>,
    /// `false` leaves out states that succeeded without changes [default: true, or state_verbose in halite.yaml].
    #[arg(long, global = true, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub state_verbose: Option<bool>,
    /// No colours.
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Debug logs on stderr (also HALITE_LOG=debug).
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// A run: `halite [flags] TARGET FUNCTION [ARGS...] [key=value...]`.
#[derive(Debug, Clone, ClapArgs)]
#[command(group(ArgGroup::new("target_type").multiple(false).args(["pcre", "list", "grain", "grain_pcre", "pillar", "pillar_pcre", "ipcidr", "nodegroup", "compound"])))]
pub struct RunArgs {
    /// Target expression (a glob on host ids unless a target flag says otherwise).
    #[arg(required = true)]
    pub target: Option<String>,
    /// Function to run, e.g. cmd.run.
    #[arg(required = true)]
    pub function: Option<String>,
    /// Positional and key=value arguments (values parsed as YAML scalars, like Salt).
    /// Options may come anywhere, as in Salt; after `--` every word is an argument,
    /// so one starting with `-` follows `--`.
    pub args: Vec<String>,

    /// Target: regular expression on host ids (anchored at the start, like Salt).
    #[arg(short = 'E', long, help_heading = "Targeting")]
    pub pcre: bool,
    /// Target: comma-separated list of host ids.
    #[arg(short = 'L', long, help_heading = "Targeting")]
    pub list: bool,
    /// Target: grain glob, e.g. 'os:Debian' or 'roles:web*'.
    #[arg(short = 'G', long, help_heading = "Targeting")]
    pub grain: bool,
    /// Target: grain regular expression, e.g. 'os:(Debian|Ubuntu)'.
    #[arg(short = 'P', long, help_heading = "Targeting")]
    pub grain_pcre: bool,
    /// Target: pillar glob, e.g. 'role:web' (each host's pillar is compiled on the controller from its own grains).
    #[arg(short = 'I', long, help_heading = "Targeting")]
    pub pillar: bool,
    /// Target: pillar regular expression, e.g. 'role:(web|db)'.
    #[arg(short = 'J', long, help_heading = "Targeting")]
    pub pillar_pcre: bool,
    /// Target: IP address or CIDR network of the hosts' ipv4/ipv6 grains.
    #[arg(short = 'S', long, help_heading = "Targeting")]
    pub ipcidr: bool,
    /// Target: a group (nodegroup) from the inventory.
    #[arg(short = 'N', long, help_heading = "Targeting")]
    pub nodegroup: bool,
    /// Target: compound expression, e.g. 'G@os:Debian and web* or E@db\d+' (also I@ J@ for pillar).
    #[arg(short = 'C', long, help_heading = "Targeting")]
    pub compound: bool,
    /// The character between keys in a grain or pillar target (-G, -P, -I, -J), as Salt's
    /// --delimiter: -G 'meta|dc|par' --delimiter '|' [default: :].
    #[arg(long, value_name = "CHAR", value_parser = one_char, help_heading = "Targeting")]
    pub delimiter: Option<char>,

    /// Run on at most this many hosts at once: a count (10) or a share (25%), as a sliding window;
    /// or a staged rollout, a list of stage sizes (1,10%,50%,100%): each stage starts when the
    /// previous one has finished, the last size repeats.
    #[arg(
        short = 'b',
        long,
        value_name = "N|N%|SIZES",
        allow_hyphen_values = true,
        help_heading = "Execution"
    )]
    pub batch: Option<crate::fleet::BatchPlan>,
    /// Stop starting new hosts once this many hosts have failed; the rest are reported as not run.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_hyphen_values = true, help_heading = "Execution")]
    pub batch_fail_limit: Option<u64>,
    /// Failures tolerated (N or N% of the targeted hosts) before no new stage or host starts.
    /// Staged runs default to 0: a failed canary stops the rollout.
    #[arg(
        long,
        value_name = "N|N%",
        allow_hyphen_values = true,
        help_heading = "Execution"
    )]
    pub max_fail: Option<crate::fleet::MaxFail>,
    /// Shell command run on each host right after its function succeeded; a non-zero exit fails the host.
    #[arg(long, value_name = "COMMAND", help_heading = "Execution")]
    pub verify: Option<String>,
    /// Seconds to wait between stages of a staged run.
    #[arg(long, value_name = "SECONDS", value_parser = non_negative_seconds, allow_hyphen_values = true, help_heading = "Execution")]
    pub batch_wait: Option<f64>,
    /// Hosts handled in parallel (default 100, or `forks` in halite.yaml).
    #[arg(short = 'f', long, value_parser = at_least_one, allow_hyphen_values = true, help_heading = "Execution")]
    pub forks: Option<u64>,
    /// SSH handshakes in flight at once, across the run (default 32, or `max_handshakes` in
    /// halite.yaml): paces connection starts so one sshd's MaxStartups, a NAT or a bastion
    /// does not refuse them.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_hyphen_values = true, help_heading = "Execution")]
    pub max_handshakes: Option<u64>,
    /// Time limit per remote command, in seconds (default 600, or `timeout` in halite.yaml).
    #[arg(short = 't', long, value_name = "SECONDS", value_parser = positive_seconds, allow_hyphen_values = true, help_heading = "Execution")]
    pub timeout: Option<f64>,
    /// Gather grains again instead of using the cache.
    #[arg(long, help_heading = "Execution")]
    pub refresh_grains: bool,
    /// Do not draw a progress bar.
    #[arg(long, help_heading = "Execution")]
    pub no_progress: bool,
    /// After the run, write Prometheus metrics (node_exporter textfile format) to this file, atomically. Works with any --out. If it cannot be written, halite warns on stderr and the exit code still describes the hosts.
    #[arg(long, value_name = "PATH", help_heading = "Execution")]
    pub metrics_file: Option<PathBuf>,

    /// Inventory file or directory (default: inventory/): halite's YAML, an Ansible INI or YAML
    /// inventory, a salt-ssh roster, or an executable Ansible dynamic inventory (run with --list).
    #[arg(short = 'i', long, value_name = "PATH", help_heading = "Connection")]
    pub inventory: Option<PathBuf>,
    /// known_hosts file used to verify host keys (default: ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub known_hosts: Option<PathBuf>,
    /// Trust on first use: record unknown host keys (changed keys are still refused).
    #[arg(long, help_heading = "Connection")]
    pub accept_new: bool,
    /// Ask for the sudo password of `sudo: true` hosts once, without echo, before connecting
    /// (else sudo_password_file or sudo_password_env in halite.yaml). It reaches hosts only on
    /// the command's stdin.
    #[arg(long, help_heading = "Connection")]
    pub ask_sudo_pass: bool,
    /// DANGEROUS: do not verify host keys at all (throwaway labs only).
    #[arg(long, conflicts_with = "accept_new", help_heading = "Connection")]
    pub insecure_ignore_host_keys: bool,
    /// OpenSSH client config to read host settings from (HostName, User, Port, IdentityFile, ProxyJump...); `none` reads none. Default: ~/.ssh/config when it exists. The inventory's own keys win over it.
    #[arg(long, value_name = "FILE|none", help_heading = "Connection")]
    pub ssh_config: Option<PathBuf>,
}

// The numeric options take a value starting with `-` (allow_hyphen_values),
// so `-t -1` or `--max-fail -1` is told what is wrong with the value rather
// than that `-1` is an unknown option.

/// `--forks`, `--max-handshakes`, `--batch-fail-limit`: a count, 1 or more.
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number, 1 or more".into()),
    }
}

/// `--delimiter`: exactly one character.
fn one_char(text: &str) -> Result<char, String> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err("must be exactly one character".into()),
    }
}

/// `--timeout`: seconds, more than zero.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() => Ok(t),
        _ => Err("must be a positive number of seconds".into()),
    }
}

/// `--batch-wait`: seconds, zero or more.
fn non_negative_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(t) if t >= 0.0 && t.is_finite() => Ok(t),
        _ => Err("must be a number of seconds, zero or more".into()),
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.common.verbose);
    let code = match &cli.command {
        Some(Command::Jobs { action }) => jobs::exec(action, &cli.common, &cli.run),
        Some(Command::Secret { action }) => secret::exec(action, &cli.common),
        Some(Command::Orchestrate { name, args }) => {
            orchestrate::exec(name, args, &cli.common, &cli.run)
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            output::completions(*shell, &mut cmd);
            EXIT_OK
        }
        Some(Command::Manpage) => match output::manpage(<Cli as clap::CommandFactory>::command()) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                output::error(&format!("cannot write the man page: {e}"));
                EXIT_USAGE
            }
        },
        None => run::exec(&cli.run, &cli.common),
    };
    ExitCode::from(code)
}

fn init_logging(verbose: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HALITE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if verbose {
            "halite=debug"
        } else {
            "halite=warn"
        })
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Print an error chain and return the usage/config exit code.
pub(crate) fn usage_error(e: &anyhow::Error) -> u8 {
    output::error(&format!("{e:#}"));
    EXIT_USAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("halite").chain(words.iter().copied()))
    }

    #[test]
    fn options_may_follow_the_function_and_its_arguments() {
        let cli = parse(&["*", "cmd.run", "echo hi", "-b", "1", "--out", "json", "x=1"]).unwrap();
        assert_eq!(cli.run.function.as_deref(), Some("cmd.run"));
        assert_eq!(cli.run.args, ["echo hi", "x=1"]);
        assert_eq!(cli.run.batch.map(|b| b.to_string()).as_deref(), Some("1"));
        assert_eq!(cli.common.out, Some(output::Format::Json));
    }

    #[test]
    fn after_a_double_dash_every_word_is_an_argument() {
        let cli = parse(&["-t", "5", "*", "cmd.run", "--", "-x", "-b", "1"]).unwrap();
        assert_eq!(cli.run.args, ["-x", "-b", "1"]);
        assert_eq!(cli.run.batch, None);
        let e = parse(&["*", "cmd.run", "-x"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(e.to_string().contains("'-- -x'"), "{e}");
    }

    #[test]
    fn a_negative_number_is_a_bad_value_not_an_unknown_option() {
        for flag in [
            "-t",
            "--timeout",
            "--batch-wait",
            "-b",
            "--max-fail",
            "-f",
            "--max-handshakes",
            "--batch-fail-limit",
        ] {
            let e = parse(&[flag, "-1", "*", "test.ping"]).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{flag}: {e}"
            );
            assert!(e.to_string().contains("invalid value '-1'"), "{flag}: {e}");
        }
    }

    #[test]
    fn numeric_values_are_checked() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err() && at_least_one("x").is_err());
        assert_eq!(positive_seconds("1.5"), Ok(1.5));
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(positive_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative_seconds("0"), Ok(0.0));
        assert!(non_negative_seconds("-0.5").is_err());
    }

    #[test]
    fn subcommands_still_parse() {
        let cli = parse(&["-b", "2", "jobs", "rerun", "123", "--failed"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Jobs {
                action: JobsAction::Rerun { failed: true, .. }
            })
        ));
        assert!(parse(&["completions", "bash"]).is_ok());
    }
}
