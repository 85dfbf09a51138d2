//! Salt's ini file model (`salt.modules.ini_manage._Section` and `_Ini`),
//! on text: how Salt reads a file into ordered sections, updates it, and
//! writes it back. Salt rewrites the whole file from this model, so its
//! quirks are kept: comments and blank lines are entries of their
//! section, a commented `#key = x` line before an active `key` is dropped
//! (the key takes its place), repeated keys and sections merge, indented
//! lines continue the previous value, top-level options come before every
//! section, and separators are written ` = `.

use regex::Regex;
use serde_json::{json, Map};

use crate::Value;

/// An entry's value: an option's text (or a comment line's), or a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text(String),
    Section(Section),
}

/// Ordered entries; comment and unknown lines under `#commentN` and
/// `#unknownN` keys, as Salt keeps them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub name: String,
    pub entries: Vec<(String, Item)>,
}

/// How options are read and written.
#[derive(Debug, Clone)]
pub struct Syntax {
    pub sep: String,
    pub no_spaces: bool,
    opt: Regex,
}

impl Syntax {
    pub fn new(sep: &str, no_spaces: bool) -> Result<Syntax, String> {
        let opt = Regex::new(&format!(r"^(\s*)(.+?)\s*({})\s*(.*)", regex::escape(sep)))
            .map_err(|e| format!("separator `{sep}`: {e}"))?;
        Ok(Syntax {
            sep: sep.to_string(),
            no_spaces,
            opt,
        })
    }

    /// `(indent, name, value)` of an option line.
    fn option<'a>(&self, line: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
        let c = self.opt.captures(line)?;
        Some((
            c.get(1).map_or("", |m| m.as_str()),
            c.get(2).map_or("", |m| m.as_str()),
            c.get(4).map_or("", |m| m.as_str()),
        ))
    }

    /// The separator as Salt writes it.
    fn written(&self) -> String {
        if self.sep.chars().all(|c| c == ' ') {
            " ".into()
        } else if self.no_spaces {
            self.sep.trim().into()
        } else {
            format!(" {} ", self.sep.trim())
        }
    }
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with(';')
}

fn is_meta(key: &str) -> bool {
    key.starts_with('#')
}

/// Python's `str.strip("\n")`.
fn strip_newlines(s: &str) -> &str {
    s.trim_matches('\n')
}

impl Section {
    fn get_mut(&mut self, key: &str) -> Option<&mut Item> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn pop(&mut self, key: &str) -> Option<Item> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Salt's `_Section.refresh`: the lines of one section.
    fn parse(&mut self, text: &str, syn: &Syntax) {
        let text = strip_newlines(text);
        if text.is_empty() {
            return;
        }
        let (mut comments, mut unknowns) = (1, 1);
        let mut curr_indent = String::new();
        for line in text.split('\n') {
            if is_comment(line) {
                self.update_text(&format!("#comment{comments}"), line, syn);
                comments += 1;
                continue;
            }
            let lead: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            if !lead.is_empty() && lead.replace('\t', "    ") > curr_indent {
                if let Some((prev, Item::Text(v))) = self.entries.last_mut() {
                    let _ = prev;
                    *v = format!("{v}\n{line}");
                    continue;
                }
            }
            if let Some((indent, name, value)) = syn.option(line) {
                curr_indent = indent.replace('\t', "    ");
                self.update_text(name, value, syn);
                continue;
            }
            self.update_text(&format!("#unknown{unknowns}"), line, syn);
            unknowns += 1;
        }
    }

    /// Salt's `_uncomment_if_commented`: a new option takes the place of
    /// the first comment that is that option commented out, else goes last.
    fn place_new(&mut self, key: &str, syn: &Syntax) {
        let at = self.entries.iter().position(|(k, v)| {
            k.starts_with("#comment")
                && matches!(v, Item::Text(t) if syn.option(t.trim_start_matches('#')).is_some_and(|(_, n, _)| n == key))
        });
        let placeholder = (key.to_string(), Item::Text(String::new()));
        match at {
            Some(i) => self.entries[i] = placeholder,
            None => self.entries.push(placeholder),
        }
    }

    /// Salt's `update` of one text value; its `changes` entry, if any.
    fn update_text(&mut self, key: &str, value: &str, syn: &Syntax) -> Option<Value> {
        match self.get_mut(key) {
            None => {
                if !is_meta(key) {
                    self.place_new(key, syn);
                } else {
                    self.entries
                        .push((key.to_string(), Item::Text(String::new())));
                }
                *self.get_mut(key).expect("just placed") = Item::Text(value.to_string());
                Some(json!({"before": null, "after": value}))
            }
            Some(Item::Text(cur)) if cur != value => {
                let before = std::mem::replace(cur, value.to_string());
                Some(json!({"before": before, "after": value}))
            }
            Some(Item::Section(_)) => {
                let i = self.entries.iter().position(|(k, _)| k == key)?;
                self.entries[i].1 = Item::Text(value.to_string());
                Some(json!({"before": null, "after": value}))
            }
            Some(_) => None,
        }
    }

