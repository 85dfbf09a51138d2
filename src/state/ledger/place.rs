//! Where a host's drift ledger lives for the login a run uses, and the `sh`
//! that finds it and checks it can be read (gather) and written (apply).
//!
//! root (a login as root, or any login with `sudo`) keeps the host's ledger
//! in [`super::DIR`]. A login without root cannot read or write there, and
//! manages only what it may change itself, so it keeps a ledger of its own,
//! `$XDG_STATE_HOME/halite` (by default `~/.local/state/halite`), covering
//! what its runs manage. The scripts find the directory on the host, all in
//! the same way, so the controller needs no idea of who it logs in as.
//!
//! A ledger that is there but cannot be read fails the host: seeing nothing
//! would report "no drift" and record nothing. One that cannot be written
//! fails the host before any state is applied.

use std::fmt::Write as _;

use super::{LedgerError, DIR};

/// `sh` setting `$_hl` to the ledger directory of the login the script
/// runs as; empty when a login without root has no home to keep it in.
/// One `id` (POSIX's `uid=N(NAME) ...`, in the C locale) gives the uid and
/// the name ([`check`] prints it; the number where the uid has no name).
/// An absolute `HALITE_LEDGER_DIR` in the environment the script runs in
/// wins: for hosts whose /var/lib is read-only, and for the local
/// connection in tests, which must not write the controller's own ledger.
pub fn locate() -> String {
    format!(
        "_hid=$(LC_ALL=C id 2>/dev/null); _huid=${{_hid#uid=}}; _huid=${{_huid%%[!0-9]*}}\ncase $_hid in \"uid=$_huid(\"*) _hwho=${{_hid#*\\(}}; _hwho=${{_hwho%%\\)*}} ;; *) _hwho=$_huid ;; esac\ncase ${{HALITE_LEDGER_DIR-}} in /?*) _hl=${{HALITE_LEDGER_DIR%/}} ;; *)\nif [ \"$_huid\" = 0 ]; then _hl={DIR}\nelse case ${{XDG_STATE_HOME-}} in\n/*) _hl=${{XDG_STATE_HOME%/}}/halite ;;\n*) case ${{HOME-}} in /?*) _hl=${{HOME%/}}/.local/state/halite ;; *) _hl= ;; esac ;;\nesac; fi ;;\nesac\n"
    )
}

/// `sh` for the gather, after [`locate`]: prints `MARKER ledger as USER
/// DIR`, and sets `$_hx` to why the ledger cannot be read (`nohome`,
/// `denied`), empty when it can (or is not there: nothing managed yet).
/// A directory that cannot be searched hides whether the ledger exists,
/// so it counts as unreadable too (its parent's, one level up, as well).
pub fn check(marker: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "printf '%s ledger as %s %s\\n' '{marker}' \"$_hwho\" \"$_hl\""
    );
    let _ = writeln!(
        s,
        "_hx=\nif [ -z \"$_hl\" ]; then _hx=nohome\nelif [ -e \"$_hl\" ]; then\n[ -r \"$_hl\" ] && [ -x \"$_hl\" ] || _hx=denied\nfor _hf in ledger ledger.journal; do\nif [ -e \"$_hl/$_hf\" ] && [ ! -r \"$_hl/$_hf\" ]; then _hx=denied; fi\ndone\nelif [ -d \"${{_hl%/*}}\" ] && [ ! -x \"${{_hl%/*}}\" ]; then _hx=denied\nfi"
    );
    s
}

/// `sh` for the apply script's opening, after [`locate`]: the directory
/// (0700) and its lock file made, else `MARKER ledger unwritable` and the
/// script ends before any state runs.
pub fn prepare(marker: &str) -> String {
    format!(
        "if ! {{ [ -n \"$_hl\" ] && ( umask 077; mkdir -p \"$_hl\" && : >> \"$_hl/lock\" ) && chmod 700 \"$_hl\"; }} 2>/dev/null; then printf '\\n%s ledger unwritable\\n' '{marker}'; exit 0; fi\n"
    )
}

/// Who read the ledger, and where (the gather's `ledger as` line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub user: String,
    pub dir: String,
}

impl Place {
    /// From the words after `ledger as`: `USER DIR` (the directory may
    /// hold spaces).
    pub fn parse(rest: &str) -> Place {
        let (user, dir) = rest.split_once(' ').unwrap_or((rest, ""));
        Place {
            user: user.to_string(),
            dir: dir.to_string(),
        }
    }

    /// The ledger's directory; root's when the output did not say.
    pub fn dir(&self) -> &str {
        if self.dir.is_empty() {
            DIR
        } else {
            &self.dir
        }
    }

