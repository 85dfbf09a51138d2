//! The `cmd` execution module: run a shell command on hosts, with Salt's
//! `cmd.run` family of return shapes.
//!
//! The user's command is shell code by definition (Salt's CLI runs it with
//! `python_shell=True`), but it never gets pasted into our wrapper: it is
//! handed, quoted, to its own `sh -c`, so an unbalanced quote or an `exit` in
//! it cannot break the `cd`/`umask`/`env`/`runas` set-up around it.

use std::time::Duration;

use serde_json::json;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::launch::MAX_ARG_LEN;
use crate::transport::quote::quote;
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "cmd.run",
        doc: "Run a shell command; return its output, stderr merged in (cmd.run 'uptime' cwd=/tmp runas=www-data).",
        parse: |a| parse(a, "cmd.run", Mode::Run),
    },
    Spec {
        name: "cmd.shell",
        doc: "Same as cmd.run: run a shell command and return its merged output.",
        parse: |a| parse(a, "cmd.shell", Mode::Run),
    },
    Spec {
        name: "cmd.run_all",
        doc: "Run a shell command; return a dict of retcode, stdout and stderr.",
        parse: |a| parse(a, "cmd.run_all", Mode::RunAll),
    },
    Spec {
        name: "cmd.run_stdout",
        doc: "Run a shell command; return only its standard output.",
        parse: |a| parse(a, "cmd.run_stdout", Mode::RunStdout),
    },
    Spec {
        name: "cmd.run_stderr",
        doc: "Run a shell command; return only its standard error.",
        parse: |a| parse(a, "cmd.run_stderr", Mode::RunStderr),
    },
    Spec {
        name: "cmd.retcode",
        doc: "Run a shell command; return only its exit code (output is discarded).",
        parse: |a| parse(a, "cmd.retcode", Mode::Retcode),
    },
    Spec {
        name: "cmd.which",
        doc: "Return the full path of an executable found in PATH, or None.",
        parse: |a| parse_which(a, "cmd.which", false),
    },
    Spec {
        name: "cmd.has_exec",
        doc: "Return True when an executable is found in PATH (or at the given path).",
        parse: |a| parse_which(a, "cmd.has_exec", true),
    },
];

/// Which of Salt's return shapes a call produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// stdout with stderr merged in, as one string.
    Run,
    /// `{retcode, stdout, stderr}`.
    RunAll,
    RunStdout,
    RunStderr,
    /// The exit code as an integer.
    Retcode,
}

/// Keyword arguments every `cmd.run*` function accepts (Salt's names).
/// `python_shell` is accepted and ignored: commands always run through `sh`.
const KWARGS: &[&str] = &[
    "cmd",
    "cwd",
    "env",
    "stdin",
    "runas",
    "timeout",
    "umask",
    "rstrip",
    "prepend_path",
    "success_retcodes",
    "ignore_retcode",
    "python_shell",
];
const RUN_ALL_KWARGS: &[&str] = &[
    "cmd",
    "cwd",
    "env",
    "stdin",
    "runas",
    "timeout",
    "umask",
    "rstrip",
    "prepend_path",
    "success_retcodes",
    "ignore_retcode",
    "python_shell",
    "redirect_stderr",
];

#[derive(Debug)]
struct Cmd {
    mode: Mode,
    cmd: String,
    cwd: Option<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    runas: Option<String>,
    timeout: Option<Duration>,
    umask: Option<String>,
    rstrip: bool,
    prepend_path: Option<String>,
    success_retcodes: Vec<i32>,
    ignore_retcode: bool,
    /// Merge stderr into stdout on the host, so the two interleave in order.
    merge_stderr: bool,
}

fn invalid(function: &'static str, message: impl Into<String>) -> ArgError {
    ArgError::Invalid {
        function,
        message: message.into(),
    }
}