    /// Salt's `update` with a section's options: `changes` for the section
    /// (`{"before": null, "after": {...}}` when it is new).
    pub fn update_section(
        &mut self,
        name: &str,
        body: &[(String, String)],
        syn: &Syntax,
    ) -> Option<Value> {
        let mut fresh = Section {
            name: name.to_string(),
            entries: Vec::new(),
        };
        for (k, v) in body {
            fresh.update_text(k, v, syn);
        }
        match self.get_mut(name) {
            Some(Item::Section(cur)) => {
                let mut changes = Map::new();
                for (k, v) in &fresh.entries {
                    if let Item::Text(v) = v {
                        if let Some(c) = cur.update_text(k, v, syn) {
                            changes.insert(k.clone(), c);
                        }
                    }
                }
                (!changes.is_empty()).then_some(Value::Object(changes))
            }
            _ => {
                let after = fresh.as_dict();
                self.pop(name);
                self.entries.push((name.to_string(), Item::Section(fresh)));
                Some(json!({"before": null, "after": after}))
            }
        }
    }

    /// `update` of a top-level option.
    pub fn update_option(&mut self, key: &str, value: &str, syn: &Syntax) -> Option<Value> {
        self.update_text(key, value, syn)
    }

    /// The options (not comments) as a mapping: Salt's `as_dict` / `get_ini`.
    pub fn as_dict(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.entries {
            if is_meta(k) {
                continue;
            }
            m.insert(
                k.clone(),
                match v {
                    Item::Text(t) => json!(t),
                    Item::Section(s) => s.as_dict(),
                },
            );
        }
        Value::Object(m)
    }

    /// Salt's `gen_ini`: `\n[name]\n`, comments and options in order, then
    /// the sections.
    fn gen(&self, syn: &Syntax, out: &mut Vec<String>) {
        out.push(format!("\n[{}]\n", self.name));
        let sep = syn.written();
        for (k, v) in &self.entries {
            match v {
                Item::Text(t) if is_meta(k) => out.push(format!("{t}\n")),
                Item::Text(t) => out.push(format!("{k}{sep}{t}\n")),
                Item::Section(_) => {}
            }
        }
        for (_, v) in &self.entries {
            if let Item::Section(s) = v {
                s.gen(syn, out);
            }
        }
    }
}

/// A whole file: the top level (options outside any section) and sections.
pub fn parse(text: &str, syn: &Syntax) -> Section {
    let mut top = Section::default();
    let text = text.lines().collect::<Vec<_>>().join("\n");
    if text.is_empty() {
        return top;
    }
    let header = Regex::new(r"(?m)^\s*\[(.+?)\]\s*$").expect("a valid regex");
    let matches: Vec<_> = header.captures_iter(&text).collect();
    let first = matches
        .first()
        .map_or(text.len(), |c| c.get(0).expect("a match").start());
    top.parse(&text[..first], syn);
    for (i, c) in matches.iter().enumerate() {
        let whole = c.get(0).expect("a match");
        let end = matches
            .get(i + 1)
            .map_or(text.len(), |n| n.get(0).expect("a match").start());
        let name = c.get(1).map_or("", |m| m.as_str());
        let mut s = Section {
            name: name.to_string(),
            entries: Vec::new(),
        };
        s.parse(&text[whole.end()..end], syn);
        let body: Vec<(String, String)> = s
            .entries
            .into_iter()
            .filter_map(|(k, v)| match v {
                Item::Text(t) => Some((k, t)),
                Item::Section(_) => None,
            })
            .collect();
        top.update_section(name, &body, syn);
    }
    top
}

/// Salt's `flush`: the file's text.
pub fn write(top: &Section, syn: &Syntax) -> String {
    let mut out = Vec::new();
    top.gen(syn, &mut out);
    out.remove(0);
    if let Some(first) = out.first_mut() {
        *first = first.trim_start_matches('\n').to_string();
    }
    out.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_rewrites_what_it_reads() {
        let syn = Syntax::new("=", false).unwrap();
        let text = "top=1\n# c\n[a]\nk=v\n  more\n#x = 1\nx=2\n\n[b]\ny = 3\n[a]\nz=4\n";
        let ini = parse(text, &syn);
        assert_eq!(
            write(&ini, &syn),
            "top = 1\n# c\n\n[a]\nk = v\n  more\nx = 2\nz = 4\n\n[b]\ny = 3\n"
        );
        assert_eq!(
            ini.as_dict(),
            json!({"top": "1", "a": {"k": "v\n  more", "x": "2", "z": "4"}, "b": {"y": "3"}})
        );
    }
}
