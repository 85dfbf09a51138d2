//! Duplicate mapping keys, refused in every YAML file halite reads.
//!
//! serde_norway, like PyYAML, keeps the last of two equal keys when it fills
//! a map (serde_json's `Value`, a `BTreeMap`): the first is dropped without a
//! word, so a state, a host or a pillar value silently disappears. Salt's
//! loader refuses them ("found conflicting ID"); halite does too, before it
//! deserializes anything.
//!
//! Keys are compared as YAML values, as Salt compares them: `a` and `'a'`
//! are one key, and so are `1` and `0x1`. halite's own data keys mappings
//! by text, so two scalar keys that differ only in type (`1` and `"1"`)
//! would also collapse into one; they are refused as well.
//!
//! How: a walk over serde_norway's own parse, so it sees exactly what the
//! real deserialization sees (anchors, aliases, tags), with a visitor that
//! remembers each mapping's keys. A visitor never learns positions, but
//! serde_norway stamps an error raised while a key is being deserialized
//! with that key's line and column. So the walk stops at the repeated key
//! with an error to learn where it is, and a second walk stops at its first
//! occurrence (the mapping's number in document order and the key's index
//! in it) to learn that line too. [`key_line`] uses the same walk to find a
//! key by its path.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value as YamlValue};

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key as written (scalars) or as flow YAML (anything else).
    pub key: String,
    /// 1-based (line, column) of the second occurrence.
    pub at: Option<(usize, usize)>,
    /// 1-based line of the first occurrence.
    pub first_line: Option<usize>,
    /// The two keys are different YAML values (`1` and `"1"`) that halite
    /// would read as the same text.
    pub same_text_only: bool,
}

impl fmt::Display for Duplicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "duplicate key `{}`", self.key)?;
        match (self.first_line, self.same_text_only) {
            (Some(l), false) => write!(f, " (first at line {l})"),
            (None, false) => Ok(()),
            (Some(l), true) => write!(
                f,
                " (first at line {l}, as another type: halite reads keys as text, so one would be lost)"
            ),
            (None, true) => write!(
                f,
                " (also written as another type: halite reads keys as text, so one would be lost)"
            ),
        }
    }
}

/// The first key of `text` repeated within one mapping, in document order.
/// A YAML syntax error is not reported here: the real parse reports it.
pub fn find_duplicate(text: &str) -> Option<Duplicate> {
    let hit = walk(text, Goal::Repeat)?;
    let goal = Goal::KeyAt {
        mapping: hit.mapping,
        index: hit.first,
    };
    let first_line = walk(text, goal).and_then(|first| first.at);
    Some(Duplicate {
        key: hit.key,
        at: hit.at,
        first_line: first_line.map(|(line, _)| line),
        same_text_only: hit.same_text_only,
    })
}

/// The 1-based line of the key reached from the root of the first document
/// through the scalar keys `path` (e.g. `["hosts", "web1"]`).
pub fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    walk(text, Goal::Path(path))?.at.map(|(line, _)| line)
}

/// What a walk stops at.
enum Goal<'a> {
    /// A key equal to an earlier key of the same mapping.
    Repeat,
    /// Key number `index` of mapping number `mapping` (document order).
    KeyAt { mapping: usize, index: usize },
    /// The key at the end of this path of scalar keys from the root.
    Path(&'a [&'a str]),
}

/// The key a walk stopped at.
struct Hit {
    mapping: usize,
    /// The index of the earlier, equal key (for [`Goal::Repeat`]).
    first: usize,
    key: String,
    same_text_only: bool,
    /// 1-based (line, column) of the key stopped at.
    at: Option<(usize, usize)>,
}

struct Walk<'a> {
    goal: Goal<'a>,
    /// Mappings entered so far, in document order.
    mappings: usize,
    hit: Option<Hit>,
}

/// Walk every document of `text` until `goal`; `None` when it is not there
/// (or the text is not YAML).
fn walk(text: &str, goal: Goal) -> Option<Hit> {
    let mut walk = Walk {
        goal,
        mappings: 0,
        hit: None,
    };
    for document in serde_yaml::Deserializer::from_str(text) {
        let node = Node {
            walk: &mut walk,
            depth: Some(0),
        };
        if let Err(e) = node.deserialize(document) {
            let mut hit = walk.hit.take()?;
            hit.at = e.location().map(|l| (l.line(), l.column()));
            return Some(hit);
        }
    }
    None
}

