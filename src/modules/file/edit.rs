//! `file.replace`, `file.line`, `file.blockreplace` and `file.append`: the
//! functions that edit part of a file instead of owning all of it.
//!
//! The probe brings the whole file back (up to [`super::DIFF_LIMIT`]); the
//! new content is computed on the controller by the pure functions below
//! ([`Replace::edit`], [`LineEdit::edit`], [`Block::edit`],
//! [`Append::edit`]), so `test=True` shows the exact diff the apply will
//! make. The apply sends the finished bytes and writes them atomically
//! (temporary file + `mv`, like `file.managed`), but only if the file still
//! has the SHA-256 the probe saw: an edit computed from stale content would
//! clobber whatever changed in between, so the state fails instead.
//!
//! The rules are Salt's (`salt.modules.file.replace`, `_set_line`,
//! `blockreplace`, `salt.states.file.append`), with the differences listed
//! in the README: patterns use the `regex` crate (no look-around, no
//! backreferences), line endings (CRLF) are kept, and a few quirks that
//! make Salt's edits grow on every run are not reproduced.

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::json;

use super::managed::write_snippet;
use super::{
    check_name, diff_text, mkdirs_function, parse_facts, perms, probe_snippet, Kind, Perms,
};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// An edit's plan data.
#[derive(Debug, PartialEq)]
struct EditTodo {
    /// The new content, when the file is written (else only its ownership
    /// and mode change).
    content: Option<Vec<u8>>,
    /// The file's hash when planned (`None`: it did not exist): the apply
    /// writes only over that same file.
    sha256: Option<String>,
    /// Lines appended (`file.append`'s comments count them).
    lines: usize,
}

/// Exit status of the apply when the file changed after it was probed.
const STALE: i32 = 3;

// ---- Python `re` compatibility ------------------------------------------

/// Python `re` flags halite understands (`flags` of file.replace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub ignorecase: bool,
    pub multiline: bool,
    pub dotall: bool,
    pub verbose: bool,
}

impl Flags {
    /// Salt's default, `8`: MULTILINE.
    pub const SALT_DEFAULT: Flags = Flags {
        ignorecase: false,
        multiline: true,
        dotall: false,
        verbose: false,
    };
}

/// `flags` as Salt takes it: a name, a list of names (`IGNORECASE`, `I`...)
/// or an int bitmask of Python's `re` constants.
pub fn parse_flags(v: &Value) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut set = |name: &str| -> Result<(), String> {
        match name.to_ascii_uppercase().as_str() {
            "IGNORECASE" | "I" => f.ignorecase = true,
            "MULTILINE" | "M" => f.multiline = true,
            "DOTALL" | "S" => f.dotall = true,
            "VERBOSE" | "X" => f.verbose = true,
            // Salt compiles file.replace patterns as bytes: ASCII already.
            "ASCII" | "A" => {}
            "UNICODE" | "U" | "LOCALE" | "L" => {
                return Err(format!("re flag {name} is not supported"))
            }
            _ => return Err(format!("Invalid re flag given: {name}")),
        }
        Ok(())
    };
    match v {
        Value::Null => return Ok(Flags::SALT_DEFAULT),
        Value::Number(n) => {
            let bits = n
                .as_u64()
                .ok_or_else(|| format!("Invalid re flags: \"{v}\""))?;
            for (bit, name) in [
                (2, "I"),
                (4, "L"),
                (8, "M"),
                (16, "S"),
                (32, "U"),
                (64, "X"),
                (256, "A"),
            ] {
                if bits & bit != 0 {
                    set(name)?;
                }
            }
            if bits & !(2 | 4 | 8 | 16 | 32 | 64 | 256) != 0 {
                return Err(format!("Invalid re flags: \"{v}\""));
            }
        }
        Value::String(s) => set(s.trim())?,
        Value::Array(items) => {
            for i in items {
                match i {
                    Value::String(s) => set(s.trim())?,
                    other => return Err(format!("Invalid re flag given: {other}")),
                }
            }
        }
        other => {
            return Err(format!(
                "Invalid re flags: \"{other}\", must be given either as a single flag \
                 string, a list of strings, or as an integer"
            ))
        }
    }
    Ok(f)
}

/// A Python `re` pattern rewritten for the `regex` crate: `\Z` is `\z`, a
/// `{` that does not start a repetition is literal, `{,n}` is `{0,n}`, and
/// `[` / `&` / `~` inside a class are literal (the crate reads them as
/// nested classes and set operations). Look-around and backreferences are
/// errors: the crate has neither (it guarantees linear-time matching).
pub fn py_pattern(p: &str) -> Result<String, String> {
    translate(p, false)
}

/// [`py_pattern`] for fancy-regex, which has look-around and
/// backreferences (file.comment's patterns, whose Salt form needs a
/// negative look-ahead): the same rewriting, nothing refused.
pub fn py_pattern_fancy(p: &str) -> Result<String, String> {
    translate(p, true)
}