fn parse(args: &Args, f: &'static str, mode: Mode) -> Result<Box<dyn Function>, ArgError> {
    args.check(
        f,
        if mode == Mode::RunAll {
            RUN_ALL_KWARGS
        } else {
            KWARGS
        },
        1,
    )?;
    let cmd = command_arg(args, f)?;
    if cmd.trim().is_empty() {
        return Err(invalid(f, "`cmd` is empty"));
    }
    let cwd = args.string(f, usize::MAX, "cwd")?;
    if let Some(d) = &cwd {
        if !d.starts_with('/') {
            return Err(invalid(
                f,
                format!("`cwd` must be an absolute path, got `{d}`"),
            ));
        }
    }
    let runas = args.string(f, usize::MAX, "runas")?;
    if let Some(u) = &runas {
        if u.is_empty()
            || u.starts_with('-')
            || u.contains(|c: char| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                f,
                format!("`runas` is not a valid user name: `{u}`"),
            ));
        }
    }
    let umask = args.string(f, usize::MAX, "umask")?;
    if let Some(m) = &umask {
        if m.is_empty() || m.len() > 4 || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(invalid(
                f,
                format!("`umask` must be octal digits like 022, got `{m}`"),
            ));
        }
    }
    args.flag(f, "python_shell", true)?;
    let c = Cmd {
        mode,
        cmd,
        cwd,
        env: parse_env(args, f)?,
        stdin: args.string(f, usize::MAX, "stdin")?,
        runas,
        timeout: args.seconds(f, "timeout")?,
        umask,
        rstrip: args.flag(f, "rstrip", true)?,
        prepend_path: args.string(f, usize::MAX, "prepend_path")?,
        success_retcodes: parse_retcodes(args, f)?,
        ignore_retcode: args.flag(f, "ignore_retcode", false)?,
        merge_stderr: mode == Mode::Run || args.flag(f, "redirect_stderr", false)?,
    };
    c.check_length(f)?;
    Ok(Box::new(c))
}

/// The command text, as typed (`Args::string` keeps `true` as `true`).
fn command_arg(args: &Args, f: &'static str) -> Result<String, ArgError> {
    args.required(f, 0, "cmd")
}

/// `env` as a dict, or Salt's alternative list of one-key dicts. Names must
/// be shell identifiers: they are the one part of `export NAME=value` that
/// cannot be quoted.
fn parse_env(args: &Args, f: &'static str) -> Result<Vec<(String, String)>, ArgError> {
    let mut pairs: Vec<(String, &Value)> = Vec::new();
    match args.kwargs.get("env") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => pairs.extend(m.iter().map(|(k, v)| (k.clone(), v))),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(m) => pairs.extend(m.iter().map(|(k, v)| (k.clone(), v))),
                    _ => return Err(invalid(f, "`env` must be a dict like env='{LANG: C}'")),
                }
            }
        }
        Some(_) => return Err(invalid(f, "`env` must be a dict like env='{LANG: C}'")),
    }
    pairs
        .into_iter()
        .map(|(k, v)| {
            let ident = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(invalid(
                    f,
                    format!("`env` name `{k}` is not a valid variable name"),
                ));
            }
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid(f, format!("`env` value of `{k}` must be a string"))),
            };
            Ok((k, v))
        })
        .collect()
}

fn parse_retcodes(args: &Args, f: &'static str) -> Result<Vec<i32>, ArgError> {
    if let Some(Value::Number(n)) = args.kwargs.get("success_retcodes") {
        return n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(|n| vec![n])
            .ok_or_else(|| invalid(f, "`success_retcodes` must be integers"));
    }
    args.list(f, usize::MAX, "success_retcodes")?
        .iter()
        .map(|s| {
            s.parse::<i32>()
                .map_err(|_| invalid(f, format!("`success_retcodes` must be integers, got `{s}`")))
        })
        .collect()
}

