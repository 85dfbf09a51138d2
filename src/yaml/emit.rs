//! The text PyYAML writes, byte for byte: what Salt's `yaml` filter, its
//! yaml serializer (`file.serialize`, `slsutil.serialize`) put into a
//! config file. Salt dumps through libyaml's emitter (PyYAML's
//! `CSafeDumper`); this is the same algorithm, written for halite's data:
//! keys sorted, two-space indents, lines folded past 80 columns, sequences
//! in a mapping not indented, a scalar plain when it reads back as itself,
//! else single-quoted, else double-quoted with escapes.
//!
//! Why not the YAML library: serde_norway writes valid YAML, but not
//! PyYAML's (other quoting, no folding, indented sequences), so a file
//! written by Salt and then by halite would differ for the same data, and
//! every first run after a switch would show a change. No crate writes
//! PyYAML's text; tests/compat/pyyaml.json (written by libyaml itself,
//! tests/compat/gen_pyyaml.py) holds the cases this is checked against.

use super::resolve::{self, Implicit};
use crate::Value;

const BEST_WIDTH: usize = 80;

/// How collections are written: PyYAML's `default_flow_style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `True`: every collection in flow style (`{a: 1, b: [x, y]}`).
    Always,
    /// `False`: block style everywhere.
    Never,
    /// `None`: flow style for a collection that holds only scalars.
    Leaves,
}

/// The arguments of PyYAML's `dump` that change the text.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `default_flow_style`.
    pub flow: Flow,
    /// `allow_unicode`: non-ASCII text as itself, not escaped.
    pub allow_unicode: bool,
    /// `indent`: 2..=9, anything else is 2 (as libyaml does).
    pub indent: usize,
    /// `sort_keys`: mapping keys sorted, else in their own order.
    pub sort_keys: bool,
}

impl Options {
    /// PyYAML's defaults with this flow style.
    pub fn new(flow: Flow) -> Options {
        Options {
            flow,
            allow_unicode: false,
            indent: 2,
            sort_keys: true,
        }
    }

    pub fn unicode(self, allow_unicode: bool) -> Options {
        Options {
            allow_unicode,
            ..self
        }
    }
}

/// PyYAML's `safe_dump(v, **options)` through libyaml: the whole stream,
/// with its final line break (libyaml writes no `...` document end after a
/// root scalar, unlike PyYAML's pure-Python emitter).
pub fn dump(v: &Value, options: Options) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: None,
        indents: Vec::new(),
        flow_level: 0,
        best_indent: if (2..10).contains(&options.indent) {
            options.indent
        } else {
            2
        },
        options,
    };
    e.node(v, Ctx::ROOT);
    // The document's end.
    e.write_indent();
    e.out
}

/// Where a node stands: libyaml's mapping and simple-key contexts (the
/// root and sequence contexts change nothing for halite's data).
#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

impl Ctx {
    const ROOT: Ctx = Ctx {
        mapping: false,
        simple_key: false,
    };
    const ITEM: Ctx = Ctx::ROOT;
    const VALUE: Ctx = Ctx {
        mapping: true,
        simple_key: false,
    };
    const KEY: Ctx = Ctx {
        mapping: true,
        simple_key: true,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// What PyYAML's `analyze_scalar` learns of a scalar's text.
#[derive(Debug, Default)]
struct Analysis {
    empty: bool,
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single_quoted: bool,
}

struct Emitter {
    out: String,
    /// Position after the last character written, in characters.
    column: usize,
    /// The last character written is whitespace.
    whitespace: bool,
    /// Only indentation (spaces, `-`, `?`, `:`) so far on this line.
    indention: bool,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    best_indent: usize,
    options: Options,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<&char>) -> bool {
    matches!(
        c,
        None | Some('\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
    )
}

/// A scalar's text and whether, written plain, it reads back with its own
/// type (PyYAML's `implicit[0]`).
fn scalar_text(v: &Value) -> (String, bool) {
    match v {
        Value::Null => ("null".into(), true),
        Value::Bool(b) => (b.to_string(), true),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => (float_text(f), true),
            _ => (n.to_string(), true),
        },
        Value::String(s) => (s.clone(), resolve::plain(s) == Implicit::Str),
        // Collections never reach here.
        other => (other.to_string(), true),
    }
}

/// PyYAML's `represent_float`: Python's `repr()`, lower case, with `.0`
/// before an exponent that has no decimal point.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let repr = python_float_repr(f);
    if !repr.contains('.') && repr.contains('e') {
        repr.replacen('e', ".0e", 1)
    } else {
        repr
    }
}

/// Python's `repr(float)`: the shortest digits that read back, fixed
/// notation for exponents -4..16, else `d.ddde+XX`.
fn python_float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the same shortest digits: "1.5e-5", "-1e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs())
    }
}

