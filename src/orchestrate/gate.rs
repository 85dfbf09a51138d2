//! Whether a step runs, from what the steps it requires did: Salt's
//! requisite semantics between orchestration steps, with Salt's words.
//!
//! - `require` / `watch`: a required step that failed stops this one
//!   ("One or more requisite failed"); `require_any` / `watch_any` only
//!   when every one failed.
//! - `onchanges` (any of them changed) and `onfail` (any of them failed;
//!   `onfail_all`: all of them) run the step only then; otherwise it
//!   succeeds without running, as in Salt.
//! - In test mode a step that depends on a step that *would* change is
//!   predicted from the hosts as they are now: the gate says so rather
//!   than guessing what the hosts will look like after the change.

use crate::state::Kind;

use super::Step;

/// What a finished step looks like to the steps after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// `Some(false)` failed; `None` in test mode: would change.
    pub result: Option<bool>,
    /// Made (or, in test mode, would make) changes.
    pub changed: bool,
}

impl Seen {
    fn failed(self) -> bool {
        self.result == Some(false)
    }
}

/// The verdict for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Run it. `note`: what a test-mode prediction cannot know.
    Run { note: Option<String> },
    /// Do not run it; this is its result.
    Skip { result: bool, comment: String },
}

/// Decide step `i` of `steps` from `seen` (one entry per step; `None` for
/// steps not finished, which requisites never point at: they come earlier
/// in order).
pub fn gate(steps: &[Step], i: usize, seen: &[Option<Seen>], test: bool) -> Gate {
    let step = &steps[i];
    let of = |kinds: &[Kind]| -> Vec<(usize, Seen)> {
        step.requisites
            .iter()
            .filter(|(k, _)| kinds.contains(k))
            .filter_map(|(_, j)| seen.get(*j).copied().flatten().map(|s| (*j, s)))
            .collect()
    };
    let ids = |list: &[(usize, Seen)]| -> String {
        list.iter()
            .map(|(j, _)| format!("`{}`", steps[*j].id))
            .collect::<Vec<_>>()
            .join(", ")
    };

    // Salt names a failed requisite `SLS.ID`.
    let names = |list: &[(usize, Seen)]| -> String {
        list.iter()
            .map(|(j, _)| format!("{}.{}", steps[*j].sls, steps[*j].id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all = of(&[Kind::Require, Kind::Watch]);
    let failed: Vec<_> = all.iter().copied().filter(|(_, s)| s.failed()).collect();
    if !failed.is_empty() {
        return Gate::Skip {
            result: false,
            comment: format!("One or more requisite failed: {}", names(&failed)),
        };
    }
    let any = of(&[Kind::RequireAny, Kind::WatchAny]);
    if !any.is_empty() && any.iter().all(|(_, s)| s.failed()) {
        return Gate::Skip {
            result: false,
            comment: format!("One or more requisite failed: {}", names(&any)),
        };
    }

    let onchanges = of(&[Kind::Onchanges, Kind::OnchangesAny]);
    if !onchanges.is_empty() && !onchanges.iter().any(|(_, s)| s.changed) {
        return Gate::Skip {
            result: true,
            comment: "State was not run because none of the onchanges reqs changed".into(),
        };
    }

    let onfail = of(&[Kind::Onfail, Kind::OnfailAny]);
    let onfail_all = of(&[Kind::OnfailAll]);
    let fires = (!onfail.is_empty() && onfail.iter().any(|(_, s)| s.failed()))
        || (!onfail_all.is_empty() && onfail_all.iter().all(|(_, s)| s.failed()));
    if (!onfail.is_empty() || !onfail_all.is_empty()) && !fires {
        let mut comment = "State was not run because onfail req did not change".to_string();
        if test {
            let watched: Vec<_> = onfail.iter().chain(&onfail_all).copied().collect();
            comment.push_str(&format!(
                "\ntest mode: it runs only if {} fails, which a prediction cannot tell for sure",
                ids(&watched)
            ));
        }
        return Gate::Skip {
            result: true,
            comment,
        };
    }

    let note = if test {
        prediction_note(steps, step, seen)
    } else {
        None
    };
    Gate::Run { note }
}

/// Test mode: a step that depends on a step that would change is predicted
/// from the hosts as they are now; say so, naming those steps.
fn prediction_note(steps: &[Step], step: &Step, seen: &[Option<Seen>]) -> Option<String> {
    let before: Vec<usize> = step
        .requisites
        .iter()
        .filter(|(k, _)| {
            matches!(
                k,
                Kind::Require
                    | Kind::RequireAny
                    | Kind::Watch
                    | Kind::WatchAny
                    | Kind::Onchanges
                    | Kind::OnchangesAny
            )
        })
        .filter(|(_, j)| {
            seen.get(*j)
                .copied()
                .flatten()
                .is_some_and(|s| s.result.is_none() && s.changed)
        })
        .map(|(_, j)| *j)
        .collect();
    (!before.is_empty()).then(|| {
        let ids: Vec<String> = before.iter().map(|j| format!("`{}`", steps[*j].id)).collect();
        format!(
            "predicted from the hosts as they are now, before the changes {} would make: the real run may differ",
            ids.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrate::{Action, TestOutcome};

    fn step(id: &str, requisites: Vec<(Kind, usize)>) -> Step {
        Step {
            id: id.into(),
            name: id.into(),
            sls: "orch".into(),
            file: "orch.sls".into(),
            function: "test.nop".into(),
            action: Action::Test(TestOutcome::Nop, None),
            requisites,
            failhard: false,
            parallel: false,
        }
    }

    const OK: Seen = Seen {
        result: Some(true),
        changed: false,
    };
    const CHANGED: Seen = Seen {
        result: Some(true),
        changed: true,
    };
    const FAILED: Seen = Seen {
        result: Some(false),
        changed: false,
    };
    const WOULD: Seen = Seen {
        result: None,
        changed: true,
    };

    fn verdict(kind: Kind, before: &[Seen], test: bool) -> Gate {
        let mut steps: Vec<Step> = (0..before.len())
            .map(|j| step(&format!("s{j}"), vec![]))
            .collect();
        steps.push(step("me", (0..before.len()).map(|j| (kind, j)).collect()));
        let mut seen: Vec<Option<Seen>> = before.iter().copied().map(Some).collect();
        seen.push(None);
        gate(&steps, before.len(), &seen, test)
    }

    fn runs(g: &Gate) -> bool {
        matches!(g, Gate::Run { .. })
    }

    #[test]
    fn require_stops_on_any_failure_require_any_on_all() {
        assert!(runs(&verdict(Kind::Require, &[OK, CHANGED], false)));
        assert_eq!(
            verdict(Kind::Require, &[OK, FAILED], false),
            Gate::Skip {
                result: false,
                comment: "One or more requisite failed: orch.s1".into()
            }
        );
        assert!(runs(&verdict(Kind::RequireAny, &[FAILED, OK], false)));
        assert!(!runs(&verdict(Kind::RequireAny, &[FAILED, FAILED], false)));
        assert!(!runs(&verdict(Kind::Watch, &[FAILED], false)));
    }

    #[test]
    fn onchanges_runs_when_any_changed() {
        assert!(runs(&verdict(Kind::Onchanges, &[OK, CHANGED], false)));
        assert_eq!(
            verdict(Kind::Onchanges, &[OK, OK], false),
            Gate::Skip {
                result: true,
                comment: "State was not run because none of the onchanges reqs changed".into()
            }
        );
    }

    #[test]
    fn onfail_runs_when_any_failed_onfail_all_when_all_did() {
        assert!(runs(&verdict(Kind::Onfail, &[OK, FAILED], false)));
        assert_eq!(
            verdict(Kind::Onfail, &[OK, CHANGED], false),
            Gate::Skip {
                result: true,
                comment: "State was not run because onfail req did not change".into()
            }
        );
        assert!(!runs(&verdict(Kind::OnfailAll, &[OK, FAILED], false)));
        assert!(runs(&verdict(Kind::OnfailAll, &[FAILED, FAILED], false)));
    }

    #[test]
    fn test_mode_says_what_a_prediction_cannot_know() {
        let Gate::Run { note: Some(note) } = verdict(Kind::Require, &[WOULD], true) else {
            panic!()
        };
        assert!(
            note.contains("before the changes `s0` would make"),
            "{note}"
        );
        assert_eq!(
            verdict(Kind::Require, &[OK], true),
            Gate::Run { note: None }
        );
        // onchanges on a step that would change: predicted, with the note.
        assert!(runs(&verdict(Kind::Onchanges, &[WOULD], true)));
        let Gate::Skip { comment, .. } = verdict(Kind::Onfail, &[WOULD], true) else {
            panic!()
        };
        assert!(comment.contains("runs only if `s0` fails"), "{comment}");
    }
}
