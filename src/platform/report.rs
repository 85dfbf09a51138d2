//! What a platform snippet prints, read back: `@@marker [value]` lines and
//! the lines under each marker. One reader for every backend's probe and
//! apply output (the pkg functions and states used to carry a copy each).

use std::collections::BTreeMap;

/// A snippet's stdout (or stdout and stderr together) by marker.
#[derive(Default, Debug)]
pub struct Report {
    values: BTreeMap<String, String>,
    sections: BTreeMap<String, Vec<String>>,
}

impl Report {
    /// Lines before the first marker are no section's; a repeated marker
    /// keeps its last value and adds to its section.
    pub fn read(text: &str) -> Report {
        let mut r = Report::default();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(marker) = line.strip_prefix("@@") {
                let (name, value) = marker.split_once(' ').unwrap_or((marker, ""));
                r.values.insert(name.to_string(), value.trim().to_string());
                r.sections.entry(name.to_string()).or_default();
                current = name.to_string();
            } else if !current.is_empty() {
                r.sections
                    .entry(current.clone())
                    .or_default()
                    .push(line.to_string());
            }
        }
        r
    }

    pub fn has(&self, marker: &str) -> bool {
        self.values.contains_key(marker)
    }

    pub fn value(&self, marker: &str) -> Option<&str> {
        self.values.get(marker).map(String::as_str)
    }

    pub fn lines(&self, marker: &str) -> &[String] {
        self.sections.get(marker).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `@@rc N`, when the snippet printed it.
    pub fn rc(&self) -> Option<i32> {
        self.value("rc").and_then(|v| v.parse().ok())
    }
}

/// `@@key value` lines of a snippet's output (the last of each key wins).
pub fn markers(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("@@"))
        .map(|m| {
            let (k, v) = m.split_once(' ').unwrap_or((m, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The lines of a snippet's output that are not `@@` markers, trimmed: the
/// tools' own messages, for error comments.
pub fn message(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("@@"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `n` non-blank lines of a tool's output.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_values_and_messages() {
        let r = Report::read("noise\n@@arch amd64 \n@@list\na\nb\n@@rc 3\n@@list\nc\n");
        assert_eq!(r.value("arch"), Some("amd64"));
        assert_eq!(r.lines("list"), ["a", "b", "c"]);
        assert_eq!(r.rc(), Some(3));
        assert!(r.has("list") && !r.has("end"));
        assert_eq!(markers("@@a 1\n@@a 2\nx\n")["a"], "2");
        assert_eq!(message("@@a\n  E: x \n\n"), "E: x");
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
