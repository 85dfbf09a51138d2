//! The line protocol between the scripts the engine sends and the
//! controller: every line a gather or apply script prints about itself
//! starts with the run's marker (`@@halite-<random>`), and this file is the
//! only place that writes such a line (the `sh` emitters) and the only
//! place that reads one back ([`parse`]), side by side so they cannot drift
//! apart.
//!
//! A state's output is fenced by a begin line (`MARKER probe 3 T`) and an
//! end line (`MARKER rc 3 RC T`, written by [`end`] alone); `T` is the
//! host's uptime read by the `_ht` builtin of [`prelude`] (`-` without
//! /proc/uptime). A line that starts with the marker but is not one of
//! [`Event`]'s is a [`ProtocolError`] that fails the host: a line silently
//! skipped could hide a failed state.
//!
//! The drift ledger's lines (`MARKER ledger ...`) are written and read in
//! `state::ledger`; here they are only recognised as [`Event::Ledger`].

use std::collections::BTreeMap;

use super::progress::Progress;

/// A fenced block of a state's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Block {
    /// Its read-only probe (gather).
    Probe,
    /// Its apply command.
    Apply,
    /// Its reaction to a watched state's change.
    Watch,
    /// Its reaction at the end of the run to a listened state's change.
    Listen,
}

impl Block {
    fn word(self) -> &'static str {
        match self {
            Block::Probe => "probe",
            Block::Apply => "apply",
            Block::Watch => "watch",
            Block::Listen => "listen",
        }
    }

    fn from_word(w: &str) -> Option<Block> {
        [Block::Probe, Block::Apply, Block::Watch, Block::Listen]
            .into_iter()
            .find(|b| b.word() == w)
    }
}

/// A state's `unless` / `onlyif` / `creates` check in the gather.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cond {
    Unless,
    Onlyif,
    Creates,
}

impl Cond {
    fn word(self) -> &'static str {
        match self {
            Cond::Unless => "unless",
            Cond::Onlyif => "onlyif",
            Cond::Creates => "creates",
        }
    }

    fn from_word(w: &str) -> Option<Cond> {
        [Cond::Unless, Cond::Onlyif, Cond::Creates]
            .into_iter()
            .find(|c| c.word() == w)
    }
}

/// One marker line, as the scripts print it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Event {
    /// The script started; the host's uptime then.
    Clock(Option<f64>),
    /// A state's block starts (its output follows).
    Begin {
        block: Block,
        state: usize,
        at: Option<f64>,
    },
    /// The open block of `state` ended with exit status `rc`.
    End {
        state: usize,
        rc: i32,
        at: Option<f64>,
    },
    /// A condition of `state` in the gather, and its exit status.
    Cond { state: usize, cond: Cond, rc: i32 },
    /// The apply script's recheck of a condition said: skip `state`.
    CondSkip(usize),
    /// A guard (a failed requisite at run time) skipped `state`.
    Skip(usize),
    /// None of `state`'s onchanges changed / onfail failed at run time:
    /// not run, and not a failure (Salt's "State was not run because...").
    Untriggered(usize),
    /// `retry`: how many attempts `state` took.
    Tries { state: usize, attempts: u64 },
    /// `state` failed with `failhard`: the script stops here.
    Failhard(usize),
    /// `state`'s section (command, reaction, ledger event) is over.
    Done(usize),
    /// Every state's outcome has been printed (after the listen reactions).
    Finished,
    /// A drift ledger line (`state::ledger` reads it): the words after `ledger`.
    Ledger(String),
}

/// The ledger lines `state::ledger` writes: the word after `ledger`, and
/// how many words may follow it (at least, at most).
const LEDGER_LINES: [(&str, usize, usize); 8] = [
    // `as USER DIR`: the directory may hold spaces, or be empty.
    ("as", 1, usize::MAX),
    ("unreadable", 0, 1),
    ("unwritable", 0, 0),
    ("file", 0, 0),
    ("journal", 0, 0),
    ("sum", 0, 0),
    ("exists", 0, 0),
    ("end", 0, 0),
];

/// `words` (after `ledger`) are one of [`LEDGER_LINES`].
fn ledger_line(words: &[&str]) -> bool {
    let Some((first, rest)) = words.split_first() else {
        return false;
    };
    LEDGER_LINES
        .iter()
        .any(|(w, min, max)| w == first && (*min..=*max).contains(&rest.len()))
}

/// A marker line the controller cannot read, or a line out of place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("the host's script printed a line halite cannot read (output line {line}): `{text}`")]
    Unreadable { line: usize, text: String },
    #[error(
        "the host's script ended block `{ended}` while `{open}` was open (output line {line})"
    )]
    Mismatch {
        line: usize,
        ended: String,
        open: String,
    },
}