fn translate(p: &str, fancy: bool) -> Result<String, String> {
    let unsupported = |what: &str| {
        if fancy {
            return Ok(());
        }
        Err(format!(
            "pattern `{p}` uses {what}, which halite does not support \
             (patterns use the Rust regex crate: no look-around, no backreferences)"
        ))
    };
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    // Inside `[...]`: the index where the class's items start.
    let mut class: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        match (c, class) {
            ('\\', _) => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!("pattern `{p}` ends with a lone backslash"));
                };
                if class.is_none() && n.is_ascii_digit() && n != '0' {
                    unsupported("a backreference")?;
                }
                if n == 'Z' && class.is_none() {
                    out.push_str("\\z");
                } else {
                    out.push('\\');
                    out.push(n);
                }
                i += 2;
                continue;
            }
            ('[', None) => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is literal (both engines agree).
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                class = Some(i);
                continue;
            }
            (']', Some(_)) => class = None,
            ('[' | '&' | '~', Some(_)) => {
                out.push('\\');
            }
            ('(', None) if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest.starts_with("<=")
                    || rest.starts_with("<!")
                {
                    unsupported("look-around")?;
                }
                if rest.starts_with("P=") {
                    unsupported("a backreference")?;
                }
            }
            ('{', None) => {
                let rest: String = chars[i + 1..].iter().collect();
                let close = rest.find('}');
                let body = close.map(|e| &rest[..e]);
                let quantifier = body.filter(|b| {
                    let (lo, hi) = b.split_once(',').unwrap_or((b, ""));
                    (!lo.is_empty() || b.contains(','))
                        && lo.chars().all(|c| c.is_ascii_digit())
                        && hi.chars().all(|c| c.is_ascii_digit())
                });
                match quantifier {
                    Some(b) => {
                        out.push('{');
                        if b.starts_with(',') {
                            out.push('0');
                        }
                        out.push_str(b);
                        out.push('}');
                        i += b.chars().count() + 2;
                    }
                    None => {
                        out.push_str("\\{");
                        i += 1;
                    }
                }
                continue;
            }
            ('}', None) => {
                out.push_str("\\}");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// Compile a Python pattern. `unicode`: Python `str` semantics (Unicode
/// classes); off: `bytes` semantics (ASCII classes, `.` is any byte), which
/// is how Salt compiles file.replace patterns. MULTILINE also turns on the
/// crate's CRLF mode: `$` matches before `\r\n` and `.` stops at `\r`, so
/// CRLF files keep their line endings.
pub fn compile(pattern: &str, f: Flags, unicode: bool) -> Result<Regex, String> {
    let translated = py_pattern(pattern)?;
    RegexBuilder::new(&translated)
        .case_insensitive(f.ignorecase)
        .multi_line(f.multiline)
        .crlf(f.multiline)
        .dot_matches_new_line(f.dotall)
        .ignore_whitespace(f.verbose)
        .unicode(unicode)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or(&msg).trim();
            format!(
                "pattern `{pattern}` is not valid: {}",
                last.strip_prefix("error: ").unwrap_or(last)
            )
        })
}

/// A Python `re.sub` replacement template (`\1`, `\g<1>`, `\g<name>`,
/// `\n`, octal `\0..`) as a `regex` crate replacement (`${1}`, `${name}`,
/// literal `$` doubled). Group references are checked against `re`.
pub fn py_repl(repl: &str, re: &Regex) -> Result<Vec<u8>, String> {
    let bad = |why: String| Err(format!("repl `{repl}`: {why}"));
    let groups = re.captures_len();
    let names: Vec<&str> = re.capture_names().flatten().collect();
    let b = repl.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 8);
    let group = |out: &mut Vec<u8>, g: usize| -> Result<(), String> {
        if g >= groups {
            return Err(format!("repl `{repl}`: invalid group reference {g}"));
        }
        out.extend_from_slice(format!("${{{g}}}").as_bytes());
        Ok(())
    };
    let octal = |c: u8| (b'0'..=b'7').contains(&c);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            out.extend_from_slice(b"$$");
            i += 1;
            continue;
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = b.get(i + 1) else {
            return bad("bad escape (end of pattern)".into());
        };
        match n {
            b'g' => {
                if b.get(i + 2) != Some(&b'<') {
                    return bad("missing < after \\g".into());
                }
                let Some(len) = b[i + 3..].iter().position(|&c| c == b'>') else {
                    return bad("missing >, unterminated name".into());
                };
                let name = &repl[i + 3..i + 3 + len];
                if !name.is_empty() && name.bytes().all(|c| c.is_ascii_digit()) {
                    group(
                        &mut out,
                        name.parse()
                            .map_err(|_| format!("repl `{repl}`: bad group {name}"))?,
                    )?;
                } else if names.contains(&name) {
                    out.extend_from_slice(format!("${{{name}}}").as_bytes());
                } else {
                    return bad(format!("unknown group name '{name}'"));
                }
                i += 4 + len;
            }
            b'0' => {
                // \0, \0o, \0oo: an octal byte.
                let mut v = 0u32;
                let mut j = i + 2;
                while j < b.len() && j < i + 4 && octal(b[j]) {
                    v = v * 8 + u32::from(b[j] - b'0');
                    j += 1;
                }
                out.push(v as u8);
                i = j;
            }
            b'1'..=b'9' => {
                let d2 = b.get(i + 2).copied().filter(u8::is_ascii_digit);
                let d3 = b.get(i + 3).copied();
                match (d2, d3) {
                    (Some(d2), Some(d3)) if octal(n) && octal(d2) && octal(d3) => {
                        let v = u32::from(n - b'0') * 64
                            + u32::from(d2 - b'0') * 8
                            + u32::from(d3 - b'0');
                        if v > 0o377 {
                            return bad(format!(
                                "octal escape value \\{}{}{} outside of range 0-0o377",
                                n as char, d2 as char, d3 as char
                            ));
                        }
                        out.push(v as u8);
                        i += 4;
                    }
                    (Some(d2), _) => {
                        group(
                            &mut out,
                            usize::from(n - b'0') * 10 + usize::from(d2 - b'0'),
                        )?;
                        i += 3;
                    }
                    (None, _) => {
                        group(&mut out, usize::from(n - b'0'))?;
                        i += 2;
                    }
                }
            }
            _ => {
                let esc = match n {
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(11),
                    b'\\' => Some(b'\\'),
                    _ => None,
                };
                match esc {
                    Some(e) => out.push(e),
                    None if n.is_ascii_alphabetic() => {
                        return bad(format!("bad escape \\{}", n as char))
                    }
                    // Python keeps other unknown escapes (`\.`, `\&`) as they are.
                    None => {
                        out.push(b'\\');
                        if n == b'$' {
                            out.push(b'$');
                        }
                        out.push(n);
                    }
                }
                i += 2;
            }
        }
    }
    Ok(out)
}