impl Cmd {
    /// The host's `sh -c` gets the command as one argument (with `runas`,
    /// the set-up around it too), and Linux refuses a longer one.
    fn check_length(&self, f: &'static str) -> Result<(), ArgError> {
        let (len, what) = match self.runas {
            Some(_) => (self.inner_script().len(), " with the runas set-up"),
            None => (self.cmd.len(), ""),
        };
        if len > MAX_ARG_LEN {
            return Err(invalid(
                f,
                format!("command too long ({len} bytes{what}, limit {MAX_ARG_LEN})"),
            ));
        }
        Ok(())
    }

    /// The part that runs as the target user: set-up, then the command.
    fn inner_script(&self) -> String {
        let mut s = String::new();
        if let Some(m) = &self.umask {
            s.push_str(&format!("umask {} || exit 1\n", quote(m)));
        }
        match &self.cwd {
            Some(d) => s.push_str(&format!(
                "cd -- {q} 2>/dev/null || {{ printf 'cwd %s does not exist or is not accessible\\n' {q} >&2; exit 1; }}\n",
                q = quote(d)
            )),
            // Like Salt, a command run as another user starts in that user's home.
            None if self.runas.is_some() => s.push_str("cd 2>/dev/null\n"),
            None => {}
        }
        if let Some(p) = &self.prepend_path {
            s.push_str(&format!("PATH={}:\"$PATH\"\nexport PATH\n", quote(p)));
        }
        for (k, v) in &self.env {
            s.push_str(&format!("{k}={}\nexport {k}\n", quote(v)));
        }
        let redirect = if self.mode == Mode::Retcode {
            " >/dev/null 2>&1"
        } else {
            ""
        };
        s.push_str(&format!("exec sh -c {}{redirect}\n", quote(&self.cmd)));
        s
    }

    fn script(&self) -> String {
        let mut s = String::new();
        if self.merge_stderr {
            s.push_str("exec 2>&1\n");
        }
        let inner = self.inner_script();
        match &self.runas {
            None => s.push_str(&inner),
            Some(user) => {
                let (u, i) = (quote(user), quote(&inner));
                // root switches user without a password (runuser where
                // util-linux has it, su elsewhere, e.g. busybox); anyone else
                // needs passwordless sudo.
                s.push_str(&format!(
                    "if [ \"$(id -un 2>/dev/null)\" = {u} ]; then\n\
                     \texec sh -c {i}\n\
                     elif [ \"$(id -u 2>/dev/null)\" = 0 ]; then\n\
                     \tif command -v runuser >/dev/null 2>&1; then\n\
                     \t\texec runuser -u {u} -- sh -c {i}\n\
                     \tfi\n\
                     \texec su -s /bin/sh -c {i} {u}\n\
                     else\n\
                     \texec sudo -n -H -u {u} -- sh -c {i}\n\
                     fi\n"
                ));
            }
        }
        s
    }

    fn succeeded(&self, code: i32) -> bool {
        code == 0 || self.ignore_retcode || self.success_retcodes.contains(&code)
    }

    /// The exit code Salt reports: codes listed in `success_retcodes` read as 0.
    fn reported_code(&self, code: i32) -> i32 {
        if self.success_retcodes.contains(&code) {
            0
        } else {
            code
        }
    }

    fn clean(&self, s: &str) -> String {
        if self.rstrip {
            s.trim_end().to_string()
        } else {
            s.to_string()
        }
    }
}

impl Function for Cmd {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command {
            script: self.script(),
            stdin: self.stdin.as_ref().map(|s| s.as_bytes().to_vec()),
            timeout: self.timeout,
        })
    }

    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let Some(out) = out else {
            return Outcome::fail(json!("the command did not run"), None);
        };
        let ret = match self.mode {
            Mode::Run => {
                // stderr is merged on the host; what is left here came from
                // outside the command (e.g. sudo), and Salt would show it too.
                let mut text = out.stdout.clone();
                if !out.stderr.is_empty() {
                    if !text.is_empty() && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&out.stderr);
                }
                json!(self.clean(&text))
            }
            Mode::RunStdout => json!(self.clean(&out.stdout)),
            Mode::RunStderr => json!(self.clean(&out.stderr)),
            Mode::RunAll => json!({
                "retcode": out.exit_code.map(|c| self.reported_code(c)),
                "stdout": self.clean(&out.stdout),
                "stderr": self.clean(&out.stderr),
            }),
            Mode::Retcode => match out.exit_code {
                Some(c) => json!(self.reported_code(c)),
                None => json!("the command was killed by a signal"),
            },
        };
        Outcome {
            success: out.exit_code.is_some_and(|c| self.succeeded(c)),
            ret,
            retcode: out.exit_code,
        }
    }
}

