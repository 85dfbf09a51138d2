//! Shell-style globs with the exact semantics of Python's `fnmatch`, which is
//! what Salt's glob matcher (`fnmatch.fnmatch(id, tgt)`) and its grain
//! matcher (`subdict_match`) use.
//!
//! Why not `globset`: its syntax is a superset of fnmatch with different
//! meanings for the same characters, and every difference changes which
//! hosts a Salt expression selects:
//! - `{a,b}` is alternation in globset, literal braces in fnmatch;
//! - `\` escapes in globset, is a literal character in fnmatch;
//! - `[^a]` negates in globset, is the class {`^`, `a`} in fnmatch;
//! - `web[1` is an error in globset (unless `allow_unclosed_class`), a
//!   literal `[` in fnmatch;
//! - `[z-a]` is an error in globset, an empty range that never matches in
//!   fnmatch (and `**` carries path meaning in globset).
//!
//! Neutralising those by pre-escaping cannot express every fnmatch class
//! (globset classes have no escapes), so we translate fnmatch to a regex
//! the way CPython's `fnmatch.translate` does and let the `regex` crate
//! (already used for `-E`) do the matching.

use regex::Regex;

/// Compile an fnmatch pattern into a regex matching the whole string.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&translate(pattern)).map_err(|e| super::regex_reason(&e))
}

