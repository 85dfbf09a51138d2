//! How a script is started on a host, and how it is ended when given up on.
//!
//! Every command runs under a small `sh` wrapper that first reports the
//! process group it runs in (`halite-pgid=N`, one line on stderr, which the
//! transport strips). sshd starts each session in a group of its own, and the
//! local connection starts each child as a group leader, so that group is the
//! command and everything it started. Closing an SSH channel does not end a
//! command without a terminal, and the `signal` channel request runs as the
//! login user (never reaching a `sudo` command), so a command given up on
//! (time limit, Ctrl-C) is ended by one more execution on the same
//! connection: `kill -TERM -N`, then `kill -KILL -N` after a grace period.
//!
//! A script is one argument of `sh -c`, and Linux refuses a single argument
//! longer than [`MAX_ARG_LEN`] (sshd then drops the connection instead of
//! answering). A script that would not fit is sent on standard input instead,
//! which has no such limit; when the command needs its standard input for
//! data, it is refused as [`TransportError::CommandTooLong`] before sending.

use std::time::Duration;

use zeroize::Zeroize;

use super::{quote::quote, sudo::SudoPassword, TransportError};

/// The longest single argument Linux passes to a program (MAX_ARG_STRLEN,
/// 32 pages of 4 KiB, less the terminating NUL). It is also well below
/// OpenSSH's 256 KiB packet limit.
pub const MAX_ARG_LEN: usize = 128 * 1024 - 1;

/// How long a command ended with SIGTERM has to exit before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// Starts the tag line the wrapper prints on stderr.
const TAG: &str = "halite-pgid=";

/// Reports the wrapper's process group (from /proc on Linux, `ps` elsewhere).
const REPORT: &str = "read -r _ _ _ _ g _ 2>/dev/null </proc/$$/stat || g=$(ps -o pgid= -p $$); \
                      printf 'halite-pgid=%s\\n' $g >&2; unset g; ";

/// How a command gains privileges: `sudo`, as root or as `user`, with a
/// password on stdin when there is one ([`super::sudo`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sudo<'a> {
    /// `sudo -u USER`; `None`: root.
    pub user: Option<&'a str>,
    /// `sudo -S`: the password goes first on stdin; `None`: `sudo -n`.
    pub password: Option<&'a SudoPassword>,
}

/// A command ready to send: its command line and what goes on its stdin.
/// Its own copy of stdin (which may hold a sudo password) is wiped when
/// dropped.
#[derive(Debug)]
pub struct Launch<'a> {
    pub line: String,
    pub stdin: Option<std::borrow::Cow<'a, [u8]>>,
}

impl Drop for Launch<'_> {
    fn drop(&mut self) {
        if let Some(std::borrow::Cow::Owned(v)) = &mut self.stdin {
            v.zeroize();
        }
    }
}

impl<'a> Launch<'a> {
    /// The command line for `script` (through sudo when `sudo` says), with
    /// `stdin` for its standard input. A script too long for one argument
    /// travels on stdin when the command has none of its own.
    pub fn new(
        script: &str,
        stdin: Option<&'a [u8]>,
        sudo: Option<Sudo>,
    ) -> Result<Launch<'a>, TransportError> {
        let password = sudo.and_then(|s| s.password);
        let discard = password.map(|p| p.discard()).unwrap_or_default();
        let line = command_line(
            &format!("{discard}{REPORT}exec sh -c \"$1\""),
            Some(script),
            sudo,
        );
        if line.len() <= MAX_ARG_LEN {
            return Ok(Launch {
                line,
                stdin: with_password(password, stdin),
            });
        }
        if stdin.is_some() {
            return Err(TransportError::CommandTooLong {
                len: line.len(),
                limit: MAX_ARG_LEN,
            });
        }
        // `$(...)` would drop the script's trailing newlines (a here-document
        // may end there): the `x` keeps them. `shift` leaves no arguments.
        let line = command_line(
            &format!("{discard}{REPORT}set -- \"$(cat; printf x)\"; eval \"shift; ${{1%x}}\""),
            None,
            sudo,
        );
        Ok(Launch {
            line,
            stdin: with_password(password, Some(script.as_bytes())).map(|s| s.into_owned().into()),
        })
    }
}

/// `stdin`, after `PASSWORD\nMARKER\n` when there is a password.
fn with_password<'a>(
    password: Option<&SudoPassword>,
    stdin: Option<&'a [u8]>,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    let Some(p) = password else {
        return stdin.map(Into::into);
    };
    let prefix = p.stdin_prefix();
    let mut all = Vec::with_capacity(prefix.len() + stdin.map_or(0, <[u8]>::len));
    all.extend_from_slice(&prefix);
    all.extend_from_slice(stdin.unwrap_or_default());
    Some(all.into())
}

