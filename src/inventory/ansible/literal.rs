//! The values of an Ansible INI inventory: Ansible reads each with Python's
//! `ast.literal_eval` and keeps the text as written when that fails. This
//! reads the same literals (numbers, quoted strings, `True`/`False`/`None`,
//! lists, tuples, dicts, sets) into JSON values; anything else is the text.

use crate::Value;

/// The value Ansible's INI reader gives `text`.
pub(crate) fn parse(text: &str) -> Value {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let Some(mut v) = p.value() else {
        return Value::String(text.to_string());
    };
    // `1, 2` is a tuple even without parentheses.
    if p.eat(b',') {
        let mut items = vec![v];
        p.ws();
        while p.i < p.s.len() && p.peek() != Some(b'#') {
            let Some(item) = p.value() else {
                return Value::String(text.to_string());
            };
            items.push(item);
            if !p.eat(b',') {
                break;
            }
            p.ws();
        }
        v = Value::Array(items);
    }
    p.ws();
    // Python ignores a comment after the literal (`8080 # web port`).
    if p.i == p.s.len() || p.peek() == Some(b'#') {
        v
    } else {
        Value::String(text.to_string())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'\'' | b'"' => {
                // Adjacent literals concatenate, as in Python.
                let mut text = self.string()?;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'\'' | b'"') => text.push_str(&self.string()?),
                        _ => return Some(Value::String(text)),
                    }
                }
            }
            b'[' => self.items(b']').map(Value::Array),
            b'(' => self.items(b')').map(Value::Array),
            b'{' => self.braces(),
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                let v = self.value()?;
                match (neg, v) {
                    (false, v @ Value::Number(_)) => Some(v),
                    (true, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => Some(Value::from(-i)),
                        (None, Some(f)) => serde_json::Number::from_f64(-f).map(Value::Number),
                        _ => None,
                    },
                    _ => None,
                }
            }
            c if c.is_ascii_digit() || c == b'.' => self.number(),
            _ => self.word(),
        }
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        match &self.s[start..self.i] {
            b"True" => Some(Value::Bool(true)),
            b"False" => Some(Value::Bool(false)),
            b"None" => Some(Value::Null),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_'))
            || (self.i > start
                && matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s[self.i - 1], b'e' | b'E')
                && !self.s[start..].starts_with(b"0x"))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if text.starts_with('_') || text.ends_with('_') || text.contains("__") {
            return None;
        }
        let digits = text.replace('_', "");
        let radix = |p: &str, r| {
            i64::from_str_radix(digits.get(2..)?, r)
                .ok()
                .filter(|_| digits[..2].eq_ignore_ascii_case(p))
        };
        if let Some(n) = radix("0x", 16)
            .or_else(|| radix("0o", 8))
            .or_else(|| radix("0b", 2))
        {
            return Some(Value::from(n));
        }
        if digits.bytes().all(|c| c.is_ascii_digit()) {
            // Python refuses a leading zero on a non-zero integer.
            if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|c| c != b'0') {
                return None;
            }
            // Python's integers have no limit; JSON's past 64 bits are floats.
            return match (digits.parse::<i64>(), digits.parse::<u64>()) {
                (Ok(n), _) => Some(Value::from(n)),
                (_, Ok(n)) => Some(Value::from(n)),
                _ => digits.parse::<f64>().ok().map(Value::from),
            };
        }
        let f: f64 = digits.parse().ok()?;
        if digits
            .bytes()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E'))
        {
            return None;
        }
        serde_json::Number::from_f64(f).map(Value::Number)
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                c if c == quote => break,
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'0' => out.push(0),
                        b'\\' | b'\'' | b'"' => out.push(e),
                        // Python keeps an unknown escape as written.
                        _ => out.extend([b'\\', e]),
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).ok()
    }

    /// `[a, b]` and `(a, b)`: a JSON list (Ansible turns tuples into lists).
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(out);
            }
        }
    }

    /// `{k: v}` (a dict; keys as text) or `{a, b}` (a set: a list).
    fn braces(&mut self) -> Option<Value> {
        self.i += 1;
        if self.eat(b'}') {
            return Some(Value::Object(Default::default()));
        }
        let first = self.value()?;
        if !self.eat(b':') {
            let mut items = vec![first];
            while self.eat(b',') {
                if self.eat(b'}') {
                    return Some(Value::Array(items));
                }
                items.push(self.value()?);
            }
            return self.eat(b'}').then_some(Value::Array(items));
        }
        let mut map = serde_json::Map::new();
        let mut key = first;
        loop {
            let value = self.value()?;
            let key_text = match key {
                Value::String(s) => s,
                other => other.to_string(),
            };
            map.insert(key_text, value);
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            key = self.value()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_read_as_python_reads_them() {
        for (text, want) in [
            ("80", json!(80)),
            ("-3", json!(-3)),
            ("1_000", json!(1000)),
            ("0x1F", json!(31)),
            ("1.5", json!(1.5)),
            ("True", json!(true)),
            ("None", json!(null)),
            ("'text'", json!("text")),
            ("\"a\\tb\"", json!("a\tb")),
            ("'a' 'b'", json!("ab")),
            ("['a', 'b']", json!(["a", "b"])),
            ("(1, 2)", json!([1, 2])),
            ("(1,)", json!([1])),
            ("{'a': 1, 'b': [True]}", json!({"a": 1, "b": [true]})),
            ("{'a': 1,}", json!({"a": 1})),
            ("{1, 2}", json!([1, 2])),
            ("yes", json!("yes")),
            ("true", json!("true")),
            ("007", json!("007")),
            ("1.2.3", json!("1.2.3")),
            ("/usr/bin/python3", json!("/usr/bin/python3")),
            ("'unclosed", json!("'unclosed")),
            ("[1, 2", json!("[1, 2")),
            ("a=b", json!("a=b")),
            ("8080 # web port", json!(8080)),
            ("1, 2", json!([1, 2])),
            ("1,", json!([1])),
            ("1, x", json!("1, x")),
            ("'a#b' # c", json!("a#b")),
            ("paris # kept", json!("paris # kept")),
            ("", json!("")),
        ] {
            assert_eq!(parse(text), want, "{text}");
        }
    }
}