    /// The error for the gather's reason `why` (`nohome`, `denied`, or a
    /// failed read).
    pub fn unreadable(&self, why: &str) -> LedgerError {
        if why == "nohome" {
            return LedgerError::NoHome {
                user: self.user.clone(),
            };
        }
        LedgerError::Unreadable {
            dir: self.dir().to_string(),
            user: self.user.clone(),
            why: if why == "denied" {
                "permission denied"
            } else {
                "read error"
            },
        }
    }

    pub fn unwritable(&self) -> LedgerError {
        LedgerError::Unwritable {
            dir: self.dir().to_string(),
            user: self.user.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh` output of `locate` + `check` + `prepare` in a fake world:
    /// `uid` as `id` says it, `env` before them, `after` at the end.
    fn run(uid: u32, env: &str, after: &str) -> String {
        let script = format!(
            "id() {{ echo \"uid={uid}(tester) gid={uid}(tester) groups={uid}(tester)\"; }}\n{env}\n{}{}echo \"dir=$_hl why=$_hx\"\n{}{after}",
            locate(),
            check("@@m"),
            prepare("@@m")
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// One `id` says who, by name, or by number where the uid has none,
    /// in dash, busybox sh and bash --posix alike.
    #[test]
    fn the_login_is_named_by_one_id() {
        for (said, who) in [
            (
                "uid=0(root) gid=0(root) groups=0(root)",
                "root /var/lib/halite",
            ),
            ("uid=1234 gid=1234 groups=1234", "1234 /tmp/s/halite"),
        ] {
            let script = format!(
                "id() {{ echo '{said}'; }}\nXDG_STATE_HOME=/tmp/s\n{}{}",
                locate(),
                check("@@m")
            );
            for (shell, out) in crate::testing::in_each_shell(&script) {
                assert!(
                    out.contains(&format!("@@m ledger as {who}\n")),
                    "{shell:?}: {out}"
                );
            }
        }
    }

    #[test]
    fn a_login_without_root_keeps_its_ledger_under_its_home() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().display().to_string();
        let out = run(
            1001,
            &format!("HOME='{h}/'; unset XDG_STATE_HOME HALITE_LEDGER_DIR"),
            "",
        );
        assert!(
            out.contains(&format!("@@m ledger as tester {h}/.local/state/halite\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("dir={h}/.local/state/halite why=\n")),
            "{out}"
        );
        // prepare made it, private.
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(home.path().join(".local/state/halite")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);

        // XDG_STATE_HOME wins when absolute, is ignored when not.
        let out = run(1001, &format!("HOME={h}; XDG_STATE_HOME={h}/st"), "");
        assert!(out.contains(&format!("dir={h}/st/halite ")), "{out}");
        let out = run(1001, &format!("HOME={h}; XDG_STATE_HOME=rel"), "");
        assert!(
            out.contains(&format!("dir={h}/.local/state/halite ")),
            "{out}"
        );
    }

    #[test]
    fn root_keeps_the_hosts_ledger() {
        // Only the location: `prepare` would make /var/lib/halite.
        let script = format!(
            "id() {{ echo 0; }}\nHOME=/nowhere; unset HALITE_LEDGER_DIR\n{}echo \"$_hl\"",
            locate()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{DIR}\n"));
    }

    #[test]
    fn an_absolute_halite_ledger_dir_wins_for_root_and_others() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().display().to_string();
        for uid in [0, 1001] {
            let out = run(uid, &format!("HALITE_LEDGER_DIR='{h}/l/'; HOME=/"), "");
            assert!(out.contains(&format!("dir={h}/l why=\n")), "{out}");
        }
        assert!(d.path().join("l/lock").exists());
        // A relative one is ignored.
        let out = run(1001, &format!("HALITE_LEDGER_DIR=rel; HOME={h}"), "");
        assert!(
            out.contains(&format!("dir={h}/.local/state/halite ")),
            "{out}"
        );
    }

    #[test]
    fn no_home_means_no_ledger_and_no_apply() {
        let out = run(1001, "HOME=/; unset XDG_STATE_HOME", "echo applied");
        assert!(out.contains("dir= why=nohome"), "{out}");
        assert!(out.contains("\n@@m ledger unwritable\n"), "{out}");
        assert!(!out.contains("applied"), "{out}");
    }

    #[test]
    fn the_place_names_who_and_where_in_errors() {
        let p = Place::parse("alice /home/alice/my state/halite");
        assert_eq!(p.dir(), "/home/alice/my state/halite");
        assert_eq!(
            p.unreadable("denied").to_string(),
            "cannot read the drift ledger /home/alice/my state/halite/ledger as alice (permission denied); nothing was applied"
        );
        assert!(p.unreadable("nohome").to_string().contains("alice"));
        assert!(p.unwritable().to_string().contains("cannot write"));
        assert_eq!(Place::default().dir(), DIR);
    }
}
