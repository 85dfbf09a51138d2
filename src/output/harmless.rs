//! Remote output made harmless before it reaches a terminal.
//!
//! What a host prints (command output, error text, file diffs) is data from a
//! machine we do not control: an escape sequence in it could recolour, move
//! the cursor, retitle the window or hide lines on the operator's terminal.
//! On a terminal, every control character except newline and tab is shown in
//! `cat -v`'s caret notation (ESC as `^[`, a lone carriage return as `^M`,
//! C1 controls as `M-^[`); pipes and files get the bytes unchanged, as do
//! JSON, YAML and JUnit, which escape control characters themselves.

use std::borrow::Cow;

use crate::fleet::HostResult;

/// `s` with its control characters shown, or borrowed when it has none.
pub fn text(s: &str) -> Cow<'_, str> {
    if !needs_cleaning(s) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let lone_cr = c == '\r' && chars.get(i + 1) != Some(&'\n');
        match c as u32 {
            _ if c == '\r' && !lone_cr => out.push(c),
            0x0a | 0x09 => out.push(c),
            n @ (0x00..=0x1f) => {
                out.push('^');
                out.push(char::from(n as u8 + 0x40));
            }
            0x7f => out.push_str("^?"),
            n @ 0x80..=0x9f => {
                out.push_str("M-^");
                out.push(char::from((n - 0x80) as u8 + 0x40));
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `s` holds a control character other than newline, tab and the
/// carriage return of a CRLF line end.
fn needs_cleaning(s: &str) -> bool {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => {}
            '\r' if chars.peek() == Some(&'\n') => {}
            c if c.is_control() => return true,
            _ => {}
        }
    }
    false
}

/// Every string in `v` (keys too) made harmless.
pub fn value(v: &mut crate::Value) {
    match v {
        crate::Value::String(s) => {
            if let Cow::Owned(o) = text(s) {
                *s = o;
            }
        }
        crate::Value::Array(items) => items.iter_mut().for_each(value),
        crate::Value::Object(map) => {
            let hostile = map.keys().any(|k| matches!(text(k), Cow::Owned(_)));
            if hostile {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (text(&k).into_owned(), v))
                    .collect();
            }
            map.values_mut().for_each(value);
        }
        _ => {}
    }
}

/// A host's result with everything the host sent made harmless.
pub fn host(r: &HostResult) -> HostResult {
    let mut r = r.clone();
    value(&mut r.ret);
    if let Some(d) = &mut r.drift {
        d.texts_mut(&mut |t| {
            if let Cow::Owned(o) = text(t) {
                *t = o;
            }
        });
    }
    if let Some(e) = &mut r.error {
        *e = text(e).into_owned();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert!(matches!(text("plain\ttext\r\n"), Cow::Borrowed(_)));
        assert_eq!(text("\x1b[31mred\x1b[0m"), "^[[31mred^[[0m");
        assert_eq!(text("title\x1b]0;pwned\x07"), "title^[]0;pwned^G");
        assert_eq!(text("ok\rFAKE"), "ok^MFAKE");
        assert_eq!(text("a\u{9b}2J\u{7f}"), "aM-^[2J^?");
        assert_eq!(text("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn values_keys_and_errors_are_cleaned() {
        let mut v = serde_json::json!({"k\x1b": ["\x1b[2J", {"x": "\x07"}], "n": 1});
        value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"k^[": ["^[[2J", {"x": "^G"}], "n": 1})
        );
    }
}
