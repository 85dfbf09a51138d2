//! How far an apply script got, and what the report says of the states
//! after the point where its output stopped.
//!
//! Besides each state's blocks, the apply script prints `MARKER done I`
//! once state I's section is over (its command, watch reaction and ledger
//! event) and `MARKER finished` after the listen reactions at the end. When
//! the output is cut short (a time limit, a dropped connection), what was
//! received is still read, up to its last whole line: a state the host
//! confirmed is reported as the host said; a state after it is "outcome
//! unknown" (failed, for the exit code): the host may have applied it, so
//! it is never "not applied". That is said only when the script provably
//! did not start (the host never took the command). The next run needs
//! nothing more: its gather probes every state again and reads the ledger
//! journal, which records what succeeded. The lines themselves are written
//! and read by the engine's protocol module (protocol.rs), which uses
//! this one.

use crate::transport::{Command, Connection};

/// Why an apply script's output stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cut {
    /// The transport's reason (`command timed out after 4s`).
    pub why: String,
    /// The host took the command: the script may have run, in part.
    pub sent: bool,
    /// The ID of the last state the host confirmed (set once the states
    /// are known).
    pub after: Option<String>,
}

/// An apply execution's output (when cut, up to its last whole line) and
/// how it ended.
#[derive(Debug)]
pub(super) struct Applied {
    pub output: String,
    pub cut: Option<Cut>,
}

/// Run an apply script through `sh -s` on stdin, keeping what it printed
/// when it is cut short.
pub(super) async fn run(conn: &Connection, script: &str) -> Applied {
    let cmd = Command {
        script: "exec sh -s".into(),
        stdin: Some(script.as_bytes().to_vec()),
        timeout: None,
    };
    match conn.exec_keeping(&cmd).await {
        Ok(out) => Applied {
            output: out.stdout,
            cut: None,
        },
        Err(c) => Applied {
            output: whole_lines(&c.stdout).to_string(),
            cut: Some(Cut {
                why: c.error.to_string(),
                sent: c.sent,
                after: None,
            }),
        },
    }
}

/// The whole lines of `out`: a line cut in the middle is dropped, so a
/// cut `MARKER skip 12` cannot read as `skip 1`.
pub(super) fn whole_lines(out: &str) -> &str {
    out.rfind('\n').map_or("", |n| &out[..=n])
}

/// What an apply script's output confirmed.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Progress {
    /// Its first line (`clock`) was seen: the script started (set by the
    /// engine's parser, which reads that line's time).
    pub started: bool,
    /// The states whose section ended, in the order the host said so.
    pub done: Vec<usize>,
    /// A block that started and did not end (`("apply", 3)`): the output
    /// stopped while it ran.
    pub open: Option<(String, usize)>,
    /// The `finished` line was seen.
    pub finished: bool,
    /// How the output was cut short, when it was.
    pub cut: Option<Cut>,
}

impl Progress {
    /// The comment for state `i`, planned to change but with no result in
    /// the output, unless that is known to be all (`None`: the host closed
    /// its section, say a reaction its watched states did not call for, or
    /// the script ran to its end and stopped before it).
    pub fn unknown(&self, i: usize) -> Option<String> {
        if self.done.contains(&i) {
            return None;
        }
        let running = self.open.as_ref().is_some_and(|(_, j)| *j == i);
        let Some(c) = &self.cut else {
            return running.then(|| {
                "outcome unknown: the apply script ended while this state ran; it may have made its change".to_string()
            });
        };
        let why = &c.why;
        Some(if !c.sent {
            format!("not applied: the apply script did not run ({why})")
        } else if running {
            format!("outcome unknown: this state was running when the apply script was interrupted ({why}); it may have made its change")
        } else if !self.started {
            format!("outcome unknown: the apply script was interrupted ({why}) before it reported starting; this state may have run")
        } else if let Some(id) = &c.after {
            format!("outcome unknown: the apply script was interrupted ({why}) after `{id}`, the last state it confirmed; this state may have run")
        } else {
            format!("outcome unknown: the apply script was interrupted ({why}) before it confirmed any state; this state may have run")
        })
    }