// ---- lines ----------------------------------------------------------------

/// One line of a file and its ending (`\n`, `\r\n`, or empty for a last
/// line without one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    text: Vec<u8>,
    eol: Vec<u8>,
}

fn split_lines(content: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|&c| c == b'\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let (text, eol): (&[u8], &[u8]) = if let Some(t) = line.strip_suffix(b"\r\n") {
            (t, b"\r\n")
        } else if let Some(t) = line.strip_suffix(b"\n") {
            (t, b"\n")
        } else {
            (line, b"")
        };
        lines.push(Line {
            text: text.to_vec(),
            eol: eol.to_vec(),
        });
        rest = tail;
    }
    lines
}

fn join_lines(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l.text);
        out.extend_from_slice(&l.eol);
    }
    out
}

/// The file's line ending: its first one, `\n` when it has none.
fn file_eol(content: &[u8]) -> &'static [u8] {
    match content.iter().position(|&c| c == b'\n') {
        Some(i) if i > 0 && content[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---- file.replace -----------------------------------------------------------

/// Where `*_if_not_found` puts the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Append,
    Prepend,
}

/// `file.replace`: Python's `re.subn` over the whole file.
#[derive(Debug)]
pub struct Replace {
    regex: Regex,
    /// In the regex crate's replacement syntax.
    repl: Vec<u8>,
    /// 0: every occurrence.
    count: usize,
    if_not_found: Option<Place>,
    /// What append/prepend writes, as given (no group expansion).
    not_found: Vec<u8>,
    /// `not_found` already there as a line: nothing to add.
    present: Regex,
}

impl Replace {
    pub fn new(
        pattern: &str,
        repl: &str,
        count: usize,
        flags: Flags,
        if_not_found: Option<Place>,
        not_found_content: Option<&str>,
        backslash_literal: bool,
    ) -> Result<Replace, String> {
        let regex = compile(pattern, flags, false)?;
        let repl_bytes = if backslash_literal {
            repl.replace('$', "$$").into_bytes()
        } else {
            py_repl(repl, &regex)?
        };
        let not_found = not_found_content
            .filter(|s| !s.is_empty())
            .unwrap_or(repl)
            .as_bytes()
            .to_vec();
        // Salt: re.search(b"^" + re.escape(content) + b"($|(?=\r\n))", flags).
        let esc = regex::escape(&String::from_utf8_lossy(&not_found));
        let present = if flags.multiline {
            format!("^{esc}$")
        } else {
            format!(r"\A{esc}(?:\z|\n\z|\r\n)")
        };
        let present = RegexBuilder::new(&present)
            .multi_line(flags.multiline)
            .crlf(true)
            .case_insensitive(flags.ignorecase)
            .unicode(false)
            .build()
            .map_err(|e| format!("not_found_content: {e}"))?;
        Ok(Replace {
            regex,
            repl: repl_bytes,
            count,
            if_not_found,
            not_found,
            present,
        })
    }

    /// The file's new content.
    pub fn edit(&self, old: &[u8]) -> Vec<u8> {
        let matched = self.regex.is_match(old);
        let mut new = if matched {
            self.regex
                .replacen(old, self.count, &self.repl[..])
                .into_owned()
        } else {
            old.to_vec()
        };
        let Some(place) = self.if_not_found else {
            return new;
        };
        if matched || self.present.is_match(old) {
            return new;
        }
        let eol = file_eol(old);
        match place {
            Place::Prepend => {
                let mut head = self.not_found.clone();
                head.extend_from_slice(eol);
                head.extend_from_slice(&new);
                new = head;
            }
            Place::Append => {
                if !new.is_empty() && !new.ends_with(b"\n") {
                    new.extend_from_slice(eol);
                }
                new.extend_from_slice(&self.not_found);
                new.extend_from_slice(eol);
            }
        }
        new
    }
}

// ---- file.line --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMode {
    Ensure,
    Replace,
    Insert,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Start,
    End,
}

/// Salt's "regular expression or an exact fragment of the line": a line
/// matches when either finds it.
#[derive(Debug)]
pub struct Finder {
    regex: Regex,
    literal: Vec<u8>,
}

impl Finder {
    /// Salt compiles these with `re.DOTALL`, as `str` patterns.
    pub fn new(pattern: &str) -> Result<Finder, String> {
        let f = Flags {
            dotall: true,
            ..Flags::default()
        };
        Ok(Finder {
            regex: compile(pattern, f, true)?,
            literal: pattern.as_bytes().to_vec(),
        })
    }

    /// Line text is matched without its line ending, so `foo$` matches
    /// `foo\r\n` as it matches `foo\n` (Salt reads in universal-newline mode).
    fn matches(&self, text: &[u8]) -> bool {
        self.regex.is_match(text) || contains(text, &self.literal)
    }
}

