//! sudo with a password: the password travels only on the command's
//! standard input (`sudo -S -p ''`), never in a command line, a log, a job
//! record or an error.
//!
//! sudo reads the password from stdin one byte at a time, up to a newline,
//! and leaves the rest for the command. But when sudo needs no password
//! (NOPASSWD, a cached ticket, a login that is already root) it reads
//! nothing, and the password line would reach the command. So stdin is
//! `PASSWORD\n`, two filler lines, `MARKER\n`, then the command's own
//! input, and the
//! wrapper running under sudo first discards lines up to and including
//! MARKER with `read` (a POSIX shell's `read` takes a pipe byte by byte, so
//! the command's input after it stays whole). Whether sudo took the
//! password line or not, the command sees exactly its own input. MARKER is
//! random per run and not secret; it is in the command line.
//!
//! A wrong password: sudo takes the following lines as more attempts and
//! gives up at its `passwd_tries` (3 by default: the two filler lines are
//! attempts 2 and 3, so the command's input is never tried as a password):
//! the command never starts, and [`refused`] tells the transport so, which
//! fails the host with "sudo refused the password".

use zeroize::{Zeroize, Zeroizing};

use super::quote::quote;

/// A sudo password, held for the run. It has no `Display`, its `Debug`
/// withholds it, and its memory is wiped when dropped.
pub struct SudoPassword {
    secret: Zeroizing<Vec<u8>>,
    marker: String,
}

impl std::fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SudoPassword(withheld)")
    }
}

/// Why a password cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the sudo password is empty")]
    Empty,
    #[error("the sudo password holds a line break or NUL byte (sudo reads one line)")]
    Multiline,
    #[error("cannot make a random marker: {0}")]
    Random(std::io::Error),
}

impl SudoPassword {
    /// Take `secret` (one trailing newline, as a file written by `echo`
    /// ends, is dropped); `secret` is wiped either way.
    pub fn new(mut secret: Vec<u8>) -> Result<SudoPassword, PasswordError> {
        let trimmed = secret
            .strip_suffix(b"\n")
            .map(|s| s.strip_suffix(b"\r").unwrap_or(s))
            .unwrap_or(&secret)
            .len();
        let result = if trimmed == 0 {
            Err(PasswordError::Empty)
        } else if secret[..trimmed]
            .iter()
            .any(|&b| matches!(b, b'\n' | b'\r' | 0))
        {
            Err(PasswordError::Multiline)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            secret.zeroize();
            return Err(e);
        }
        let marker = match random_marker() {
            Ok(m) => m,
            Err(e) => {
                secret.zeroize();
                return Err(PasswordError::Random(e));
            }
        };
        let mut kept = Zeroizing::new(Vec::with_capacity(trimmed));
        kept.extend_from_slice(&secret[..trimmed]);
        secret.zeroize();
        Ok(SudoPassword {
            secret: kept,
            marker,
        })
    }

    /// What goes on stdin before the command's own input:
    /// `PASSWORD\nMARKER-1\nMARKER-2\nMARKER\n`. The two lines before the
    /// marker are what a refusing sudo takes as its second and third
    /// attempts (sudo's default `passwd_tries`), so it gives up before it
    /// reaches the command's own input.
    pub(crate) fn stdin_prefix(&self) -> Zeroizing<Vec<u8>> {
        let m = &self.marker;
        let lines = format!("{m}-1\n{m}-2\n{m}\n");
        let mut v = Zeroizing::new(Vec::with_capacity(self.secret.len() + 1 + lines.len()));
        v.extend_from_slice(&self.secret);
        v.push(b'\n');
        v.extend_from_slice(lines.as_bytes());
        v
    }

    /// `sh` discarding stdin lines up to and including the marker line.
    pub(crate) fn discard(&self) -> String {
        format!(
            "while IFS= read -r _hl_m; do [ \"$_hl_m\" = {} ] && break; done; unset _hl_m; ",
            quote(&self.marker)
        )
    }
}

/// 128 random bits as hex, from the kernel.
fn random_marker() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!(
        "halite-sudo-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Whether sudo refused the password: the wrapper never started (`ran`
/// false), sudo exited 1 and said why on stderr.
pub(crate) fn refused(ran: bool, exit_code: Option<i32>, stderr: &str) -> bool {
    !ran && exit_code == Some(1)
        && (stderr.contains("incorrect password")
            || stderr.contains("Sorry, try again")
            || stderr.contains("no password was provided"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_withheld_and_checked() {
        let p = SudoPassword::new(b"hunter2\n".to_vec()).unwrap();
        assert_eq!(format!("{p:?}"), "SudoPassword(withheld)");
        let prefix = p.stdin_prefix();
        assert!(prefix.starts_with(b"hunter2\nhalite-sudo-"), "{prefix:?}");
        assert!(!p.discard().contains("hunter2"));
        let q = SudoPassword::new(b"hunter2".to_vec()).unwrap();
        assert_ne!(p.marker, q.marker, "random per run");
        assert!(matches!(
            SudoPassword::new(b"\n".to_vec()),
            Err(PasswordError::Empty)
        ));
        assert!(matches!(
            SudoPassword::new(b"a\nb\n".to_vec()),
            Err(PasswordError::Multiline)
        ));
    }

    /// The discard step under each shell at hand: what follows the marker
    /// reaches the command byte for byte, whether or not something (sudo)
    /// took the password line first.
    #[test]
    fn the_command_sees_only_its_own_stdin() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let p = SudoPassword::new(b"pw".to_vec()).unwrap();
        let own = b"line one\n  spaced \\ back\nno newline at end";
        let shells: &[&[&str]] = &[&["sh"], &["dash"], &["busybox", "sh"]];
        for shell in shells {
            // tests/all.sh installs dash and busybox.
            if !crate::testing::shell_at_hand(shell) {
                continue;
            }
            for sudo_took_the_password in [false, true] {
                // `head -c 3` stands for sudo reading "pw\n" itself.
                let take = if sudo_took_the_password {
                    "head -c 3 >/dev/null; "
                } else {
                    ""
                };
                let script = format!("{take}{}exec cat", p.discard());
                let mut child = Command::new(shell[0])
                    .args(&shell[1..])
                    .arg("-c")
                    .arg(&script)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(&p.stdin_prefix()).unwrap();
                stdin.write_all(own).unwrap();
                drop(stdin);
                let out = child.wait_with_output().unwrap();
                assert_eq!(out.stdout, own, "{shell:?} took={sudo_took_the_password}");
            }
        }
    }

    #[test]
    fn a_refusal_is_told_from_a_failing_command() {
        assert!(refused(
            false,
            Some(1),
            "Sorry, try again.\nsudo: 3 incorrect password attempts\n"
        ));
        assert!(
            !refused(true, Some(1), "Sorry, try again.\n"),
            "the command ran"
        );
        assert!(!refused(false, Some(2), "Sorry, try again.\n"));
        assert!(!refused(
            false,
            Some(1),
            "alice is not in the sudoers file.\n"
        ));
    }
}