    /// For state `i`, which has a result: why that result is not the whole
    /// story, when the output stopped before its section ended, or before
    /// its `listen` reaction (`listens`) could run at the end.
    pub fn unfinished(&self, i: usize, listens: bool) -> Option<String> {
        let Some(c) = &self.cut else {
            return match &self.open {
                Some((kind, j)) if *j == i && kind != "apply" => Some(format!(
                    "; the apply script ended while its {kind} reaction ran: its outcome is unknown"
                )),
                _ => None,
            };
        };
        let why = &c.why;
        if !self.done.contains(&i) {
            Some(format!("; then the apply script was interrupted ({why}) before it finished this state: its watch reaction or ledger record may be missing"))
        } else if listens && !self.finished {
            Some(format!("; the apply script was interrupted ({why}) before the listen reactions at the end of the run: whether this one ran is unknown"))
        } else {
            None
        }
    }

    /// The run's `__apply__` comment when the output was cut short.
    pub fn summary(&self) -> Option<String> {
        let c = self.cut.as_ref()?;
        let why = &c.why;
        Some(if !c.sent {
            format!("apply failed: {why}; the apply script did not run")
        } else if self.finished {
            format!("apply interrupted ({why}) after every state reported: the results are the host's; the controller's copy of its ledger may be behind")
        } else {
            let n = self.done.len();
            let last = c
                .after
                .as_ref()
                .map(|id| format!(", the last `{id}`"))
                .unwrap_or_default();
            format!("apply interrupted ({why}): the host confirmed {n} state(s){last}; the states after are reported \"outcome unknown\" (the next run probes them again and reads the host's ledger journal)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(sent: bool, after: Option<&str>) -> Option<Cut> {
        Some(Cut {
            why: "command timed out after 4s".into(),
            sent,
            after: after.map(str::to_string),
        })
    }

    #[test]
    fn a_line_cut_in_the_middle_is_dropped() {
        assert_eq!(whole_lines("@@m done 1\n@@m skip 1"), "@@m done 1\n");
        assert_eq!(whole_lines("@@m done 1\n"), "@@m done 1\n");
        assert_eq!(whole_lines("@@m clo"), "");
    }

    #[test]
    fn not_applied_only_when_the_host_never_took_the_script() {
        let p = Progress {
            cut: cut(false, None),
            ..Progress::default()
        };
        assert!(p.unknown(0).unwrap().starts_with("not applied: "));
        assert!(p.summary().unwrap().contains("did not run"));
        for p in [
            Progress {
                cut: cut(true, None),
                ..Progress::default()
            },
            Progress {
                started: true,
                cut: cut(true, None),
                ..Progress::default()
            },
            Progress {
                started: true,
                done: vec![0],
                cut: cut(true, Some("first")),
                ..Progress::default()
            },
            Progress {
                started: true,
                open: Some(("apply".into(), 3)),
                cut: cut(true, None),
                ..Progress::default()
            },
        ] {
            let c = p.unknown(3).unwrap();
            assert!(c.starts_with("outcome unknown: "), "{c}");
            assert!(c.contains("timed out"), "{c}");
        }
        let p = Progress {
            started: true,
            done: vec![0, 1],
            cut: cut(true, Some("second")),
            ..Progress::default()
        };
        assert!(p.unknown(2).unwrap().contains("after `second`"));
        assert!(p
            .summary()
            .unwrap()
            .contains("confirmed 2 state(s), the last `second`"));
    }

    #[test]
    fn a_script_that_ended_says_not_applied_except_for_the_state_it_ended_in() {
        let p = Progress {
            started: true,
            open: Some(("apply".into(), 1)),
            ..Progress::default()
        };
        assert_eq!(p.unknown(2), None);
        assert!(p.unknown(1).unwrap().starts_with("outcome unknown"));
        assert_eq!(p.summary(), None);
    }

    #[test]
    fn a_confirmed_state_is_unfinished_only_before_its_section_and_listen_end() {
        let mut p = Progress {
            started: true,
            done: vec![0],
            cut: cut(true, Some("a")),
            ..Progress::default()
        };
        assert_eq!(p.unfinished(0, false), None);
        assert!(p.unfinished(0, true).unwrap().contains("listen"));
        assert!(p
            .unfinished(1, false)
            .unwrap()
            .contains("before it finished"));
        p.finished = true;
        assert_eq!(p.unfinished(0, true), None);
    }
}