/// `sh -c WRAPPER sh [SCRIPT]`, under `sudo -n [-u USER] --` when asked
/// (`sudo -S -p ''` with a password: no prompt, the password on stdin).
fn command_line(wrapper: &str, script: Option<&str>, sudo: Option<Sudo>) -> String {
    let mut line = String::new();
    if let Some(sudo) = sudo {
        line.push_str(match sudo.password {
            Some(_) => "sudo -S -p '' ",
            None => "sudo -n ",
        });
        if let Some(user) = sudo.user {
            line.push_str("-u ");
            line.push_str(&quote(user));
            line.push(' ');
        }
        line.push_str("-- ");
    }
    line.push_str("sh -c ");
    line.push_str(&quote(wrapper));
    line.push_str(" sh");
    if let Some(s) = script {
        line.push(' ');
        line.push_str(&quote(s));
    }
    line
}

/// Whether the wrapper started (its tag line is in `stderr`): sudo, when
/// it refuses, never starts it.
pub fn wrapper_ran(stderr: &str) -> bool {
    stderr.starts_with(TAG) || stderr.contains(&format!("\n{TAG}"))
}

/// Remove the wrapper's tag line from `stderr`, returning the process group
/// it names. Only sudo or a login shell can write before the wrapper, so the
/// first tag line is the wrapper's.
pub fn take_pgid(stderr: &mut String) -> Option<u32> {
    let start = if stderr.starts_with(TAG) {
        0
    } else {
        stderr.find(&format!("\n{TAG}"))? + 1
    };
    let end = stderr[start..]
        .find('\n')
        .map_or(stderr.len(), |n| start + n + 1);
    let pgid = stderr[start + TAG.len()..end].trim_end().parse().ok();
    stderr.replace_range(start..end, "");
    pgid.filter(|&g: &u32| g > 1)
}

/// The process group named by the tag line in `stderr`, if it got that far.
pub fn pgid(stderr: &str) -> Option<u32> {
    take_pgid(&mut stderr.to_string())
}

