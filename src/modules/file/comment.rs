//! `file.comment` and `file.uncomment`: put a comment character in front
//! of the lines a regular expression matches, or take it away.
//!
//! Salt's rules (`salt.states.file.comment` / `uncomment` and
//! `salt.modules.file.comment_line`) are kept to the letter, quirks
//! included, because formulas rely on their outcome:
//!
//! - Whether there is work is decided by two MULTILINE searches over the
//!   whole file (`file.search`, byte patterns): comment looks for the
//!   pattern, stripped of one leading inline flag group, `^` and `$`, on a
//!   line that does not start with the comment character (a negative
//!   look-ahead, hence fancy-regex), and calls it "already commented" when
//!   the character followed by the pattern is found anywhere; uncomment
//!   looks for the character, optional blanks and the pattern, and calls
//!   it "already uncommented" when the pattern starts a line.
//! - The edit itself matches each line from its start (`re.match`) with
//!   the pattern wrapped in a group, its `^` and `$` kept outside: comment
//!   prefixes the character, uncomment strips every leading character that
//!   is one of the comment string's (Python's `lstrip`).
//! - The result is a last search of the edited content: a matching search
//!   but no edited line ends the state `False` without changes.
//!
//! All of this is computed by [`Commenter::edit`] from the file the probe
//! brought back, so test=True shows the diff (and the failure) the apply
//! will have; Salt's test mode says `{name: updated}` instead. The apply
//! writes the new content like the other edits (temporary file and `mv`,
//! only over the content planned from), the old one kept as
//! `NAME<backup>` beside the file, as Salt does.