impl Emitter {
    // ---- nodes ----

    fn node(&mut self, v: &Value, ctx: Ctx) {
        match v {
            Value::Array(items) => {
                if self.flow_level > 0 || items.is_empty() || self.flow_style(v) {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items, ctx);
                }
            }
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                if self.options.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                if self.flow_level > 0 || entries.is_empty() || self.flow_style(v) {
                    self.flow_mapping(&entries);
                } else {
                    self.block_mapping(&entries);
                }
            }
            scalar => self.scalar(scalar, ctx),
        }
    }

    /// The representer's choice for a collection.
    fn flow_style(&self, v: &Value) -> bool {
        let is_scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
        match self.options.flow {
            Flow::Always => true,
            Flow::Never => false,
            Flow::Leaves => match v {
                Value::Array(items) => items.iter().all(is_scalar),
                Value::Object(m) => m.values().all(is_scalar),
                _ => true,
            },
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None if flow => Some(self.best_indent),
            None => Some(0),
            Some(i) if !indentless => Some(i + self.best_indent),
            Some(i) => Some(i),
        };
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn flow_sequence(&mut self, items: &[Value]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > BEST_WIDTH {
                self.write_indent();
            }
            self.node(item, Ctx::ITEM);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, entries: &[(&String, &Value)]) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > BEST_WIDTH {
                self.write_indent();
            }
            let key = Value::String((*k).clone());
            if simple_key(k) {
                self.node(&key, Ctx::KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.node(&key, Ctx::VALUE);
                if self.column > BEST_WIDTH {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.node(v, Ctx::VALUE);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Value], ctx: Ctx) {
        let indentless = ctx.mapping && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Ctx::ITEM);
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, entries: &[(&String, &Value)]) {
        self.increase_indent(false, false);
        for (k, v) in entries {
            self.write_indent();
            let key = Value::String((*k).clone());
            if simple_key(k) {
                self.node(&key, Ctx::KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.node(&key, Ctx::VALUE);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(v, Ctx::VALUE);
        }
        self.pop_indent();
    }

    // ---- scalars ----

    fn scalar(&mut self, v: &Value, ctx: Ctx) {
        let (text, implicit) = scalar_text(v);
        let a = self.analyze(&text);
        let mut style = Style::Plain;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            let allowed = if self.flow_level > 0 {
                a.flow_plain
            } else {
                a.block_plain
            };
            if !allowed || (a.empty && (self.flow_level > 0 || ctx.simple_key)) || !implicit {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let split = !ctx.simple_key;
        let chars: Vec<char> = text.chars().collect();
        match style {
            Style::Plain => self.write_plain(&chars, split),
            Style::Single => self.write_single_quoted(&chars, split),
            Style::Double => self.write_double_quoted(&chars, split),
        }
        self.pop_indent();
    }

    /// Which styles can hold this text (libyaml's `analyze_scalar`).
    fn analyze(&self, text: &str) -> Analysis {
        if text.is_empty() {
            return Analysis {
                empty: true,
                block_plain: true,
                single_quoted: true,
                ..Analysis::default()
            };
        }
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut block_ind = false;
        let mut flow_ind = false;
        let mut line_breaks = false;
        let mut special = false;
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        if text.starts_with("---") || text.starts_with("...") {
            block_ind = true;
            flow_ind = true;
        }
        let mut preceded_by_ws = true;
        let mut followed_by_ws = is_blank_or_end(chars.get(1));
        let (mut prev_space, mut prev_break) = (false, false);
        for (i, &ch) in chars.iter().enumerate() {
            if i == 0 {
                if "#,[]{}&*!|>'\"%@`".contains(ch) {
                    flow_ind = true;
                    block_ind = true;
                }
                if ch == '?' || ch == ':' {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                if ch == '-' && followed_by_ws {
                    flow_ind = true;
                    block_ind = true;
                }
            } else {
                if ",?[]{}".contains(ch) {
                    flow_ind = true;
                }
                if ch == ':' {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                if ch == '#' && preceded_by_ws {
                    flow_ind = true;
                    block_ind = true;
                }
            }
            if !printable(ch) || (!ch.is_ascii() && !self.options.allow_unicode) {
                special = true;
            }
            if is_break(ch) {
                line_breaks = true;
            }
            if ch == ' ' {
                leading_space |= i == 0;
                trailing_space |= i == n - 1;
                break_space |= prev_break;
                prev_space = true;
                prev_break = false;
            } else if is_break(ch) {
                leading_break |= i == 0;
                trailing_break |= i == n - 1;
                space_break |= prev_space;
                prev_space = false;
                prev_break = true;
            } else {
                prev_space = false;
                prev_break = false;
            }
            preceded_by_ws = is_blank_or_end(Some(&ch));
            if i + 1 < n {
                followed_by_ws = is_blank_or_end(chars.get(i + 2));
            }
        }
        styles_allowed(&Scan {
            block_ind,
            flow_ind,
            line_breaks,
            special,
            leading: leading_space || leading_break,
            trailing: trailing_space || trailing_break,
            break_space,
            space_break,
        })
    }

    // ---- writers ----

    fn put(&mut self, c: char) {
        self.column += 1;
        self.out.push(c);
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, whitespace: bool, indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.line_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn line_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break inside a scalar: `\n` as the emitter's own break,
    /// another break character as itself.
    fn write_break(&mut self, c: char) {
        self.out.push(c);
        self.column = 0;
    }

    /// A space where a long line may fold: at a single space (not the
    /// first or last character of a quoted scalar) past the width.
    fn folds_at(&self, text: &[char], i: usize, spaces: bool, split: bool, quoted: bool) -> bool {
        split && !spaces && self.column > BEST_WIDTH && (!quoted || (i != 0 && i + 1 != text.len()))
    }

    fn write_plain(&mut self, text: &[char], split: bool) {
        if !self.whitespace && (!text.is_empty() || self.flow_level > 0) {
            self.put(' ');
        }
        self.write_folded_text(text, split, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("'", true, false, false);
        if self.write_folded_text(text, split, true) {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// A plain or single-quoted scalar's text: a single space past the
    /// width folds the line, line breaks are written doubled the first
    /// time (a single break would fold into a space), a quote is doubled
    /// when `quoted`. Says whether the text ended in line breaks.
    fn write_folded_text(&mut self, text: &[char], split: bool, quoted: bool) -> bool {
        let (mut spaces, mut breaks) = (false, false);
        for (i, &ch) in text.iter().enumerate() {
            if ch == ' ' {
                if self.folds_at(text, i, spaces, split, quoted) && text.get(i + 1) != Some(&' ') {
                    self.write_indent();
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else if is_break(ch) {
                if !breaks && ch == '\n' {
                    self.line_break();
                }
                self.write_break(ch);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if quoted && ch == '\'' {
                    self.put('\'');
                }
                self.put(ch);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        breaks
    }

    fn write_double_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        for (i, &ch) in text.iter().enumerate() {
            let escaped = !printable(ch)
                || (!self.options.allow_unicode && !ch.is_ascii())
                || ch == '\u{feff}'
                || is_break(ch)
                || ch == '"'
                || ch == '\\';
            if escaped {
                for c in escape(ch).chars() {
                    self.put(c);
                }
                spaces = false;
            } else if ch == ' ' {
                if self.folds_at(text, i, spaces, split, true) {
                    self.write_indent();
                    if text.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else {
                self.put(ch);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}

/// What the scan of a scalar's text found.
struct Scan {
    /// Indicators that forbid a plain scalar in block / flow context.
    block_ind: bool,
    flow_ind: bool,
    line_breaks: bool,
    /// Characters only a double-quoted scalar can hold (escaped).
    special: bool,
    /// A space or break at the start / end.
    leading: bool,
    trailing: bool,
    /// A space right after a break / a break right after a space.
    break_space: bool,
    space_break: bool,
}

/// The styles that can hold a scanned text.
fn styles_allowed(s: &Scan) -> Analysis {
    let mut a = Analysis {
        empty: false,
        multiline: s.line_breaks,
        flow_plain: true,
        block_plain: true,
        single_quoted: true,
    };
    if s.leading || s.trailing || s.line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if s.break_space || s.space_break || s.special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_quoted = false;
    }
    if s.flow_ind {
        a.flow_plain = false;
    }
    if s.block_ind {
        a.block_plain = false;
    }
    a
}

/// libyaml's printable characters: what a scalar may hold unescaped.
fn printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
}

fn escape(c: char) -> String {
    let short = match c {
        '\0' => "0",
        '\x07' => "a",
        '\x08' => "b",
        '\t' => "t",
        '\n' => "n",
        '\x0b' => "v",
        '\x0c' => "f",
        '\r' => "r",
        '\x1b' => "e",
        '"' => "\"",
        '\\' => "\\",
        '\u{85}' => "N",
        '\u{a0}' => "_",
        '\u{2028}' => "L",
        '\u{2029}' => "P",
        _ => "",
    };
    let code = c as u32;
    if !short.is_empty() {
        format!("\\{short}")
    } else if code <= 0xff {
        format!("\\x{code:02X}")
    } else if code <= 0xffff {
        format!("\\u{code:04X}")
    } else {
        format!("\\U{code:08X}")
    }
}

/// A key libyaml writes as `key:` rather than `? key`: one line, at most
/// 128 bytes.
fn simple_key(k: &str) -> bool {
    k.len() <= 128 && !k.chars().any(is_break)
}

#[cfg(test)]
mod tests;