impl Event {
    /// Read the words after the marker; `None` when they are no event.
    fn read(rest: &str) -> Option<Event> {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let n = |w: &str| w.parse::<usize>().ok();
        let rc = |w: &str| w.parse::<i32>().ok();
        Some(match words.as_slice() {
            ["clock", t] => Event::Clock(time(t)?),
            ["rc", i, r, t] => Event::End {
                state: n(i)?,
                rc: rc(r)?,
                at: time(t)?,
            },
            [b, i, t] if Block::from_word(b).is_some() => Event::Begin {
                block: Block::from_word(b)?,
                state: n(i)?,
                at: time(t)?,
            },
            ["cond", i, c, r] => Event::Cond {
                state: n(i)?,
                cond: Cond::from_word(c)?,
                rc: rc(r)?,
            },
            ["condskip", i] => Event::CondSkip(n(i)?),
            ["skip", i] => Event::Skip(n(i)?),
            ["untriggered", i] => Event::Untriggered(n(i)?),
            ["tries", i, a] => Event::Tries {
                state: n(i)?,
                attempts: a.parse().ok()?,
            },
            ["failhard", i] => Event::Failhard(n(i)?),
            ["done", i] => Event::Done(n(i)?),
            ["finished"] => Event::Finished,
            ["ledger", after @ ..] if ledger_line(after) => {
                Event::Ledger(rest.trim_start().trim_start_matches("ledger ").into())
            }
            _ => return None,
        })
    }
}

/// An uptime word: seconds, or `-` (not known). `None`: not a time.
fn time(w: &str) -> Option<Option<f64>> {
    match w {
        "-" => Some(None),
        _ => w.parse::<f64>().ok().filter(|t| t.is_finite()).map(Some),
    }
}

// ---- the emitters: the only `sh` that prints marker lines ----------------

/// The start of every engine script: stderr joined to stdout, the run's id
/// in `$HALITE_RUN` (modules use it to do a thing once per run: the
/// package-index refresh), and `_ht`, which reads the host's uptime into
/// `_hu` with a builtin (no process per state) so each state's start and
/// duration can be reported; `-` where /proc/uptime does not exist. Then
/// [`Event::Clock`].
pub(super) fn prelude(marker: &str) -> String {
    let run = marker.trim_start_matches('@');
    format!(
        "exec 2>&1\nHALITE_RUN={run}\nexport HALITE_RUN\n_ht() {{ {{ read _hu _hx </proc/uptime; }} 2>/dev/null || _hu=-; }}\n_ht; printf '%s clock %s\\n' '{marker}' \"$_hu\"\n"
    )
}

/// [`Event::Begin`]: the uptime read, then the line (after a newline of
/// its own, so it starts a line whatever came before).
pub(super) fn begin(marker: &str, block: Block, i: usize) -> String {
    let b = block.word();
    format!("_ht; printf '\\n%s {b} {i} %s\\n' '{marker}' \"$_hu\"\n")
}

/// [`Event::End`]: the uptime read, then the line with the exit status
/// `rc` (a shell word: `$r`, `0`) on a line of its own.
pub(super) fn end(marker: &str, i: usize, rc: &str) -> String {
    format!("_ht; printf '\\n%s rc {i} %d %s\\n' '{marker}' {rc} \"$_hu\"\n")
}

/// [`Event::Cond`] for the exit status of the command just run (`$?`).
pub(super) fn cond(marker: &str, i: usize, cond: Cond) -> String {
    let c = cond.word();
    format!("printf '%s cond {i} {c} %d\\n' '{marker}' $?")
}

/// [`Event::Tries`], `attempts` a shell word (`$h_try`).
pub(super) fn tries(marker: &str, i: usize, attempts: &str) -> String {
    format!("printf '%s tries {i} %d\\n' '{marker}' {attempts}\n")
}

/// A line with fixed words: `condskip I`, `skip I`, `failhard I`, `done I`,
/// `finished` (no newline at the end).
fn fixed(marker: &str, words: &str) -> String {
    format!("printf '%s {words}\\n' '{marker}'")
}

/// [`Event::CondSkip`].
pub(super) fn condskip(marker: &str, i: usize) -> String {
    fixed(marker, &format!("condskip {i}"))
}

/// [`Event::Skip`].
pub(super) fn skip(marker: &str, i: usize) -> String {
    fixed(marker, &format!("skip {i}"))
}

/// [`Event::Untriggered`].
pub(super) fn untriggered(marker: &str, i: usize) -> String {
    fixed(marker, &format!("untriggered {i}"))
}

/// [`Event::Failhard`].
pub(super) fn failhard(marker: &str, i: usize) -> String {
    fixed(marker, &format!("failhard {i}"))
}