/// `file.line`: Salt's `_set_line`.
#[derive(Debug)]
pub struct LineEdit {
    pub mode: LineMode,
    /// `None` only in delete mode.
    pub content: Option<String>,
    /// Defaults to `content` when no `before`/`after` is given.
    pub matcher: Option<Finder>,
    pub location: Option<Location>,
    pub before: Option<Finder>,
    pub after: Option<Finder>,
    pub indent: bool,
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `content` with `src`'s indentation (Salt's `_set_line_indent`), without
/// trailing whitespace (Salt's `_set_line_eol` strips it).
fn indented(src: &[u8], content: &[u8], indent: bool) -> Vec<u8> {
    let mut out: Vec<u8> = if indent {
        let lead = src
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .copied();
        lead.chain(content.trim_ascii_start().iter().copied())
            .collect()
    } else {
        content.to_vec()
    };
    let keep = out.trim_ascii_end().len();
    out.truncate(keep);
    out
}

/// Insert `text` as line `i`, with the line ending of the line before it.
/// After a last line without an ending, that line gets one and the new line
/// becomes the last, without one (as Salt does).
fn insert_line(lines: &mut Vec<Line>, i: usize, text: Vec<u8>, eol: &[u8]) {
    let new_eol = match i.checked_sub(1).map(|p| &mut lines[p]) {
        Some(prev) if prev.eol.is_empty() => {
            prev.eol = eol.to_vec();
            Vec::new()
        }
        Some(prev) => prev.eol.clone(),
        None => match lines.first() {
            Some(first) if !first.eol.is_empty() => first.eol.clone(),
            _ => eol.to_vec(),
        },
    };
    lines.insert(i, Line { text, eol: new_eol });
}

fn exactly_one(found: &[usize], what: &str) -> Result<usize, String> {
    match found {
        [one] => Ok(*one),
        [] => Err(format!(
            "Found no expected occurrences in \"{what}\" expression"
        )),
        _ => Err(format!(
            "Found more than expected occurrences in \"{what}\" expression"
        )),
    }
}

impl LineEdit {
    /// The file's new content.
    pub fn edit(&self, old: &[u8]) -> Result<Vec<u8>, String> {
        let mut lines = split_lines(old);
        let eol = file_eol(old);
        let content = self.content.as_deref().unwrap_or("").as_bytes();
        let same = |l: &Line| trim(&l.text) == trim(content);
        let find = |f: &Option<Finder>, lines: &[Line]| -> Vec<usize> {
            f.as_ref()
                .map(|f| {
                    (0..lines.len())
                        .filter(|i| f.matches(&lines[*i].text))
                        .collect()
                })
                .unwrap_or_default()
        };
        match self.mode {
            LineMode::Delete => {
                // Salt removes the first matching line and its identical
                // copies; other matching lines go on later runs.
                if let Some(&i) = find(&self.matcher, &lines).first() {
                    let target = lines[i].text.clone();
                    lines.retain(|l| l.text != target);
                }
            }
            LineMode::Replace => {
                if let Some(&i) = find(&self.matcher, &lines).first() {
                    lines[i].text = indented(&lines[i].text, content, self.indent);
                }
            }
            LineMode::Insert => {
                if let Some(loc) = self.location {
                    match loc {
                        // Salt puts the line first as given (no indentation).
                        Location::Start => {
                            if !lines.first().is_some_and(same) {
                                let text = indented(b"", content, false);
                                insert_line(&mut lines, 0, text, eol);
                            }
                        }
                        Location::End => {
                            if !lines.last().is_some_and(same) {
                                // Indented like the last line when the file
                                // does not end with a newline (Salt's rule).
                                let src = match lines.last() {
                                    Some(l) if l.eol.is_empty() => l.text.clone(),
                                    _ => Vec::new(),
                                };
                                let text = indented(&src, content, self.indent);
                                let n = lines.len();
                                insert_line(&mut lines, n, text, eol);
                            }
                        }
                    }
                } else {
                    let before = find(&self.before, &lines);
                    let after = find(&self.after, &lines);
                    if !before.is_empty() && !after.is_empty() {
                        exactly_one(&before, "before")?;
                        exactly_one(&after, "after")?;
                    }
                    if !before.is_empty() {
                        let i = exactly_one(&before, "before")?;
                        // Salt adds the line on every run when both before
                        // and after are given; halite not when it is there.
                        if i == 0 || !same(&lines[i - 1]) {
                            let text = indented(&lines[i].text, content, self.indent);
                            insert_line(&mut lines, i, text, eol);
                        }
                    } else if !after.is_empty() {
                        let i = exactly_one(&after, "after")?;
                        if i + 1 >= lines.len() || !same(&lines[i + 1]) {
                            let text = indented(&lines[i].text, content, self.indent);
                            insert_line(&mut lines, i + 1, text, eol);
                        }
                    } else {
                        return Err("Neither before or after was found in file".into());
                    }
                }
            }
            LineMode::Ensure => {
                let before = find(&self.before, &lines);
                let after = find(&self.after, &lines);
                if !before.is_empty() && !after.is_empty() {
                    let a = exactly_one(&after, "after")?;
                    let b = exactly_one(&before, "before")?;
                    if a + 1 == b {
                        let text = indented(&lines[a].text, content, self.indent);
                        insert_line(&mut lines, b, text, eol);
                    } else if a + 2 == b {
                        // Salt's rule: the one line in between becomes the content.
                        lines[a + 1].text = indented(&lines[a].text, content, self.indent);
                    } else {
                        return Err(
                            "Found more than one line between boundaries \"before\" and \"after\"."
                                .into(),
                        );
                    }
                } else if !before.is_empty() {
                    let b = exactly_one(&before, "before")?;
                    if b == 0 || !same(&lines[b - 1]) {
                        let src = if b == 0 { &lines[b] } else { &lines[b - 1] };
                        let text = indented(&src.text, content, self.indent);
                        insert_line(&mut lines, b, text, eol);
                    }
                } else if !after.is_empty() {
                    let a = exactly_one(&after, "after")?;
                    if a + 1 >= lines.len() || !same(&lines[a + 1]) {
                        let text = indented(&lines[a].text, content, self.indent);
                        insert_line(&mut lines, a + 1, text, eol);
                    }
                } else {
                    return Err(
                        "Neither before or after was found in file: unable to ensure the line"
                            .into(),
                    );
                }
            }
        }
        Ok(join_lines(&lines))
    }
}

