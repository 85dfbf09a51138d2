//! Everything halite prints goes through here: per-host results (human,
//! txt, json, yaml, grouped, junit), the metrics file, the progress bar, the closing summary, job listings and
//! error messages. Nothing else in the crate writes to stdout or stderr.
//!
//! Human and txt output stream each host as it finishes, with the summary on
//! stderr so stdout stays greppable; json and yaml print one document for the
//! whole run (the job record) when it ends. Grouped and junit also wait for
//! the end (a group is only known once every host is in), and keep the
//! summary on stderr like human.

pub mod grouped;
pub mod harmless;
pub mod highstate;
pub mod junit;
pub mod metrics;
pub mod nested;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fleet::{HostResult, Observer, Status};
use crate::jobs::JobRecord;

/// `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Salt's nested outputter: per host, indented.
    #[default]
    Human,
    /// One JSON document for the whole run.
    Json,
    /// The same document as YAML.
    Yaml,
    /// One `host: line` per output line, for grep.
    Txt,
    /// Hosts with the same result printed once, under a folded host list
    /// (`web[01-40,42]`), like ClusterShell's `clubak -b`.
    Grouped,
    /// JUnit XML, one test case per host, for CI systems.
    Junit,
}

/// More hosts than this, on a terminal, and per-host output stops being readable.
pub const GROUPED_ABOVE: usize = 8;

/// The format for a run: the one asked for, else grouped for more than
/// [`GROUPED_ABOVE`] hosts when stdout is a terminal, else Salt's per-host output.
pub fn default_format(asked: Option<Format>, hosts: usize) -> Format {
    asked.unwrap_or(
        if hosts > GROUPED_ABOVE && std::io::stdout().is_terminal() {
            Format::Grouped
        } else {
            Format::Human
        },
    )
}

/// Terminal colours, only when stdout is a terminal and NO_COLOR is unset.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
    /// How state runs are printed (`--state-output`, `--state-verbose`).
    pub states: highstate::StateStyle,
}

impl Style {
    pub fn detect(no_color: bool) -> Self {
        Style {
            color: !no_color
                && std::env::var_os("NO_COLOR").is_none()
                && std::io::stdout().is_terminal(),
            states: highstate::StateStyle::default(),
        }
    }