/// Any node: scalars are skipped, collections walked.
struct Node<'w, 'g> {
    walk: &'w mut Walk<'g>,
    /// How many keys of [`Goal::Path`] the keys above this node matched;
    /// `None` once they diverged.
    depth: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Node {
                walk: &mut *self.walk,
                depth: None,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mapping = self.walk.mappings;
        self.walk.mappings += 1;
        let mut seen = Seen::default();
        let mut index = 0;
        while let Some(depth) = map.next_key_seed(Key {
            walk: &mut *self.walk,
            seen: &mut seen,
            mapping,
            index,
            depth: self.depth,
        })? {
            map.next_value_seed(Node {
                walk: &mut *self.walk,
                depth,
            })?;
            index += 1;
        }
        Ok(())
    }

    /// A tagged node (`!tag value`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_tag, variant) = data.variant::<de::IgnoredAny>()?;
        variant.newtype_variant_seed(Node {
            walk: self.walk,
            depth: None,
        })
    }
}

/// The keys of one mapping seen so far: value -> index, text -> index.
#[derive(Default)]
struct Seen {
    values: HashMap<YamlValue, usize>,
    texts: HashMap<String, usize>,
}

impl Seen {
    /// The index of an earlier key equal to `key` and whether they are only
    /// equal as text; else remember `key` as number `index`.
    fn earlier(&mut self, key: &YamlValue, text: &str, index: usize) -> Option<(usize, bool)> {
        if let Some(&first) = self.values.get(key) {
            return Some((first, false));
        }
        let scalar = !matches!(
            key,
            YamlValue::Sequence(_) | YamlValue::Mapping(_) | YamlValue::Tagged(_)
        );
        if scalar {
            if let Some(&first) = self.texts.get(text) {
                return Some((first, true));
            }
            self.texts.insert(text.to_string(), index);
        }
        self.values.insert(key.clone(), index);
        None
    }
}

/// One key of a mapping. Its value is the [`Node::depth`] of the value that
/// follows it. The check runs inside the key's own deserialization, so a
/// stop carries the key's position.
struct Key<'w, 'g, 's> {
    walk: &'w mut Walk<'g>,
    seen: &'s mut Seen,
    mapping: usize,
    index: usize,
    depth: Option<usize>,
}

impl Key<'_, '_, '_> {
    fn check<E: de::Error>(self, key: YamlValue) -> Result<Option<usize>, E> {
        let text = key_text(&key);
        let mut next_depth = None;
        let stop = match &self.walk.goal {
            Goal::Repeat => self.seen.earlier(&key, &text, self.index),
            Goal::KeyAt { mapping, index } => {
                (*mapping == self.mapping && *index == self.index).then_some((self.index, false))
            }
            Goal::Path(path) => match self.depth {
                Some(d) if path.get(d) == Some(&text.as_str()) => {
                    next_depth = Some(d + 1);
                    (d + 1 == path.len()).then_some((self.index, false))
                }
                _ => None,
            },
        };
        let Some((first, same_text_only)) = stop else {
            return Ok(next_depth);
        };
        self.walk.hit = Some(Hit {
            mapping: self.mapping,
            first,
            key: text,
            same_text_only,
            at: None,
        });
        Err(E::custom("stop"))
    }
}