// ---- file.blockreplace --------------------------------------------------------

/// `file.blockreplace`: the lines between two marker lines.
#[derive(Debug)]
pub struct Block {
    pub marker_start: String,
    pub marker_end: String,
    pub content: String,
    pub if_not_found: Option<Place>,
    /// `None`: add a newline only when `content` does not end with one.
    pub append_newline: Option<bool>,
}

impl Block {
    /// The file's new content.
    pub fn edit(&self, old: &[u8]) -> Result<Vec<u8>, String> {
        let start = self.marker_start.as_bytes();
        let end = self.marker_end.as_bytes();
        let append_newline = self.append_newline.unwrap_or(!self.content.ends_with('\n'));
        let parts: Vec<&str> = self
            .content
            .split("\r\n")
            .flat_map(|l| l.split('\n'))
            .collect();
        let lines: Vec<&[u8]> = old.split_inclusive(|c| *c == b'\n').collect();
        // Salt takes the line ending of the first line.
        let sep: &[u8] = match lines.first() {
            Some(l) if l.ends_with(b"\r\n") => b"\r\n",
            _ => b"\n",
        };
        let block = |with_start: bool, end_line: &[u8]| -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut end_line = end_line.strip_suffix(b"\n").unwrap_or(end_line).to_vec();
            if end_line.ends_with(b"\r") {
                end_line.pop();
            }
            end_line.extend_from_slice(sep);
            if with_start {
                out.push([start, sep].concat());
            }
            for (i, part) in parts.iter().enumerate() {
                let mut l = part.as_bytes().to_vec();
                if i + 1 < parts.len() {
                    l.extend_from_slice(sep);
                    out.push(l);
                } else if append_newline {
                    l.extend_from_slice(sep);
                    out.push(l);
                    out.push(end_line.clone());
                } else {
                    l.extend_from_slice(&end_line);
                    out.push(l);
                }
            }
            out
        };
        let mut new: Vec<Vec<u8>> = Vec::new();
        let mut in_block = false;
        let mut found = false;
        for line in &lines {
            if contains(line, start) {
                in_block = true;
            } else if in_block {
                if let Some(pos) = find(line, end) {
                    in_block = false;
                    found = true;
                    new.extend(block(false, &line[pos..]));
                }
                continue;
            }
            new.push(line.to_vec());
        }
        if in_block {
            return Err("Unterminated marked block. End of file reached before marker_end.".into());
        }
        if !found {
            match self.if_not_found {
                Some(Place::Prepend) => {
                    let mut head = block(true, end);
                    head.extend(new);
                    new = head;
                }
                Some(Place::Append) => {
                    if let Some(last) = new.last_mut() {
                        if !last.ends_with(b"\n") {
                            last.extend_from_slice(sep);
                        }
                    }
                    new.extend(block(true, end));
                }
                None => {
                    return Err("Cannot edit marked block. Markers were not found in file.".into())
                }
            }
        }
        Ok(new.concat())
    }
}

// ---- file.append ----------------------------------------------------------------

/// `file.append`: each text is added at the end unless the file already
/// has it.
#[derive(Debug)]
pub struct Append {
    chunks: Vec<(String, Regex)>,
}

/// Salt's `build_whitespace_split_regex`: the text's words, any run of
/// whitespace between them, as whole lines. (Salt also keeps quoted
/// strings as one word; halite splits on whitespace only.)
fn whitespace_regex(text: &str) -> String {
    let mut re = String::new();
    for line in text.lines() {
        let parts: Vec<String> = line.split_whitespace().map(regex::escape).collect();
        re.push_str(r"(?:[\s]+)?");
        re.push_str(&parts.join(r"(?:[\s]+)?"));
    }
    format!("^{re}$")
}

impl Append {
    /// `ignore_whitespace` (Salt's default): compare words, not spacing;
    /// otherwise each text is searched as a regular expression, as Salt does.
    pub fn new(texts: Vec<String>, ignore_whitespace: bool) -> Result<Append, String> {
        let chunks = texts
            .into_iter()
            .map(|t| {
                let re = if ignore_whitespace {
                    RegexBuilder::new(&whitespace_regex(&t))
                        .multi_line(true)
                        .crlf(true)
                        .unicode(false)
                        .build()
                        .map_err(|e| format!("text `{t}`: {e}"))?
                } else {
                    compile(&t, Flags::SALT_DEFAULT, false)?
                };
                Ok((t, re))
            })
            .collect::<Result<_, String>>()?;
        Ok(Append { chunks })
    }