/// [`Event::Done`]: the apply script's line closing state `i`'s section.
pub(super) fn done(marker: &str, i: usize) -> String {
    fixed(marker, &format!("done {i}")) + "\n"
}

/// [`Event::Finished`]: after the listen reactions (before the ledger
/// dump): every state's outcome has been printed.
pub(super) fn finished(marker: &str) -> String {
    fixed(marker, "finished") + "\n"
}

// ---- the parser ---------------------------------------------------------------

/// What a script's output says, by state.
#[derive(Debug, Default)]
pub(super) struct Sections {
    /// (block, index) -> (text, rc)
    pub blocks: BTreeMap<(Block, usize), (String, i32)>,
    /// index -> (condition, rc) in order
    pub conditions: BTreeMap<usize, Vec<(Cond, i32)>>,
    /// indexes skipped at run time by a guard
    pub skipped: Vec<usize>,
    /// indexes whose unless / onlyif / creates said "skip" at run time
    pub condskipped: Vec<usize>,
    /// indexes whose onchanges / onfail did not trigger at run time
    pub untriggered: Vec<usize>,
    pub failhard: Option<usize>,
    /// The host's uptime (seconds) when the script started.
    pub clock: Option<f64>,
    /// index -> attempts made (states with `retry`).
    pub tries: BTreeMap<usize, u64>,
    /// (block, index) -> uptime at the block's start and end.
    pub times: BTreeMap<(Block, usize), (f64, f64)>,
    /// How far an apply script got (and how its output was cut short).
    pub progress: Progress,
}

impl Sections {
    /// A block's text and exit status.
    pub fn block(&self, block: Block, i: usize) -> Option<&(String, i32)> {
        self.blocks.get(&(block, i))
    }
}

/// The open block: which, whose, when it started, its text so far.
struct Open {
    block: Block,
    state: usize,
    at: Option<f64>,
    text: String,
}

/// Read a script's output. A line starting with `marker` must be an
/// [`Event`]; every other line belongs to the open block, if any.
pub(super) fn parse(out: &str, marker: &str) -> Result<Sections, ProtocolError> {
    let mut s = Sections::default();
    let mut open: Option<Open> = None;
    for (n, line) in out.split('\n').enumerate() {
        let Some(rest) = line.strip_prefix(marker) else {
            if let Some(o) = &mut open {
                o.text.push_str(line);
                o.text.push('\n');
            }
            continue;
        };
        let event = Event::read(rest).ok_or_else(|| ProtocolError::Unreadable {
            line: n + 1,
            text: line.to_string(),
        })?;
        take(&mut s, &mut open, event, n + 1)?;
    }
    s.progress.open = open.map(|o| (o.block.word().to_string(), o.state));
    Ok(s)
}

/// Add one event to the sections.
fn take(
    s: &mut Sections,
    open: &mut Option<Open>,
    event: Event,
    line: usize,
) -> Result<(), ProtocolError> {
    match event {
        Event::Clock(t) => {
            s.progress.started = true;
            s.clock = t;
        }
        Event::Begin { block, state, at } => {
            *open = Some(Open {
                block,
                state,
                at,
                text: String::new(),
            })
        }
        Event::End { state, rc, at } => close(s, open.take(), state, rc, at, line)?,
        Event::Cond { state, cond, rc } => s.conditions.entry(state).or_default().push((cond, rc)),
        Event::CondSkip(i) => s.condskipped.push(i),
        Event::Untriggered(i) => s.untriggered.push(i),
        Event::Skip(i) => s.skipped.push(i),
        Event::Tries { state, attempts } => {
            s.tries.insert(state, attempts);
        }
        Event::Failhard(i) => s.failhard = Some(i),
        Event::Done(i) => s.progress.done.push(i),
        Event::Finished => s.progress.finished = true,
        Event::Ledger(_) => {}
    }
    Ok(())
}

/// The end line of `state`'s block: it must be the open one.
fn close(
    s: &mut Sections,
    open: Option<Open>,
    state: usize,
    rc: i32,
    at: Option<f64>,
    line: usize,
) -> Result<(), ProtocolError> {
    let o = match open {
        Some(o) if o.state == state => o,
        other => {
            return Err(ProtocolError::Mismatch {
                line,
                ended: format!("rc {state}"),
                open: other.map_or("nothing".into(), |o| {
                    format!("{} {}", o.block.word(), o.state)
                }),
            })
        }
    };
    if let (Some(a), Some(b)) = (o.at, at) {
        s.times.insert((o.block, state), (a, b));
    }
    // The end line starts with a newline of its own.
    let text = o.text.strip_suffix('\n').unwrap_or(&o.text).to_string();
    s.blocks.insert((o.block, state), (text, rc));
    Ok(())
}

#[cfg(test)]
mod tests;