fn parse_which(args: &Args, f: &'static str, as_bool: bool) -> Result<Box<dyn Function>, ArgError> {
    args.check(f, &["cmd"], 1)?;
    let name = command_arg(args, f)?;
    if name.is_empty() || name.contains('\n') {
        return Err(invalid(f, "`cmd` must be an executable name"));
    }
    Ok(Box::new(Which { name, as_bool }))
}

/// `cmd.which` / `cmd.has_exec`: a PATH walk in the host's shell, like
/// Salt's `salt.utils.path.which` (executables only, no builtins or aliases).
#[derive(Debug)]
struct Which {
    name: String,
    as_bool: bool,
}

impl Function for Which {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(format!(
            "set -f\n\
             h_n={}\n\
             case $h_n in\n\
             */*) [ -f \"$h_n\" ] && [ -x \"$h_n\" ] && printf '%s\\n' \"$h_n\"; exit 0 ;;\n\
             esac\n\
             IFS=:\n\
             for h_d in $PATH; do\n\
             \t[ -n \"$h_d\" ] || h_d=.\n\
             \tif [ -f \"$h_d/$h_n\" ] && [ -x \"$h_d/$h_n\" ]; then\n\
             \t\tprintf '%s\\n' \"$h_d/$h_n\"\n\
             \t\texit 0\n\
             \tfi\n\
             done\n\
             exit 0\n",
            quote(&self.name)
        )))
    }

    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let Some(out) = out.filter(|o| o.success()) else {
            let err = out.map(|o| o.stderr.trim().to_string()).unwrap_or_default();
            return Outcome::fail(json!(err), out.and_then(|o| o.exit_code));
        };
        let path = out
            .stdout
            .lines()
            .next()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        Outcome::ok(match (self.as_bool, path) {
            (true, p) => json!(p.is_some()),
            (false, Some(p)) => json!(p),
            (false, None) => Value::Null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn call(name: &str, words: &[&str]) -> Result<Box<dyn Function>, ArgError> {
        parse_call(name, &Args::from_words(words))
    }

    fn ctx() -> HostCtx<'static> {
        HostCtx {
            id: "h",
            grains: &Value::Null,
        }
    }

    fn exec(f: &dyn Function) -> ExecOutput {
        let cmd = f.command(&ctx()).unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd.script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            if let Some(data) = &cmd.stdin {
                stdin.write_all(data).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        ExecOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            exit_code: out.status.code(),
        }
    }

    fn run(name: &str, words: &[&str]) -> Outcome {
        let f = call(name, words).unwrap();
        let out = exec(f.as_ref());
        f.interpret(&ctx(), Some(&out))
    }

    fn out(stdout: &str, stderr: &str, code: i32) -> ExecOutput {
        ExecOutput {
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit_code: Some(code),
        }
    }

    #[test]
    fn arguments_are_checked_before_connecting() {
        assert!(matches!(
            call("cmd.run", &["ls", "bogus=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call("cmd.run", &[]).is_err());
        assert!(
            call("cmd.run", &["ls", "/tmp"]).is_err(),
            "one positional only"
        );
        assert!(call("cmd.run", &["ls", "cwd=relative"]).is_err());
        assert!(call("cmd.run", &["ls", "env={'BAD NAME': x}"]).is_err());
        assert!(call("cmd.run", &["ls", "env=notadict"]).is_err());
        assert!(call("cmd.run", &["ls", "runas=-root"]).is_err());
        assert!(call("cmd.run", &["ls", "umask=999"]).is_err());
        assert!(call("cmd.run", &["ls", "timeout=-1"]).is_err());
        assert!(call("cmd.run", &["ls", "success_retcodes=[1, x]"]).is_err());
        assert!(call("cmd.run", &["ls", "redirect_stderr=True"]).is_err());
        assert!(call("cmd.run_all", &["ls", "redirect_stderr=True"]).is_ok());
        assert!(call("cmd.which", &["ls", "cwd=/"]).is_err());
        assert!(call(
            "cmd.run",
            &[
                "ls",
                "cwd=/tmp",
                "env={A: 1, B: x}",
                "runas=nobody",
                "timeout=5",
                "umask=077",
                "stdin=hi",
                "python_shell=True",
                "rstrip=False",
                "prepend_path=/opt/bin",
                "success_retcodes=[2]",
                "ignore_retcode=True"
            ]
        )
        .is_ok());
    }

    #[test]
    fn timeout_and_stdin_reach_the_command() {
        let f = call("cmd.run", &["cat", "timeout=2.5", "stdin=hello"]).unwrap();
        let c = f.command(&ctx()).unwrap();
        assert_eq!(c.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.stdin.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn scripts_are_valid_sh() {
        for words in [
            &["echo hi"][..],
            &[
                "echo 'unbalanced",
                "cwd=/tmp/it's here",
                "env={X: \"a'b$(c)\"}",
                "umask=022",
            ],
            &["id", "runas=nobody", "prepend_path=/o p/bin"],
        ] {
            for name in ["cmd.run", "cmd.run_all", "cmd.retcode"] {
                let f = call(name, words).unwrap();
                let script = f.command(&ctx()).unwrap().script;
                let st = std::process::Command::new("sh")
                    .args(["-n", "-c", &script])
                    .status()
                    .unwrap();
                assert!(st.success(), "{script}");
            }
        }
        let f = call("cmd.which", &["it's"]).unwrap();
        let script = f.command(&ctx()).unwrap().script;
        assert!(std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .status()
            .unwrap()
            .success());
    }

    #[test]
    fn run_merges_stderr_and_strips_the_end() {
        let o = run("cmd.run", &["echo out; echo err >&2; echo more"]);
        assert_eq!(o, Outcome::ok(json!("out\nerr\nmore")));
        let o = run("cmd.run", &["printf 'x  \\n\\n'", "rstrip=False"]);
        assert_eq!(o.ret, json!("x  \n\n"));
    }

    #[test]
    fn run_reports_failure_with_output_and_code() {
        let o = run("cmd.run", &["echo oops >&2; exit 3"]);
        assert_eq!(o, Outcome::fail(json!("oops"), Some(3)));
        let o = run("cmd.run", &["exit 3", "success_retcodes=[3]"]);
        assert!(o.success);
        let o = run("cmd.run", &["exit 4", "ignore_retcode=True"]);
        assert!(o.success);
    }

    #[test]
    fn hostile_values_stay_data() {
        let dir = tempfile::tempdir().unwrap();
        let weird = dir.path().join("it's $(touch pwned) `x`");
        std::fs::create_dir(&weird).unwrap();
        let cwd = format!("cwd={}", weird.display());
        let o = run(
            "cmd.run",
            &["pwd; printf %s \"$V\"", &cwd, "env={V: \"a'b;$(id)\"}"],
        );
        assert_eq!(o.ret, json!(format!("{}\na'b;$(id)", weird.display())));
        assert!(!dir.path().join("pwned").exists());
        assert!(!std::path::Path::new("pwned").exists());
    }

    #[test]
    fn missing_cwd_is_a_clear_failure() {
        let o = run("cmd.run", &["true", "cwd=/nonexistent/dir"]);
        assert!(!o.success);
        assert_eq!(
            o.ret,
            json!("cwd /nonexistent/dir does not exist or is not accessible")
        );
    }

    #[test]
    fn an_unbalanced_command_does_not_break_the_wrapper() {
        let o = run("cmd.run", &["echo 'oops"]);
        assert!(!o.success);
        let o = run("cmd.run", &["exit 0; echo never", "umask=077"]);
        assert_eq!(o, Outcome::ok(json!("")));
        let o = run("cmd.run", &["umask", "umask=027"]);
        assert_eq!(o.ret, json!("0027"));
        let o = run("cmd.run", &["echo $PATH", "prepend_path=/opt/x"]);
        assert!(o.ret.as_str().unwrap().starts_with("/opt/x:"));
    }

    #[test]
    fn run_all_keeps_streams_apart() {
        let o = run("cmd.run_all", &["echo out; echo err >&2; exit 2"]);
        assert_eq!(
            o.ret,
            json!({"retcode": 2, "stdout": "out", "stderr": "err"})
        );
        assert!(!o.success);
        assert_eq!(o.retcode, Some(2));
        let o = run(
            "cmd.run_all",
            &["echo out; echo err >&2", "redirect_stderr=True"],
        );
        assert_eq!(
            o.ret,
            json!({"retcode": 0, "stdout": "out\nerr", "stderr": ""})
        );
        let f = call("cmd.run_all", &["x", "success_retcodes=1"]).unwrap();
        let o = f.interpret(&ctx(), Some(&out("", "", 1)));
        assert_eq!(o.ret["retcode"], 0);
        assert!(o.success);
    }

    #[test]
    fn stdout_stderr_and_retcode_shapes() {
        assert_eq!(
            run("cmd.run_stdout", &["echo a; echo b >&2"]).ret,
            json!("a")
        );
        assert_eq!(
            run("cmd.run_stderr", &["echo a; echo b >&2"]).ret,
            json!("b")
        );
        let o = run("cmd.retcode", &["echo noisy; exit 5"]);
        assert_eq!(o, Outcome::fail(json!(5), Some(5)));
        assert_eq!(run("cmd.retcode", &["true"]), Outcome::ok(json!(0)));
        assert_eq!(
            run("cmd.run", &["cat", "stdin=fed in"]).ret,
            json!("fed in")
        );
    }

    #[test]
    fn killed_commands_fail() {
        let f = call("cmd.retcode", &["x"]).unwrap();
        let killed = ExecOutput {
            exit_code: None,
            ..Default::default()
        };
        assert!(!f.interpret(&ctx(), Some(&killed)).success);
        assert!(!f.interpret(&ctx(), None).success);
    }

    #[test]
    fn runas_switches_user_when_root() {
        let me = run("cmd.run", &["id -un"]).ret;
        // As the current user no switch is needed at all.
        let o = run(
            "cmd.run",
            &["id -un", &format!("runas={}", me.as_str().unwrap())],
        );
        assert_eq!(o.ret, me);
        if me == "root" && std::path::Path::new("/usr/sbin/runuser").exists() {
            let o = run(
                "cmd.run",
                &["id -un; pwd; echo $X", "runas=nobody", "env={X: y}"],
            );
            assert!(o.success, "{o:?}");
            let ret = o.ret.as_str().unwrap().to_string();
            assert!(ret.starts_with("nobody\n"), "{ret}");
            assert!(ret.ends_with("\ny"), "{ret}");
        }
    }

    #[test]
    fn which_and_has_exec() {
        assert_eq!(
            run("cmd.which", &["sh"])
                .ret
                .as_str()
                .map(|p| p.ends_with("/sh")),
            Some(true)
        );
        assert_eq!(
            run("cmd.which", &["no-such-tool-here"]),
            Outcome::ok(Value::Null)
        );
        assert_eq!(run("cmd.has_exec", &["sh"]), Outcome::ok(json!(true)));
        assert_eq!(run("cmd.has_exec", &["/bin/sh"]), Outcome::ok(json!(true)));
        assert_eq!(
            run("cmd.has_exec", &["no-such-tool-here"]),
            Outcome::ok(json!(false))
        );
    }
}