    /// The new content and how many lines it gains.
    pub fn edit(&self, old: &[u8]) -> (Vec<u8>, usize) {
        let eol = file_eol(old);
        let mut new = old.to_vec();
        let mut added = 0;
        for (text, present) in &self.chunks {
            // Also against what this state appends: a text listed twice
            // is added once.
            if present.is_match(&new) || text.lines().next().is_none() {
                continue;
            }
            if !new.is_empty() && !new.ends_with(b"\n") {
                new.extend_from_slice(eol);
            }
            for line in text.lines() {
                new.extend_from_slice(line.as_bytes());
                new.extend_from_slice(eol);
                added += 1;
            }
        }
        (new, added)
    }
}

// ---- the state functions ------------------------------------------------------

#[derive(Debug)]
enum Edit {
    Replace(Replace),
    Line(LineEdit),
    Block(Block),
    Append(Append),
}

/// What a missing file means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    Fail,
    /// file.replace with `ignore_if_missing`.
    Ignore,
    /// file.line with `create`, file.append: start from an empty file.
    Create,
}

#[derive(Debug)]
pub struct FileEdit {
    name: String,
    edit: Edit,
    missing: Missing,
    /// file.line's `user`/`group`/`file_mode`.
    perms: Perms,
    makedirs: bool,
    backup: bool,
    show_changes: bool,
}

impl FileEdit {
    fn function(&self) -> &'static str {
        match self.edit {
            Edit::Replace(_) => "replace",
            Edit::Line(_) => "line",
            Edit::Block(_) => "blockreplace",
            Edit::Append(_) => "append",
        }
    }

    /// Salt's comments: (test mode, applied, nothing to do).
    fn comments(&self, lines: usize) -> (String, String, String) {
        let name = &self.name;
        match self.edit {
            Edit::Append(_) => (
                format!("File {name} is set to be updated"),
                format!("Appended {lines} lines"),
                format!("File {name} is in correct state"),
            ),
            Edit::Replace(_) => (
                "Changes would have been made".into(),
                "Changes were made".into(),
                "No changes needed to be made".into(),
            ),
            _ => (
                "Changes would be made".into(),
                "Changes were made".into(),
                "No changes needed to be made".into(),
            ),
        }
    }
}

impl StateFunction for FileEdit {
    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(&self.name, true, false))
    }

    fn probe(&self) -> String {
        probe_snippet(&self.name, true)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let name = &self.name;
        let (old, exists): (&[u8], bool) = match f.kind {
            Kind::File => match &f.content {
                Some(c) => (c, true),
                None => {
                    return Err(format!(
                        "{name} is {} bytes: file.{} edits files of at most {} bytes \
                         (the whole file is read back to the controller)",
                        f.size.unwrap_or(0),
                        self.function(),
                        super::DIFF_LIMIT
                    ))
                }
            },
            Kind::Missing | Kind::Dangling if self.missing == Missing::Ignore => {
                return Ok(Plan::noop("No changes needed to be made"))
            }
            Kind::Missing if self.missing == Missing::Create => {
                if f.parent_dir == Some(false) {
                    return Err(format!("The parent of {name} is not a directory"));
                }
                (b"", false)
            }
            Kind::Missing => return Err(format!("{name}: file not found")),
            Kind::Dangling => {
                return Err(format!(
                "{name}: file not found ({name} is a symbolic link to {}, which does not exist)",
                f.link_target.as_deref().unwrap_or("?")
            ))
            }
            Kind::Dir => return Err(format!("{name} is a directory, not a file")),
            Kind::Symlink | Kind::Other => {
                return Err(format!("{name} exists and is not a regular file"))
            }
        };
        if old.contains(&0) {
            return Err(format!(
                "Cannot perform string replacements on a binary file: {name}"
            ));
        }
        let (new, lines) = match &self.edit {
            Edit::Replace(r) => (r.edit(old), 0),
            Edit::Line(l) => (l.edit(old)?, 0),
            Edit::Block(b) => (b.edit(old)?, 0),
            Edit::Append(a) => a.edit(old),
        };
        let write = !exists || new != old;
        let (test_comment, _, noop) = self.comments(lines);
        let mut changes = serde_json::Map::new();
        if write {
            let diff = if !self.show_changes {
                Value::Bool(true)
            } else if !exists && new.is_empty() {
                json!("New file")
            } else {
                json!(diff_text(old, &new))
            };
            changes.insert("diff".into(), diff);
        }
        if exists {
            changes.extend(self.perms.drift(&f));
        } else {
            changes.extend(self.perms.declared());
        }
        if changes.is_empty() {
            return Ok(Plan::noop(noop));
        }
        Ok(
            Plan::change(Value::Object(changes), test_comment).with_data(EditTodo {
                content: write.then_some(new),
                sha256: f.sha256,
                lines,
            }),
        )
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = format!(
            "p={}\n# Salt follows symlinks: edit the file the link points to.\nif [ -L \"$p\" ]; then r=$(readlink -f -- \"$p\") || exit 1; p=$r; fi\n",
            quote(&self.name)
        );
        let todo = plan.data::<EditTodo>()?;
        let Some(content) = &todo.content else {
            s.push_str(&self.perms.commands(&plan.changes, "p", "exit 1"));
            return Ok(s);
        };
        s.push_str("d=$(dirname -- \"$p\")\n");
        let sha = todo.sha256.as_deref();
        if sha.is_none() {
            if self.makedirs {
                s.push_str(&mkdirs_function(&Perms::default()));
                s.push_str("mk \"$d\" || exit 1\n");
            } else {
                let hint = if matches!(self.edit, Edit::Append(_)) {
                    " (use makedirs: True)"
                } else {
                    ""
                };
                s.push_str(&format!(
                    "[ -d \"$d\" ] || {{ echo {}; exit 1; }}\n",
                    quote(&format!(
                        "Directory not present to create file {}{hint}",
                        self.name
                    ))
                ));
            }
        }
        let guard = unchanged_guard(&self.name, sha);
        s.push_str(&write_snippet(content, &self.perms, self.backup, &guard));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let lines = match plan.data::<EditTodo>() {
            Ok(t) => t.lines,
            Err(e) => return e.into(),
        };
        let (_, done, _) = self.comments(lines);
        match out.rc {
            0 => Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: done,
            },
            _ => failed_edit(&self.name, out),
        }
    }
}