/// A key as halite reads it: a string as is, anything else as YAML.
fn key_text(key: &YamlValue) -> String {
    match key {
        YamlValue::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_, '_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_, '_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.check(YamlValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.check(YamlValue::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.check(YamlValue::Number(v.into()))
    }
    /// Beyond 64 bits serde_norway's values have no number: compare the digits.
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.check(YamlValue::String(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        self.check(YamlValue::String(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.check(YamlValue::Number(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.check(YamlValue::String(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.check(YamlValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.check(YamlValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<YamlValue>()? {
            items.push(item);
        }
        self.check(YamlValue::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Mapping::new();
        while let Some((k, v)) = map.next_entry::<YamlValue, YamlValue>()? {
            entries.insert(k, v);
        }
        self.check(YamlValue::Mapping(entries))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (tag, variant) = data.variant::<String>()?;
        let value = variant.newtype_variant::<YamlValue>()?;
        self.check(YamlValue::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> Option<(String, Option<usize>, Option<usize>, bool)> {
        find_duplicate(text).map(|d| (d.key, d.at.map(|(l, _)| l), d.first_line, d.same_text_only))
    }

    fn found(
        key: &str,
        line: usize,
        first: usize,
    ) -> Option<(String, Option<usize>, Option<usize>, bool)> {
        Some((key.to_string(), Some(line), Some(first), false))
    }

    #[test]
    fn a_repeated_key_is_found_with_both_lines() {
        let text =
            "a: 1\nnginx:\n  pkg.installed: []\nb: 2\n\n# comment\nnginx:\n  service.running: []\n";
        assert_eq!(dup(text), found("nginx", 7, 2));
        assert_eq!(
            find_duplicate(text).unwrap().to_string(),
            "duplicate key `nginx` (first at line 2)"
        );
    }

    #[test]
    fn nested_flow_and_later_documents_are_checked() {
        assert_eq!(
            dup("a:\n  b:\n    c: 1\n    d: 2\n    c: 3\n"),
            found("c", 5, 3)
        );
        assert_eq!(dup("x: [{k: 1}, {k: 2, j: 0, k: 3}]\n"), found("k", 1, 1));
        assert_eq!(dup("a: 1\n---\nb: 1\nb: 2\n"), found("b", 4, 3));
        // The same key in two mappings, or in two documents, is no duplicate.
        assert_eq!(dup("a: {k: 1}\nb: {k: 2}\n"), None);
        assert_eq!(dup("- k: 1\n- k: 2\n"), None);
        assert_eq!(dup("k: 1\n---\nk: 2\n"), None);
    }

    #[test]
    fn keys_compare_as_yaml_values() {
        assert_eq!(dup("a: 1\n'a': 2\n"), found("a", 2, 1));
        assert_eq!(dup("\"a\": 1\na: 2\n"), found("a", 2, 1));
        assert_eq!(dup("1: a\n0x1: b\n"), found("1", 2, 1));
        assert_eq!(dup("~: a\nnull: b\n"), found("null", 2, 1));
        assert_eq!(
            dup("? [a, b]\n: 1\n? [a, b]\n: 2\n").map(|d| d.1),
            Some(Some(3))
        );
        assert_eq!(dup("a: 1\nA: 2\nb: 1\n'b ': 2\n"), None);
        // Merge keys are plain keys to serde_norway: no expansion, no clash.
        assert_eq!(dup("base: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n"), None);
    }

    #[test]
    fn keys_that_differ_only_in_type_are_refused_too() {
        let d = find_duplicate("hosts:\n  1: {}\n  '1': {}\n").unwrap();
        assert_eq!((d.at.map(|a| a.0), d.first_line), (Some(3), Some(2)));
        assert!(d.same_text_only);
        assert!(d.to_string().contains("another type"), "{d}");
        assert!(
            find_duplicate("true: 1\n'true': 2\n")
                .unwrap()
                .same_text_only
        );
    }

    #[test]
    fn aliases_and_tags_are_walked() {
        assert_eq!(dup("a: &x {k: 1, k: 2}\nb: *x\n"), found("k", 1, 1));
        assert_eq!(dup("a: !t {k: 1, k: 2}\n"), found("k", 1, 1));
        assert_eq!(dup("!t a: 1\n!t a: 2\n").map(|d| d.1), Some(Some(2)));
        assert_eq!(dup("!t a: 1\na: 2\n"), None);
    }

    #[test]
    fn syntax_errors_are_left_to_the_real_parse() {
        assert_eq!(dup("a: [\n"), None);
        assert_eq!(dup(""), None);
        assert_eq!(dup("plain\n"), None);
    }

    #[test]
    fn key_line_follows_a_path_of_keys() {
        let text = "defaults: {user: root}\nhosts:\n  web1:\n    host: a\n  web2: {host: b}\ngroups:\n  web2: [x]\n";
        assert_eq!(key_line(text, &["hosts", "web2"]), Some(5));
        assert_eq!(key_line(text, &["hosts", "web1", "host"]), Some(4));
        assert_eq!(key_line(text, &["groups", "web2"]), Some(7));
        assert_eq!(key_line(text, &["hosts", "web3"]), None);
        assert_eq!(key_line(text, &["web2"]), None);
        assert_eq!(key_line(text, &[]), None);
    }
}