    /// No colour, states in full: for files and comparisons.
    pub fn plain() -> Self {
        Style {
            color: false,
            states: highstate::StateStyle::default(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn status(&self, status: Status, s: &str) -> String {
        let code = match status {
            Status::Ok => "32",
            Status::Failed | Status::HostKey | Status::AuthFailed => "31",
            Status::Unreachable => "31;1",
            Status::NotRun | Status::Interrupted => "33",
        };
        self.paint(code, s)
    }
}

/// Prints a run as it goes; implements the fleet's [`Observer`].
pub struct Printer {
    format: Format,
    style: Style,
    bar: Option<ProgressBar>,
    /// stdout is a terminal: what hosts sent is made harmless first.
    terminal: bool,
    /// Prints nothing at all (see [`Printer::silent`]).
    silent: bool,
}

impl Printer {
    /// `progress`: draw a bar on stderr (only drawn when stderr is a terminal).
    pub fn new(format: Format, style: Style, progress: bool) -> Self {
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} hosts {msg}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Printer {
            format,
            style,
            bar,
            terminal: std::io::stdout().is_terminal(),
            silent: false,
        }
    }

    /// A printer that prints nothing: a run whose results reach the user
    /// another way (an orchestration step under `--out json`).
    pub fn silent() -> Self {
        Printer {
            format: Format::Json,
            style: Style::plain(),
            bar: None,
            terminal: false,
            silent: true,
        }
    }

    fn emit(&self, text: &str) {
        if self.silent {
            return;
        }
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Print the end of a run: the document (json/yaml) or the summary (human/txt).
    pub fn finish(&mut self, record: &JobRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.silent {
            return;
        }
        match self.format {
            Format::Json => self.emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(record).expect("serializable")
            )),
            Format::Yaml => self.emit(&crate::yaml::to_string(record)),
            Format::Human | Format::Txt => {}
            Format::Grouped if self.terminal => {
                let clean: Vec<HostResult> = record.results.values().map(harmless::host).collect();
                self.emit(&grouped::render(clean.iter(), &self.style))
            }
            Format::Grouped => self.emit(&grouped::render(record.results.values(), &self.style)),
            Format::Junit => self.emit(&junit::render(&junit::host_suite(record))),
        }
        // The stop report, then the summary: the summary line stays the last line.
        if let Some(report) = stop_report(record) {
            eprint!("{report}");
        }
        if !matches!(self.format, Format::Json | Format::Yaml) {
            eprintln!("{}", summary_line(record, &self.style));
        }
    }
}

impl Observer for Printer {
    fn stage_started(&mut self, index: usize, count: usize, hosts: &[String]) {
        if self.silent {
            return;
        }
        let line = format!(
            "== stage {index}/{count}: {} host(s): {}",
            hosts.len(),
            hosts.join(",")
        );
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn started(&mut self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    fn host_done(&mut self, r: &HostResult) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let clean;
        let r = if self.terminal && matches!(self.format, Format::Human | Format::Txt) {
            clean = harmless::host(r);
            &clean
        } else {
            r
        };
        match self.format {
            Format::Human => self.emit(&human_host(r, &self.style)),
            Format::Txt => self.emit(&txt_host(r)),
            Format::Json | Format::Yaml | Format::Grouped | Format::Junit => {}
        }
    }
}

/// One JSON or YAML document on stdout (other formats print nothing here).
pub fn document(format: Format, doc: &crate::Value) {
    let text = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(doc).expect("serializable")
        ),
        Format::Yaml => crate::yaml::to_string(doc),
        _ => return,
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// An orchestration step starts (stderr, like the stage lines).
pub fn step_started(id: &str, function: &str, target: &str, test: bool) {
    let mode = if test { " (test=True)" } else { "" };
    eprintln!("== step `{id}`: {function} on `{target}`{mode}");
}

/// The orchestration's own result follows (stderr).
pub fn orchestration_done() {
    eprintln!("== orchestration");
}

/// The explanation shown for a host that is not ok and has no return value.
fn problem(r: &HostResult) -> Option<String> {
    let label = match r.status {
        Status::Ok | Status::Failed => return r.error.clone(),
        Status::Unreachable => "UNREACHABLE",
        Status::AuthFailed => "AUTH FAILED",
        Status::HostKey => "HOST KEY REFUSED",
        Status::NotRun => "NOT RUN",
        Status::Interrupted => "INTERRUPTED",
    };
    Some(match &r.error {
        Some(e) if !e.is_empty() => format!("{label}: {e}"),
        _ => label.to_string(),
    })
}

/// One host in Salt's nested style.
pub fn human_host(r: &HostResult, style: &Style) -> String {
    format!(
        "{}:\n{}",
        style.status(r.status, &r.id),
        host_body(r, style)
    )
}

/// What [`human_host`] prints under the id line: the rendered return value,
/// the problem and the exit code. Grouped and JUnit output reuse it so a
/// host reads the same in every format.
pub fn host_body(r: &HostResult, style: &Style) -> String {
    let mut s = String::new();
    if highstate::is_state_ret(&r.ret) {
        s.push_str(&highstate::render(&r.ret, &r.id, &style.states));
    }
    if let Some(d) = &r.drift {
        s.push_str(&highstate::render_drift(d));
    }
    if highstate::is_state_ret(&r.ret) {
    } else if !r.ret.is_null() || r.status.is_ok() {
        s.push_str(&nested::render(&r.ret, 4));
    }
    if let Some(p) = problem(r) {
        s.push_str(&style.status(r.status, &format!("    {p}")));
        s.push('\n');
    }
    if r.status == Status::Failed {
        if let Some(code) = r.retcode {
            s.push_str(&style.status(r.status, &format!("    (exit code {code})")));
            s.push('\n');
        }
    }
    s
}

/// One host as `id: line` lines.
pub fn txt_host(r: &HostResult) -> String {
    let body = match (&r.ret, problem(r)) {
        (crate::Value::Null, Some(p)) => p,
        (crate::Value::String(s), _) => s.clone(),
        (v, _) => nested::render(v, 0).trim_end().to_string(),
    };
    let mut out = String::new();
    if body.is_empty() {
        out.push_str(&format!("{}: \n", r.id));
    }
    for line in body.lines() {
        out.push_str(&format!("{}: {line}\n", r.id));
    }
    out
}

/// When a run left hosts unstarted (fail limit, failed canary, Ctrl-C): in
/// plain words, who succeeded, who failed and why, who did not run, and the
/// command that resumes the run.
pub fn stop_report(record: &JobRecord) -> Option<String> {
    let not_run: Vec<&str> = record
        .results
        .values()
        .filter(|r| matches!(r.status, Status::NotRun | Status::Interrupted))
        .map(|r| r.id.as_str())
        .collect();
    if not_run.is_empty() {
        return None;
    }
    let why = record.stopped.as_deref().unwrap_or("interrupted");
    let mut s = format!(
        "halite: the run stopped early ({})\n",
        why.trim_start_matches("not started: ")
    );
    let ok: Vec<&str> = record
        .results
        .values()
        .filter(|r| r.status.is_ok())
        .map(|r| r.id.as_str())
        .collect();
    s.push_str(&format!(
        "  succeeded ({}): {}\n",
        ok.len(),
        if ok.is_empty() {
            "none".into()
        } else {
            ok.join(", ")
        }
    ));
    for r in record
        .results
        .values()
        .filter(|r| !r.status.is_ok() && !matches!(r.status, Status::NotRun | Status::Interrupted))
    {
        let reason = r.error.clone().unwrap_or_else(|| match &r.ret {
            crate::Value::String(t) => t.lines().last().unwrap_or("").to_string(),
            v => v.to_string(),
        });
        s.push_str(&format!(
            "  failed: {} ({}): {}\n",
            r.id,
            r.status.as_str(),
            reason
        ));
    }
    s.push_str(&format!(
        "  not run ({}): {}\n",
        not_run.len(),
        not_run.join(", ")
    ));
    s.push_str(&format!(
        "  resume with: halite jobs rerun {} --failed --not-run\n",
        record.jid
    ));
    Some(s)
}

/// The closing line: hosts by outcome, wall time, job id.
pub fn summary_line(record: &JobRecord, style: &Style) -> String {
    let s = &record.summary;
    let head = format!(
        "{} host(s) targeted: {} ok, {} failed, {} unreachable, {} not run",
        s.targeted, s.ok, s.failed, s.unreachable, s.not_run
    );
    let head = if s.all_ok() {
        style.paint("32", &head)
    } else {
        style.paint("31", &head)
    };
    let interrupted = if record.status == crate::jobs::JobStatus::Interrupted {
        " (interrupted)"
    } else {
        ""
    };
    format!(
        "{head}; {:.2}s{interrupted}; job {}",
        record.duration_ms as f64 / 1000.0,
        record.jid
    )
}

/// Replay a stored job as it was printed.
pub fn show_job(record: &JobRecord, format: Format, style: Style) {
    let mut p = Printer::new(format, style, false);
    if matches!(format, Format::Human | Format::Txt) {
        p.emit(&format!(
            "# job {} started {}: {} {} ({})\n",
            record.jid, record.started, record.target, record.function, record.target_type
        ));
        for r in record.results.values() {
            p.host_done(r);
        }
    }
    p.finish(record);
}

/// `halite jobs list`.
pub fn list_jobs(records: &[JobRecord], format: Format) {
    match format {
        Format::Json | Format::Yaml => {
            let rows: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "jid": r.jid, "started": r.started, "target": r.target,
                        "target_type": r.target_type, "function": r.function,
                        "status": r.status, "summary": r.summary, "duration_ms": r.duration_ms,
                    })
                })
                .collect();
            let text = if format == Format::Json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&rows).expect("serializable")
                )
            } else {
                crate::yaml::to_string(&rows)
            };
            print!("{text}");
        }
        Format::Human | Format::Txt | Format::Grouped | Format::Junit => {
            println!(
                "{:<20}  {:<20}  {:<24}  {:<18}  HOSTS (ok/targeted)",
                "JID", "STARTED", "TARGET", "FUNCTION"
            );
            for r in records {
                let status = match r.status {
                    crate::jobs::JobStatus::Running => " running",
                    crate::jobs::JobStatus::Interrupted => " interrupted",
                    crate::jobs::JobStatus::Finished => "",
                };
                println!(
                    "{:<20}  {:<20}  {:<24}  {:<18}  {}/{}{status}",
                    r.jid,
                    r.started.get(..19).unwrap_or(&r.started),
                    r.target,
                    r.function,
                    r.summary.ok,
                    r.summary.targeted
                );
            }
        }
    }
}

/// An error that stops halite before or outside a run.
pub fn error(message: &str) {
    eprintln!("halite: error: {message}");
}

/// A warning that does not stop the run.
pub fn warn(message: &str) {
    eprintln!("halite: warning: {message}");
}

/// `halite secret encrypt`'s answer: the armored value (or a YAML document
/// holding it) on stdout, and on a terminal a hint on stderr saying which
/// shebang decrypts it.
pub fn encrypted_value(text: &str, renderer: &str) {
    print!("{text}");
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("halite: paste it into a pillar file whose first line is `#!yaml|{renderer}` or `#!jinja|yaml|{renderer}`");
    }
}

/// Read a secret typed on the terminal, without echo.
pub fn read_secret(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

/// A completion script for `shell`, from the clap definition.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) {
    clap_complete::generate(shell, cmd, "halite", &mut std::io::stdout());
}

/// The man page (roff), from the clap definition.
pub fn manpage(cmd: clap::Command) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())
}
