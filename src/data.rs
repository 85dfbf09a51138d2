//! Salt's helpers on nested data, shared by the layers that read pillar and
//! grains: templates (`salt['pillar.get']`, `defaults.merge`), the pillar
//! compiler's merge, the `pillar.*` execution functions and state modules
//! that take a pillar key. It imports nothing of the crate but [`Value`], so
//! everything above may use it.

use crate::Value;

/// Follow `key` split on `delimiter` through mappings and lists, like
/// `salt.utils.data.traverse_dict_and_list`: a numeric segment indexes a
/// list; a non-numeric one on a list looks into the list's mappings.
pub fn traverse<'a>(data: &'a Value, key: &str, delimiter: &str) -> Option<&'a Value> {
    let mut ptr = data;
    for seg in key.split(delimiter) {
        ptr = match ptr {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => {
                let embedded = items.iter().find_map(|x| x.as_object()?.get(seg));
                match (embedded, seg.parse::<usize>()) {
                    (Some(v), _) => v,
                    (None, Ok(i)) => items.get(i)?,
                    (None, Err(_)) => return None,
                }
            }
            _ => return None,
        };
    }
    Some(ptr)
}

/// `pillar.get` on the controller: the value at `key` (`:`-separated), or
/// `default`.
pub fn get(data: &Value, key: &str, default: Value) -> Value {
    traverse(data, key, ":").cloned().unwrap_or(default)
}

/// Salt's `dictupdate.update` without list merging: `src` wins, mappings
/// merge recursively.
pub fn merge(dest: &mut Value, src: Value) {
    match (dest, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (dest, src) => *dest = src,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_and_merge_helpers() {
        let data = json!({"a": {"b": {"c": 1}}, "l": [{"k": "v"}, 7]});
        assert_eq!(get(&data, "a:b:c", json!(0)), json!(1));
        assert_eq!(get(&data, "a:x:c", json!("d")), json!("d"));
        assert_eq!(get(&data, "l:k", json!(null)), json!("v"));
        assert_eq!(get(&data, "l:1", json!(null)), json!(7));
        let mut dest = json!({"a": {"x": 1, "l": [1]}, "b": 1});
        merge(&mut dest, json!({"a": {"y": 2, "l": [2]}, "b": {"n": 1}}));
        assert_eq!(
            dest,
            json!({"a": {"x": 1, "y": 2, "l": [2]}, "b": {"n": 1}})
        );
    }
}