/// Ends process group `pgid`: SIGTERM, then SIGKILL to whatever is left
/// after [`GRACE`]. Exits 0 once the group is gone.
pub fn kill_script(pgid: u32) -> String {
    // A member counts until it has exited: a zombie whose parent died waits
    // for init to reap it, which some container inits do only now and then.
    // Without /proc, `kill -0` (true while any member, zombie or not, is left).
    // dash's kill takes no `--`, and a negative number is a group.
    let steps = GRACE.as_millis() / 100;
    format!(
        "g={g}\n\
         alive() {{\n\
         \t[ -r /proc/self/stat ] || {{ kill -0 -$g 2>/dev/null; return; }}\n\
         \tfor s in /proc/[0-9]*/stat; do\n\
         \t\tread -r _ _ st _ pg _ 2>/dev/null <\"$s\" || continue\n\
         \t\t[ \"$pg\" = \"$g\" ] && [ \"$st\" != Z ] && return 0\n\
         \tdone\n\
         \treturn 1\n\
         }}\n\
         kill -TERM -$g 2>/dev/null || exit 0\n\
         i=0\n\
         while alive; do\n\
         \tif [ $i -ge {steps} ]; then kill -KILL -$g 2>/dev/null; exit 0; fi\n\
         \tif sleep 0.1 2>/dev/null; then i=$((i + 1)); else sleep 1; i=$((i + 10)); fi\n\
         done\n",
        g = quote(&pgid.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Run a launch through a real local `sh`, as sshd would run its line.
    fn run(l: &Launch) -> (String, String, i32) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&l.line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(data) = &l.stdin {
            pipe.write_all(data).unwrap();
        }
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
            out.status.code().unwrap(),
        )
    }

    #[test]
    fn the_wrapper_reports_its_group_then_runs_the_script_unchanged() {
        let script = "echo \"$0:$#\"; echo 'it''s' >&2; exit 3";
        let l = Launch::new(script, None, None).unwrap();
        assert!(l.stdin.is_none());
        let (out, mut err, code) = run(&l);
        assert_eq!((out.as_str(), code), ("sh:0\n", 3));
        assert!(take_pgid(&mut err).is_some(), "{err}");
        assert_eq!(err, "its\n");
    }

    #[test]
    fn a_script_too_long_for_one_argument_goes_on_stdin() {
        // 40,000 quotes: four times as long once quoted.
        let script = format!(
            "printf %s \"$#\" {}; cat <<'EOF'\nend\n\nEOF\n\n",
            quote(&"'".repeat(40_000))
        );
        let l = Launch::new(&script, None, None).unwrap();
        assert!(l.line.len() < 200, "{}", l.line);
        let (out, mut err, code) = run(&l);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, format!("0{}end\n\n", "'".repeat(40_000)));
        take_pgid(&mut err);
        assert_eq!(err, "");
    }

    #[test]
    fn sudo_runs_as_root_or_as_the_user_named() {
        let root = Launch::new("id", None, Some(Sudo::default())).unwrap();
        assert!(root.line.starts_with("sudo -n -- sh -c "), "{}", root.line);
        let sudo = Sudo {
            user: Some("app user"),
            password: None,
        };
        let app = Launch::new("id", None, Some(sudo)).unwrap();
        assert!(
            app.line.starts_with("sudo -n -u 'app user' -- sh -c "),
            "{}",
            app.line
        );
    }

    /// With a password: `sudo -S -p ''`, the password only on stdin, before
    /// the marker and the command's own input; the wrapper (here run without
    /// sudo, as when sudo needs no password) hands the command its input
    /// only, for short scripts and for long ones sent on stdin.
    #[test]
    fn a_sudo_password_goes_on_stdin_only() {
        let pw = SudoPassword::new(b"s3cret pw".to_vec()).unwrap();
        let sudo = Sudo {
            user: None,
            password: Some(&pw),
        };
        let l = Launch::new("cat", Some(b"own input\n"), Some(sudo)).unwrap();
        assert!(l.line.starts_with("sudo -S -p '' -- sh -c "), "{}", l.line);
        assert!(!l.line.contains("s3cret"), "{}", l.line);
        assert!(l
            .stdin
            .as_deref()
            .unwrap()
            .starts_with(b"s3cret pw\nhalite-sudo-"));
        fn unsudo<'a>(l: &Launch<'a>) -> Launch<'a> {
            Launch {
                line: l.line.replacen("sudo -S -p '' -- ", "", 1),
                stdin: l.stdin.clone(),
            }
        }
        let (out, _, code) = run(&unsudo(&l));
        assert_eq!((out.as_str(), code), ("own input\n", 0));
        let long = format!("printf %s {}", quote(&"y".repeat(MAX_ARG_LEN)));
        let l = Launch::new(&long, None, Some(sudo)).unwrap();
        assert!(l.line.len() < 400, "{}", l.line);
        let (out, _, code) = run(&unsudo(&l));
        assert_eq!((out.len(), code), (MAX_ARG_LEN, 0));
    }

    #[test]
    fn a_long_script_with_its_own_stdin_is_refused() {
        let script = "x".repeat(MAX_ARG_LEN);
        let err = Launch::new(&script, Some(b"data"), None).unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("command too long ("), "{err}");
        assert!(err.contains(&format!("limit {MAX_ARG_LEN})")), "{err}");
    }

    /// The kill script under each shell at hand, against a group whose
    /// members exit on SIGTERM, and (under `sh`) one that ignores it.
    #[test]
    fn the_kill_script_ends_a_whole_group() {
        use std::os::unix::process::CommandExt;
        use std::time::{Duration, Instant};
        let shells: &[&[&str]] = &[&["sh"], &["dash"], &["busybox", "sh"]];
        for (n, shell) in shells.iter().enumerate() {
            // tests/all.sh installs dash and busybox.
            if !crate::testing::shell_at_hand(shell) {
                continue;
            }
            let stubborn = n == 0;
            let body = if stubborn {
                "sleep 1000 & trap '' TERM; sleep 1000 & wait"
            } else {
                "sleep 1000 & sleep 1000 & wait"
            };
            let mut group = Command::new("sh")
                .args(["-c", body])
                .process_group(0)
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let started = Instant::now();
            let out = Command::new(shell[0])
                .args(&shell[1..])
                .arg("-c")
                .arg(kill_script(group.id()))
                .output()
                .unwrap();
            assert!(out.status.success(), "{shell:?}: {out:?}");
            assert_eq!(started.elapsed() >= GRACE, stubborn, "{shell:?}");
            group.wait().unwrap();
            let gone = (0..20).any(|_| {
                std::thread::sleep(Duration::from_millis(50));
                living_members(group.id()) == 0
            });
            assert!(gone, "{shell:?}");
        }
    }

    /// Members of process group `pgid` that have not exited (zombies left
    /// for a slow init to reap do not count).
    fn living_members(pgid: u32) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid pgrp ...: comm may hold spaces.
                let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
                let fields: Vec<&str> = rest.split(' ').collect();
                fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z"
            })
            .count()
    }

    #[test]
    fn only_the_first_tag_line_is_taken() {
        let mut err = "sudo: unable to resolve host x\nhalite-pgid=42\nhalite-pgid=7\n".to_string();
        assert_eq!(take_pgid(&mut err), Some(42));
        assert_eq!(err, "sudo: unable to resolve host x\nhalite-pgid=7\n");
        let mut err = "halite-pgid=1\n".to_string();
        assert_eq!(take_pgid(&mut err), None, "never init's group");
        assert_eq!(pgid("no tag\n"), None);
    }
}