/// The regex equivalent of an fnmatch pattern, anchored at both ends.
pub(super) fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let n = chars.len();
    // `(?s)`: fnmatch's `*` and `?` also match newlines.
    let mut out = String::from(r"(?s)\A(?:");
    let mut i = 0;
    let mut last_was_star = false;
    while i < n {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                // Runs of stars are one star; collapsing keeps the regex linear.
                if !last_was_star {
                    out.push_str(".*");
                }
                last_was_star = true;
                continue;
            }
            '?' => out.push('.'),
            '[' => {
                // Find the closing bracket the way fnmatch does: a `]` right
                // after `[` or `[!` is a member, not the end.
                let mut j = i;
                if j < n && chars[j] == '!' {
                    j += 1;
                }
                if j < n && chars[j] == ']' {
                    j += 1;
                }
                while j < n && chars[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    // Unclosed: the bracket is a literal character.
                    out.push_str(r"\[");
                } else {
                    let content = &chars[i..j];
                    match content.split_first() {
                        Some(('!', rest)) => push_class(&mut out, rest, true),
                        _ => push_class(&mut out, content, false),
                    }
                    i = j + 1;
                }
            }
            c => push_literal(&mut out, c),
        }
        last_was_star = false;
    }
    out.push_str(r")\z");
    out
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Emit a class from fnmatch class content (without the leading `!`).
///
/// fnmatch reads `x-y` left to right as a range; a `-` first or last is a
/// member; a reversed range (`z-a`) is dropped rather than rejected.
/// Members are written as `\x{..}` so no character is special inside the
/// regex class (`^`, `[`, `&&`, `--`, `~~` would otherwise be).
fn push_class(out: &mut String, content: &[char], negated: bool) {
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut k = 0;
    while k < content.len() {
        let lo = content[k];
        if k + 2 < content.len() && content[k + 1] == '-' {
            let hi = content[k + 2];
            if lo <= hi {
                ranges.push((lo, hi));
            }
            k += 3;
        } else {
            ranges.push((lo, lo));
            k += 1;
        }
    }
    if ranges.is_empty() {
        // fnmatch: an empty set never matches, a negated empty set matches
        // any one character.
        out.push_str(if negated { "." } else { r"[^\x{0}-\x{10FFFF}]" });
        return;
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    for (lo, hi) in ranges {
        out.push_str(&format!(r"\x{{{:X}}}", lo as u32));
        if lo != hi {
            out.push_str(&format!(r"-\x{{{:X}}}", hi as u32));
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnmatch(name: &str, pattern: &str) -> bool {
        compile(pattern)
            .expect("every fnmatch pattern compiles")
            .is_match(name)
    }

    #[test]
    fn star_matches_anything_including_dots_and_slashes() {
        assert!(fnmatch("web1.example.com", "web*"));
        assert!(fnmatch("web1.example.com", "*.com"));
        assert!(fnmatch("a/b", "a*b"));
        assert!(fnmatch("", "*"));
        assert!(fnmatch("web", "web*"));
        assert!(fnmatch("web", "***web***"));
        assert!(!fnmatch("db1", "web*"));
    }

    #[test]
    fn whole_string_and_case_sensitive() {
        assert!(!fnmatch("web1x", "web1"));
        assert!(!fnmatch("xweb1", "web1"));
        assert!(!fnmatch("WEB1", "web1"));
        assert!(fnmatch("web1", "web1"));
        assert!(!fnmatch("web1\n", "web1"));
    }

    #[test]
    fn question_mark_is_exactly_one_character() {
        assert!(fnmatch("web1", "web?"));
        assert!(!fnmatch("web", "web?"));
        assert!(!fnmatch("web12", "web?"));
        assert!(fnmatch("wébé", "w?b?"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(fnmatch("web1", "web[123]"));
        assert!(!fnmatch("web4", "web[123]"));
        assert!(fnmatch("web4", "web[!123]"));
        assert!(!fnmatch("web1", "web[!123]"));
        assert!(fnmatch("web7", "web[0-9]"));
        assert!(!fnmatch("weba", "web[0-9]"));
        assert!(fnmatch("web-", "web[a-]"));
        assert!(fnmatch("web-", "web[-a]"));
        assert!(fnmatch("web-", "web[!a]"));
        assert!(fnmatch("web]", "web[]]"));
        assert!(fnmatch("web]", "web[]a]"));
        assert!(!fnmatch("web]", "web[!]]"));
        assert!(fnmatch("webx", "web[!]]"));
    }

    #[test]
    fn characters_special_elsewhere_are_literal() {
        // `^` first in a class is a member in fnmatch, not a negation.
        assert!(fnmatch("web^", "web[^a]"));
        assert!(fnmatch("weba", "web[^a]"));
        assert!(!fnmatch("webb", "web[^a]"));
        // Braces are not alternation, backslash is not an escape.
        assert!(fnmatch("web{1,2}", "web{1,2}"));
        assert!(!fnmatch("web1", "web{1,2}"));
        assert!(fnmatch(r"a\b", r"a\b"));
        assert!(fnmatch(r"a\*", r"a\*"));
        assert!(fnmatch(r"a\xyz", r"a\*"));
        assert!(fnmatch(r"a\", r"a[\]"));
        // Regex metacharacters are plain characters.
        assert!(fnmatch("a.b+c(d)|e$", "a.b+c(d)|e$"));
        assert!(!fnmatch("axb", "a.b"));
        // Regex class operators inside a glob class are members.
        assert!(fnmatch("&", "[a&&b]"));
        assert!(fnmatch("~", "[~~]"));
    }

    #[test]
    fn unclosed_bracket_is_literal() {
        assert!(fnmatch("web[1", "web[1"));
        assert!(fnmatch("web[!", "web[!"));
        assert!(!fnmatch("web1", "web[1"));
    }

    #[test]
    fn reversed_and_empty_ranges_follow_fnmatch() {
        // A reversed range is dropped: the class keeps its other members.
        assert!(fnmatch("a", "[az-ab]"));
        assert!(fnmatch("b", "[az-ab]"));
        assert!(!fnmatch("m", "[az-ab]"));
        // A class left empty never matches; negated, it matches any char.
        assert!(!fnmatch("a", "[z-a]"));
        assert!(fnmatch("a", "[!z-a]"));
        // `-` can start or end a range.
        assert!(fnmatch(".", "[--/]"));
        assert!(fnmatch("-", "[+--]"));
        // After a range, a `-` starts the next item.
        assert!(fnmatch("-", "[a-c-e]"));
        assert!(fnmatch("e", "[a-c-e]"));
        assert!(!fnmatch("d", "[a-c-e]"));
    }
}