/// The apply's check (before writing) that the file at `$p` is still the
/// one the plan was computed from (`sha`: its sha256, `None`: missing);
/// else it says so and exits [`STALE`].
pub(super) fn unchanged_guard(name: &str, sha: Option<&str>) -> String {
    format!(
        "if [ -e \"$p\" ] || [ -L \"$p\" ]; then h=$(sha256sum < \"$p\" | cut -d ' ' -f 1); else h=missing; fi\n\
         [ \"$h\" = {} ] || {{ echo {}; rm -f -- \"$tmp\"; exit {STALE}; }}\n",
        quote(sha.unwrap_or("missing")),
        quote(&format!(
            "{name} changed since it was read to plan this edit; not overwritten"
        ))
    )
}

/// A file edit's apply that did not finish: the file changed after the
/// probe ([`STALE`]), or the script's own words.
pub(super) fn failed_edit(name: &str, out: Output) -> Applied {
    let comment = match out.rc {
        STALE => format!(
            "{name} changed on the host after it was read (another state of this run, or \
             something else, edited it): not overwritten; apply again to edit the new content"
        ),
        rc => format!(
            "Unable to edit file {name} (exit {rc}): {}",
            out.text.trim()
        ),
    };
    Applied {
        result: false,
        changes: serde_json::Map::new(),
        comment,
    }
}

// ---- arguments ------------------------------------------------------------------

fn yes() -> bool {
    true
}

/// A scalar argument as Salt's `str()` would give it.
pub(super) fn text_arg(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        _ => None,
    }
}

/// `backup`: `minion` (or `True`) keeps the old file under
/// [`super::managed::BACKUP_DIR`], as file.managed does; `False` or empty:
/// none. Salt's default for replace/blockreplace (`.bak`, a copy beside the
/// file) is not done: it would be read by `conf.d/*` style includes.
fn backup_arg(v: &Option<Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::String(s)) if s.is_empty() => Ok(false),
        Some(Value::String(s)) if s == "minion" => Ok(true),
        Some(Value::Bool(true)) => Ok(true),
        Some(other) => Err(format!(
            "backup `{other}` is not supported (only `minion`: the old file goes to {}; \
             halite never writes NAME.bak beside the file)",
            super::managed::BACKUP_DIR
        )),
    }
}