use fancy_regex::{BytesMode, Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::json;

use super::edit::{failed_edit, py_pattern_fancy, text_arg, unchanged_guard};
use super::managed::write_snippet;
use super::{check_name, diff_text, parse_facts, probe_snippet, Kind, Perms};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// The compiled patterns of one state.
#[derive(Debug)]
pub struct Commenter {
    /// `true`: file.comment; `false`: file.uncomment.
    comment: bool,
    /// The comment string (Salt's `char`).
    chr: String,
    /// A line still to edit is somewhere (MULTILINE, bytes).
    todo: Regex,
    /// The edit's outcome is there (MULTILINE, bytes): before the edit it
    /// means "already done", after it the state's result.
    done: Regex,
    /// comment_line's pattern, matched at the start of each line.
    line: Regex,
    /// comment: ignore a pattern found nowhere.
    ignore_missing: bool,
    /// How the "Pattern not found" error names the pattern.
    shown: String,
}

/// What [`Commenter::edit`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to edit; the state succeeds with this comment.
    Nothing(&'static str),
    /// The edit: the new content (the old one when no line matched) and
    /// whether the result check found what it wants.
    Edited { new: Vec<u8>, ok: bool },
}

/// Salt's `re.sub(r"^(\(\?[iLmsux]\))?\^?(.*?)\$?$", r"\2", regex)`: one
/// leading single-letter inline flag group, one `^` and one trailing `$`
/// go (the flag is lost, as in Salt). A pattern with a newline is left
/// alone (`.` does not cross it there either).
fn unanchor(regex: &str) -> &str {
    if regex.contains('\n') {
        return regex;
    }
    let mut r = regex;
    let b = r.as_bytes();
    if b.len() >= 4 && b[0] == b'(' && b[1] == b'?' && b"iLmsux".contains(&b[2]) && b[3] == b')' {
        r = &r[4..];
    }
    r = r.strip_prefix('^').unwrap_or(r);
    r.strip_suffix('$').unwrap_or(r)
}

/// A Salt-built Python pattern, compiled. `search`: file.search's
/// MULTILINE byte pattern (ASCII classes); else comment_line's `str`
/// pattern, anchored at the start as `re.match` is.
fn compile(pattern: &str, search: bool) -> Result<Regex, String> {
    let translated = py_pattern_fancy(pattern)?;
    let b = if search {
        let mut b = RegexBuilder::new(&translated);
        b.multi_line(true).bytes_mode(BytesMode::Ascii);
        b
    } else {
        RegexBuilder::new(&format!(r"\A(?:{translated})"))
    };
    b.build()
        .map_err(|e| format!("pattern `{pattern}` is not valid: {e}"))
}

/// Python refuses an inline global flag group (`(?i)`) anywhere but at
/// the very start of a pattern, and Salt's line pattern always starts with
/// its own `^` or `(`: such a pattern makes Salt's edit raise. Refused
/// when the state is built instead.
fn global_flags(regex: &str) -> Result<(), String> {
    let b = regex.as_bytes();
    let (mut i, mut class) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => class = true,
            b']' => class = false,
            b'(' if !class && b.get(i + 1) == Some(&b'?') => {
                let flags = b[i + 2..]
                    .iter()
                    .take_while(|c| b"aiLmsux".contains(c))
                    .count();
                if flags > 0 && b.get(i + 2 + flags) == Some(&b')') {
                    return Err(format!(
                        "pattern `{regex}`: global flags not at the start of the expression \
                         (Salt wraps the pattern in a group, which Python's re refuses); \
                         use a scoped group such as (?i:...)"
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Every leading character of `line` that is one of `set`'s (`lstrip`).
fn lstrip<'a>(line: &'a str, set: &str) -> &'a str {
    line.trim_start_matches(|c| set.contains(c))
}

impl Commenter {
    /// file.comment's patterns.
    pub fn comment(regex: &str, chr: &str, ignore_missing: bool) -> Result<Commenter, String> {
        global_flags(regex)?;
        let un = unanchor(regex);
        let core = regex.trim_start_matches('^').trim_end_matches('$');
        let line = format!(
            "{}({core}){}",
            if regex.starts_with('^') { "^" } else { "" },
            if regex.ends_with('$') { "$" } else { "" }
        );
        Ok(Commenter {
            comment: true,
            chr: chr.to_string(),
            todo: compile(&format!(r"^(?!\s*{chr})\s*{un}"), true)?,
            done: compile(&format!("{chr}{un}"), true)?,
            line: compile(&line, false)?,
            ignore_missing,
            shown: un.to_string(),
        })
    }

    /// file.uncomment's patterns.
    pub fn uncomment(regex: &str, chr: &str) -> Result<Commenter, String> {
        global_flags(regex)?;
        let bare = regex.trim_start_matches('^');
        let core = bare.trim_end_matches('$');
        let line = format!(
            r"^{chr}\s*({core}){}",
            if regex.ends_with('$') { "$" } else { "" }
        );
        Ok(Commenter {
            comment: false,
            chr: chr.to_string(),
            todo: compile(&format!("{chr}[ \t]*{bare}"), true)?,
            done: compile(&format!("^[ \t]*{bare}"), true)?,
            line: compile(&line, false)?,
            ignore_missing: false,
            shown: regex.to_string(),
        })
    }

    fn found(re: &Regex, text: &[u8]) -> Result<bool, String> {
        re.is_match(text)
            .map_err(|e| format!("pattern `{}` could not be searched: {e}", re.as_str()))
    }

    /// Salt's decision and edit for a text file's content.
    pub fn edit(&self, old: &str) -> Result<Outcome, String> {
        let bytes = old.as_bytes();
        if !Self::found(&self.todo, bytes)? {
            if Self::found(&self.done, bytes)? {
                return Ok(Outcome::Nothing(if self.comment {
                    "Pattern already commented"
                } else {
                    "Pattern already uncommented"
                }));
            }
            if self.ignore_missing {
                return Ok(Outcome::Nothing(
                    "Pattern not found and ignore_missing set to True",
                ));
            }
            return Err(format!("{}: Pattern not found", self.shown));
        }
        let mut new = String::with_capacity(old.len() + 16);
        for line in old.split_inclusive('\n') {
            // `$` of re.match also matches before the line's final newline.
            let text = line.strip_suffix('\n').unwrap_or(line);
            let hit = self.line.is_match(text).map_err(|e| {
                format!("pattern `{}` could not be matched: {e}", self.line.as_str())
            })?;
            if !hit {
                new.push_str(line);
            } else if self.comment {
                new.push_str(&self.chr);
                new.push_str(line);
            } else {
                new.push_str(lstrip(line, &self.chr));
            }
        }
        let ok = Self::found(&self.done, new.as_bytes())?;
        Ok(Outcome::Edited {
            new: new.into_bytes(),
            ok,
        })
    }
}

/// Salt's diff here: `difflib.unified_diff` of the lines, joined, so a
/// last line without a newline runs into the next diff line (`-foo+#foo`)
/// where [`diff_text`] notes "\ No newline at end of file".
fn salt_diff(old: &[u8], new: &[u8]) -> String {
    diff_text(old, new).replace("\n\\ No newline at end of file\n", "")
}

/// The plan's data: the apply writes `content` over the file whose hash
/// was `sha256`; `ok` is the result the edit ends with.
#[derive(Debug, PartialEq)]
struct Todo {
    content: Vec<u8>,
    sha256: String,
    ok: bool,
}

#[derive(Debug)]
pub struct Comment {
    name: String,
    edit: Commenter,
    /// The suffix of the copy of the old file (`None`: no copy).
    backup: Option<String>,
}

impl Comment {
    /// Salt's comments: (done, not done).
    fn verdicts(&self) -> (&'static str, &'static str) {
        if self.edit.comment {
            (
                "Commented lines successfully",
                "Expected commented lines not found",
            )
        } else {
            (
                "Uncommented lines successfully",
                "Expected uncommented lines not found",
            )
        }
    }
}

impl StateFunction for Comment {
    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(&self.name, true, false))
    }

    fn probe(&self) -> String {
        probe_snippet(&self.name, true)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let name = &self.name;
        let old = match f.kind {
            Kind::File => f.content.as_deref().ok_or_else(|| {
                format!(
                    "{name} is {} bytes: file.comment and file.uncomment edit files of at most {} \
                     bytes (the whole file is read back to the controller)",
                    f.size.unwrap_or(0),
                    super::DIFF_LIMIT
                )
            })?,
            Kind::Missing | Kind::Dangling => return Err(format!("{name}: file not found")),
            Kind::Dir => return Err(format!("{name} is a directory, not a file")),
            Kind::Symlink | Kind::Other => {
                return Err(format!("{name} exists and is not a regular file"))
            }
        };
        let text = std::str::from_utf8(old)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| {
                format!("Cannot perform string replacements on a binary file: {name}")
            })?;
        let (yes, no) = self.verdicts();
        let (new, ok) = match self.edit.edit(text)? {
            Outcome::Nothing(comment) => return Ok(Plan::noop(comment)),
            Outcome::Edited { new, ok } => (new, ok),
        };
        if new == old {
            // Salt's apply rewrites nothing and reports its last search.
            return if ok {
                Ok(Plan::noop(yes))
            } else {
                Err(no.into())
            };
        }
        Ok(Plan::change(
            json!({"diff": salt_diff(old, &new)}),
            format!("File {name} is set to be updated"),
        )
        .with_data(Todo {
            content: new,
            sha256: f.sha256.unwrap_or_default(),
            ok,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Todo>()?;
        let mut s = format!(
            "p={}\n# Salt edits the file a link points to (and backs it up there).\n\
             if [ -L \"$p\" ]; then r=$(readlink -f -- \"$p\") || exit 1; p=$r; fi\n\
             d=$(dirname -- \"$p\")\n",
            quote(&self.name)
        );
        // The file must still be what the plan was computed from; the old
        // one is copied to NAME<backup> only then.
        let mut guard = unchanged_guard(&self.name, Some(&todo.sha256));
        if let Some(suffix) = &self.backup {
            guard.push_str(&format!(
                "cp -p -- \"$p\" \"$p\"{} || fail\n",
                quote(suffix)
            ));
        }
        s.push_str(&write_snippet(
            &todo.content,
            &Perms::default(),
            false,
            &guard,
        ));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let todo = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let (yes, no) = self.verdicts();
        match out.rc {
            0 => Applied {
                result: todo.ok,
                changes: plan.changes.clone(),
                comment: if todo.ok { yes } else { no }.into(),
            },
            _ => failed_edit(&self.name, out),
        }
    }
}

// ---- arguments ------------------------------------------------------------------

fn hash() -> Value {
    Value::String("#".into())
}

fn dot_bak() -> Value {
    Value::String(".bak".into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentArgs {
    regex: Option<Value>,
    #[serde(default = "hash", rename = "char")]
    chr: Value,
    #[serde(default = "dot_bak")]
    backup: Value,
    #[serde(default)]
    ignore_missing: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UncommentArgs {
    regex: Option<Value>,
    #[serde(default = "hash", rename = "char")]
    chr: Value,
    #[serde(default = "dot_bak")]
    backup: Value,
}

/// `backup`: the suffix of the old file's copy beside it; `False`, null
/// or empty: none. A suffix with a `/` would put the copy elsewhere: an
/// error, as is any value that is not a string.
fn backup_suffix(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) if !s.contains('/') && !s.contains('\0') => Ok(Some(s.clone())),
        other => Err(format!(
            "backup `{other}` must be a file name suffix such as .bak (no `/`), or False"
        )),
    }
}

/// The required `regex` and the `char` string, as Salt's `str()` reads them.
fn regex_and_char(regex: &Option<Value>, chr: &Value) -> Result<(String, String), String> {
    let regex = regex
        .as_ref()
        .and_then(text_arg)
        .ok_or("`regex` is required (a regular expression)")?;
    let chr = text_arg(chr).ok_or_else(|| format!("char `{chr}` is not text"))?;
    Ok((regex, chr))
}

pub fn build_comment(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: CommentArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let (regex, chr) = regex_and_char(&a.regex, &a.chr).map_err(err)?;
    Ok(Box::new(Comment {
        name,
        edit: Commenter::comment(&regex, &chr, a.ignore_missing).map_err(err)?,
        backup: backup_suffix(&a.backup).map_err(err)?,
    }))
}

pub fn build_uncomment(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: UncommentArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let (regex, chr) = regex_and_char(&a.regex, &a.chr).map_err(err)?;
    Ok(Box::new(Comment {
        name,
        edit: Commenter::uncomment(&regex, &chr).map_err(err)?,
        backup: backup_suffix(&a.backup).map_err(err)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &Commenter, old: &str) -> Result<Outcome, String> {
        c.edit(old)
    }

    fn edited(new: &str, ok: bool) -> Result<Outcome, String> {
        Ok(Outcome::Edited {
            new: new.as_bytes().to_vec(),
            ok,
        })
    }

    #[test]
    fn unanchor_strips_one_flag_group_caret_and_dollar() {
        assert_eq!(unanchor("^foo$"), "foo");
        assert_eq!(unanchor("(?i)^foo"), "foo");
        assert_eq!(unanchor("^^foo$$"), "^foo$");
        assert_eq!(unanchor("(?ix)foo"), "(?ix)foo");
        assert_eq!(unanchor("foo"), "foo");
    }

    #[test]
    fn comment_prefixes_the_lines_matched_from_their_start() {
        let c = Commenter::comment("^bind 127.0.0.1", "#", false).unwrap();
        assert_eq!(
            run(&c, "# Redis\nbind 127.0.0.1\nport 6379\n"),
            edited("# Redis\n#bind 127.0.0.1\nport 6379\n", true)
        );
        assert_eq!(
            run(&c, "# Redis\n#bind 127.0.0.1\n"),
            Ok(Outcome::Nothing("Pattern already commented"))
        );
        let all = Commenter::comment("^opt", "#", false).unwrap();
        assert_eq!(run(&all, "opt1\nx\nopt2"), edited("#opt1\nx\n#opt2", true));
    }

    #[test]
    fn dollar_matches_before_the_newline_not_a_carriage_return() {
        let c = Commenter::comment("^foo = 1$", "#", false).unwrap();
        assert_eq!(
            run(&c, "foo = 1\nfoo = 10\n"),
            edited("#foo = 1\nfoo = 10\n", true)
        );
        // The search has no `$`: `foo = 10` is work, the edit does nothing,
        // and the result search finds `#foo = 1`: Salt's success.
        assert_eq!(
            run(&c, "#foo = 1\nfoo = 10\n"),
            edited("#foo = 1\nfoo = 10\n", true)
        );
        let crlf = Commenter::comment("^a$", "#", false).unwrap();
        assert_eq!(run(&crlf, "a\r\n"), edited("a\r\n", false));
    }

    #[test]
    fn an_indented_line_is_found_but_not_edited() {
        let c = Commenter::comment("indented", "#", false).unwrap();
        assert_eq!(
            run(&c, "  indented yes\n"),
            edited("  indented yes\n", false)
        );
    }

    #[test]
    fn a_pattern_found_nowhere_is_an_error_unless_ignored() {
        let c = Commenter::comment("^nothing here$", "#", false).unwrap();
        assert_eq!(
            run(&c, "a = 1\n"),
            Err("nothing here: Pattern not found".into())
        );
        let c = Commenter::comment("^nothing", "#", true).unwrap();
        assert_eq!(
            run(&c, "a = 1\n"),
            Ok(Outcome::Nothing(
                "Pattern not found and ignore_missing set to True"
            ))
        );
        let u = Commenter::uncomment("^absent", "#").unwrap();
        assert_eq!(run(&u, "a = 1\n"), Err("^absent: Pattern not found".into()));
    }

    #[test]
    fn uncomment_strips_every_leading_comment_character() {
        let u = Commenter::uncomment("EXTRA_GROUPS", "#").unwrap();
        assert_eq!(
            run(&u, "A=1\n#EXTRA_GROUPS=\"users\"\n##EXTRA_GROUPS_TWICE=1\n"),
            edited(
                "A=1\nEXTRA_GROUPS=\"users\"\n##EXTRA_GROUPS_TWICE=1\n",
                true
            )
        );
        let spaced = Commenter::uncomment("^EXTRA_USERS", "#").unwrap();
        assert_eq!(
            run(&spaced, "# EXTRA_USERS=1\n"),
            edited(" EXTRA_USERS=1\n", true)
        );
        assert_eq!(
            run(&spaced, " EXTRA_USERS=1\n"),
            Ok(Outcome::Nothing("Pattern already uncommented"))
        );
        let slashes = Commenter::uncomment("debug = true;$", "//").unwrap();
        assert_eq!(
            run(&slashes, "// debug = true;\n/// debug = true;\n"),
            edited(" debug = true;\n/// debug = true;\n", true)
        );
    }

    #[test]
    fn another_comment_character() {
        let c = Commenter::comment("^extension=gd", ";", false).unwrap();
        assert_eq!(
            run(&c, "[PHP]\nextension=gd\nextension=curl\n"),
            edited("[PHP]\n;extension=gd\nextension=curl\n", true)
        );
        assert_eq!(
            run(&c, "[PHP]\n;extension=gd\n"),
            Ok(Outcome::Nothing("Pattern already commented"))
        );
    }

    #[test]
    fn python_syntax_and_bad_patterns() {
        // A lone `{` is literal in Python.
        let c = Commenter::comment("^a{b", "#", false).unwrap();
        assert_eq!(run(&c, "a{b\n"), edited("#a{b\n", true));
        assert!(Commenter::comment("^(foo", "#", false)
            .unwrap_err()
            .contains("not valid"));
        // Salt's edit raises on a global flag group; a scoped one works.
        for p in ["(?i)^foo", "^foo(?s)"] {
            assert!(Commenter::comment(p, "#", false)
                .unwrap_err()
                .contains("global flags"));
        }
        assert!(Commenter::uncomment("(?i)foo", "#").is_err());
        let c = Commenter::comment("^(?i:foo)", "#", false).unwrap();
        assert_eq!(run(&c, "FOO\n"), edited("#FOO\n", true));
        // Inside a class or escaped, `(?i)` is no flag group.
        let c = Commenter::comment(r"^a[(?i)]\(?i\)", "#", false).unwrap();
        assert_eq!(run(&c, "ai(i)\n"), edited("#ai(i)\n", true));
    }

    #[test]
    fn a_last_line_without_newline_diffs_as_difflib_does() {
        assert_eq!(
            salt_diff(b"a\nfoo", b"a\n#foo"),
            "--- \n+++ \n@@ -1,2 +1,2 @@\n a\n-foo+#foo"
        );
        assert_eq!(
            salt_diff(b"foo\nb", b"#foo\nb"),
            "--- \n+++ \n@@ -1,2 +1,2 @@\n-foo\n+#foo\n b"
        );
    }

    #[test]
    fn backup_takes_a_suffix_or_nothing() {
        assert_eq!(backup_suffix(&json!(".bak")), Ok(Some(".bak".into())));
        assert_eq!(backup_suffix(&json!(false)), Ok(None));
        assert_eq!(backup_suffix(&json!("")), Ok(None));
        assert_eq!(backup_suffix(&Value::Null), Ok(None));
        assert!(backup_suffix(&json!("/../x")).is_err());
        assert!(backup_suffix(&json!(true)).is_err());
    }
}