fn place(append: bool, prepend: bool) -> Result<Option<Place>, String> {
    match (append, prepend) {
        (true, true) => Err("Only one of append and prepend_if_not_found is permitted".into()),
        (true, false) => Ok(Some(Place::Append)),
        (false, true) => Ok(Some(Place::Prepend)),
        (false, false) => Ok(None),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceArgs {
    pattern: Option<Value>,
    repl: Option<Value>,
    #[serde(default)]
    count: i64,
    flags: Option<Value>,
    /// Accepted and ignored: Salt reads the whole file whatever it says.
    #[serde(default, rename = "bufsize")]
    _bufsize: Option<Value>,
    #[serde(default)]
    append_if_not_found: bool,
    #[serde(default)]
    prepend_if_not_found: bool,
    not_found_content: Option<Value>,
    backup: Option<Value>,
    #[serde(default = "yes")]
    show_changes: bool,
    #[serde(default)]
    ignore_if_missing: bool,
    #[serde(default)]
    backslash_literal: bool,
}

pub fn build_replace(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: ReplaceArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let pattern = a
        .pattern
        .as_ref()
        .and_then(text_arg)
        .ok_or_else(|| err("`pattern` is required (a regular expression)".into()))?;
    let repl = a
        .repl
        .as_ref()
        .and_then(text_arg)
        .ok_or_else(|| err("`repl` is required (the replacement text)".into()))?;
    let count = usize::try_from(a.count)
        .map_err(|_| err(format!("count {} must be 0 (all) or more", a.count)))?;
    let flags = match &a.flags {
        None => Flags::SALT_DEFAULT,
        Some(v) => parse_flags(v).map_err(err)?,
    };
    let not_found = a.not_found_content.as_ref().and_then(text_arg);
    let r = Replace::new(
        &pattern,
        &repl,
        count,
        flags,
        place(a.append_if_not_found, a.prepend_if_not_found).map_err(err)?,
        not_found.as_deref(),
        a.backslash_literal,
    )
    .map_err(err)?;
    Ok(Box::new(FileEdit {
        name,
        edit: Edit::Replace(r),
        missing: if a.ignore_if_missing {
            Missing::Ignore
        } else {
            Missing::Fail
        },
        perms: Perms::default(),
        makedirs: false,
        backup: backup_arg(&a.backup).map_err(err)?,
        show_changes: a.show_changes,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineArgs {
    content: Option<Value>,
    #[serde(rename = "match")]
    matcher: Option<Value>,
    mode: Option<String>,
    location: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    #[serde(default = "yes")]
    show_changes: bool,
    backup: Option<Value>,
    #[serde(default = "yes")]
    indent: bool,
    #[serde(default)]
    create: bool,
    user: Option<Value>,
    group: Option<Value>,
    file_mode: Option<Value>,
}

pub fn build_line(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: LineArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let mode = match a.mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => return Err(err("Mode was not defined. How to process the file?".into())),
        Some("ensure") => LineMode::Ensure,
        Some("replace") => LineMode::Replace,
        Some("insert") => LineMode::Insert,
        Some("delete") => LineMode::Delete,
        Some(m) => return Err(err(format!("Unknown mode: \"{m}\""))),
    };
    let content = a.content.as_ref().and_then(text_arg);
    if content.is_none() && mode != LineMode::Delete {
        return Err(err("Content can only be empty if mode is delete".into()));
    }
    // Salt treats empty strings as not given.
    let finder = |v: &Option<Value>| -> Result<Option<Finder>, String> {
        match v.as_ref().and_then(text_arg).filter(|s| !s.is_empty()) {
            Some(p) => Finder::new(&p).map(Some).map_err(err),
            None => Ok(None),
        }
    };
    let before = finder(&a.before)?;
    let after = finder(&a.after)?;
    // Salt matches `content` itself when neither match nor before/after is
    // given; only delete and replace use the match.
    let matcher = match finder(&a.matcher)? {
        Some(m) => Some(m),
        None if before.is_none()
            && after.is_none()
            && matches!(mode, LineMode::Delete | LineMode::Replace) =>
        {
            finder(&content.clone().map(Value::String))?
        }
        None => None,
    };
    let location = match a.location.as_deref() {
        None | Some("") => None,
        Some("start") => Some(Location::Start),
        Some("end") => Some(Location::End),
        Some(l) => return Err(err(format!("location `{l}` must be start or end"))),
    };
    match mode {
        LineMode::Insert if location.is_none() && before.is_none() && after.is_none() => {
            return Err(err(
                "On insert either \"location\" or \"before/after\" conditions are required.".into(),
            ))
        }
        LineMode::Ensure if before.is_none() && after.is_none() => {
            return Err(err(
                "Wrong conditions? Unable to ensure line without knowing where to put it \
                 before and/or after."
                    .into(),
            ))
        }
        LineMode::Delete | LineMode::Replace if matcher.is_none() => {
            return Err(err(
                "mode delete and replace need `match` (or `content`)".into()
            ))
        }
        _ => {}
    }
    Ok(Box::new(FileEdit {
        name,
        edit: Edit::Line(LineEdit {
            mode,
            content,
            matcher,
            location,
            before,
            after,
            indent: a.indent,
        }),
        missing: if a.create {
            Missing::Create
        } else {
            Missing::Fail
        },
        perms: perms(chunk, &a.user, &a.group, &a.file_mode)?,
        makedirs: false,
        backup: backup_arg(&a.backup).map_err(err)?,
        show_changes: a.show_changes,
    }))
}

fn default_start() -> String {
    "#-- start managed zone --".into()
}

fn default_end() -> String {
    "#-- end managed zone --".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockArgs {
    #[serde(default = "default_start")]
    marker_start: String,
    #[serde(default = "default_end")]
    marker_end: String,
    content: Option<Value>,
    #[serde(default)]
    append_if_not_found: bool,
    #[serde(default)]
    prepend_if_not_found: bool,
    backup: Option<Value>,
    #[serde(default = "yes")]
    show_changes: bool,
    append_newline: Option<bool>,
}

pub fn build_blockreplace(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: BlockArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    if a.marker_start.is_empty() || a.marker_end.is_empty() {
        return Err(err("marker_start and marker_end must not be empty".into()));
    }
    let content = match &a.content {
        None | Some(Value::Null) => String::new(),
        Some(v) => text_arg(v).ok_or_else(|| err(format!("content `{v}` is not text")))?,
    };
    Ok(Box::new(FileEdit {
        name,
        edit: Edit::Block(Block {
            marker_start: a.marker_start,
            marker_end: a.marker_end,
            content,
            if_not_found: place(a.append_if_not_found, a.prepend_if_not_found).map_err(err)?,
            append_newline: a.append_newline,
        }),
        missing: Missing::Fail,
        perms: Perms::default(),
        makedirs: false,
        backup: backup_arg(&a.backup).map_err(err)?,
        show_changes: a.show_changes,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendArgs {
    text: Option<Value>,
    #[serde(default)]
    makedirs: bool,
    #[serde(default = "yes")]
    ignore_whitespace: bool,
}

pub fn build_append(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: AppendArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let texts: Vec<String> = match &a.text {
        None | Some(Value::Null) => {
            return Err(err("No text found to append. Nothing appended".into()))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| text_arg(v).ok_or_else(|| err(format!("text item `{v}` is not text"))))
            .collect::<Result<_, _>>()?,
        Some(v) => vec![text_arg(v).ok_or_else(|| err(format!("text `{v}` is not text")))?],
    };
    Ok(Box::new(FileEdit {
        name,
        edit: Edit::Append(Append::new(texts, a.ignore_whitespace).map_err(err)?),
        missing: Missing::Create,
        perms: Perms::default(),
        makedirs: a.makedirs,
        backup: false,
        show_changes: true,
    }))
}

#[cfg(test)]
mod tests;
