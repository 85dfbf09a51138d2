//! `--out junit`: a run as JUnit XML, so a CI system (Jenkins, GitLab,
//! GitHub test reporters) can show which hosts failed without parsing
//! halite's own formats. One `<testsuite>` per run, one `<testcase>` per
//! host: failed → `<failure>`, not reached (unreachable, auth, host key) →
//! `<error>`, not run or interrupted → `<skipped>`.
//!
//! State runs report one test case per state instead ([`state_cases`]);
//! a host whose states could not even compile, or that was not reached,
//! stays one case.
//!
//! XML 1.0 cannot carry most control characters at all (not even escaped),
//! and command output often has some (colour codes, stray NULs): they are
//! replaced by U+FFFD so the document always parses.

use super::{host_body, problem, Style};
use crate::fleet::{HostResult, Status};
use crate::jobs::JobRecord;

/// How one test case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    /// The thing ran and failed.
    Failure {
        message: String,
        kind: String,
    },
    /// It could not be run properly (the host was not reached).
    Error {
        message: String,
        kind: String,
    },
    Skipped {
        message: String,
    },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    pub time_secs: f64,
    pub outcome: Outcome,
    /// The readable output: the body of `<failure>`/`<error>`, or
    /// `<system-out>` when passed. Not written for skipped cases, whose
    /// message says why.
    pub output: String,
}

/// One `<testsuite>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC (the JUnit schema allows no zone).
    pub timestamp: String,
    pub time_secs: f64,
    /// `<properties>`: name, value.
    pub properties: Vec<(String, String)>,
    pub cases: Vec<TestCase>,
}

/// The suite of an ad-hoc run: one case per host, in host id order.
pub fn host_suite(record: &JobRecord) -> Suite {
    let timestamp = record
        .started
        .trim_end_matches('Z')
        .get(..19)
        .unwrap_or(&record.started)
        .to_string();
    Suite {
        name: format!("halite {} {}", record.function, record.target),
        timestamp,
        time_secs: record.duration_ms as f64 / 1000.0,
        properties: vec![
            ("jid".into(), record.jid.clone()),
            ("target_type".into(), record.target_type.clone()),
        ],
        cases: record
            .results
            .values()
            .flat_map(|r| {
                if super::highstate::is_state_ret(&r.ret) {
                    let mut cases = state_cases(r);
                    // The host failed for a reason no state shows (--verify),
                    // or the apply script failed as a whole.
                    let no_state_says = !cases
                        .iter()
                        .any(|c| matches!(c.outcome, Outcome::Failure { .. }));
                    let run_error = !super::highstate::run_errors(&r.ret).is_empty();
                    if !r.status.is_ok() && (no_state_says || run_error) {
                        cases.push(host_case(&record.function, r));
                    }
                    cases
                } else {
                    vec![host_case(&record.function, r)]
                }
            })
            .collect(),
    }
}

/// A state run on one host: one case per state, in run order. The class is
/// the host, the name `ID | module.function | name`. A state that would
/// change under test=True passes (the prediction is the result); a failed
/// one is a `<failure>` with its comment.
pub fn state_cases(r: &HostResult) -> Vec<TestCase> {
    super::highstate::states_in_order(&r.ret)
        .into_iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap_or("").to_string();
            let outcome = if s["result"] == serde_json::Value::Bool(false) {
                Outcome::Failure {
                    message: field("comment"),
                    kind: "state failed".into(),
                }
            } else {
                Outcome::Passed
            };
            TestCase {
                classname: r.id.clone(),
                name: format!(
                    "{} | {} | {}",
                    field("__id__"),
                    field("function"),
                    field("name")
                ),
                time_secs: s["duration"].as_f64().unwrap_or(0.0) / 1000.0,
                outcome,
                output: super::highstate::state_block(s),
            }
        })
        .collect()
}

/// One host as a test case.
pub fn host_case(function: &str, r: &HostResult) -> TestCase {
    let kind = r.status.as_str().to_string();
    let why = || problem(r).unwrap_or_else(|| kind.clone());
    let outcome = match r.status {
        Status::Ok => Outcome::Passed,
        Status::Failed => Outcome::Failure {
            message: match (&r.error, r.retcode) {
                (Some(e), _) if !e.is_empty() => e.clone(),
                (_, Some(code)) => format!("exit code {code}"),
                _ => "failed".into(),
            },
            kind,
        },
        Status::Unreachable | Status::AuthFailed | Status::HostKey => Outcome::Error {
            message: why(),
            kind,
        },
        Status::NotRun | Status::Interrupted => Outcome::Skipped { message: why() },
    };
    TestCase {
        classname: format!("halite.{function}"),
        name: r.id.clone(),
        time_secs: r.duration_ms as f64 / 1000.0,
        outcome,
        output: host_body(r, &Style::plain()),
    }
}

/// The XML document.
pub fn render(suite: &Suite) -> String {
    let count = |f: fn(&Outcome) -> bool| suite.cases.iter().filter(|c| f(&c.outcome)).count();
    let failures = count(|o| matches!(o, Outcome::Failure { .. }));
    let errors = count(|o| matches!(o, Outcome::Error { .. }));
    let skipped = count(|o| matches!(o, Outcome::Skipped { .. }));
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">\n",
        attr(&suite.name),
        suite.cases.len(),
        suite.time_secs,
        attr(&suite.timestamp)
    ));
    if !suite.properties.is_empty() {
        x.push_str("  <properties>\n");
        for (k, v) in &suite.properties {
            x.push_str(&format!(
                "    <property name=\"{}\" value=\"{}\"/>\n",
                attr(k),
                attr(v)
            ));
        }
        x.push_str("  </properties>\n");
    }
    for c in &suite.cases {
        x.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            attr(&c.classname),
            attr(&c.name),
            c.time_secs
        ));
        let (tag, message, kind) = match &c.outcome {
            Outcome::Passed => {
                if c.output.is_empty() {
                    x.push_str("/>\n");
                } else {
                    x.push_str(&format!(
                        ">\n    <system-out>{}</system-out>\n  </testcase>\n",
                        text(&c.output)
                    ));
                }
                continue;
            }
            Outcome::Failure { message, kind } => ("failure", message, Some(kind)),
            Outcome::Error { message, kind } => ("error", message, Some(kind)),
            Outcome::Skipped { message } => ("skipped", message, None),
        };
        x.push_str(&format!(">\n    <{tag} message=\"{}\"", attr(message)));
        if let Some(kind) = kind {
            x.push_str(&format!(" type=\"{}\"", attr(kind)));
        }
        // A skipped case's output is only its reason, already the message.
        if c.output.is_empty() || tag == "skipped" {
            x.push_str("/>\n");
        } else {
            x.push_str(&format!(">{}</{tag}>\n", text(&c.output)));
        }
        x.push_str("  </testcase>\n");
    }
    x.push_str("</testsuite>\n");
    x
}

/// Characters XML 1.0 allows at all: tab, LF, CR, and the rest above the
/// C0 controls except the surrogates (never in a Rust `char`) and
/// U+FFFE/U+FFFF.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape(s: &str, in_attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attr => out.push_str("&quot;"),
            '\'' if in_attr => out.push_str("&apos;"),
            // Parsers normalise literal whitespace in attributes to spaces
            // and CR LF to LF in text; references survive both.
            '\n' if in_attr => out.push_str("&#10;"),
            '\t' if in_attr => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape(s, true)
}

fn text(s: &str) -> String {
    escape(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_hold() {
        assert_eq!(attr("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(attr("1\n2\t3\r"), "1&#10;2&#9;3&#13;");
        assert_eq!(text("1\n2\t3\r\n"), "1\n2\t3&#13;\n");
        assert_eq!(
            text("\x1b[31mred\x1b[0m\0"),
            "\u{FFFD}[31mred\u{FFFD}[0m\u{FFFD}"
        );
        assert_eq!(text("\u{FFFE}\u{FFFF}é😀"), "\u{FFFD}\u{FFFD}é😀");
        assert_eq!(text("]]>"), "]]&gt;");
    }

    #[test]
    fn anything_round_trips_through_a_real_parser() {
        let nasty = "a<b>&\"c' \t\r\n\x1b[0m\0\u{7f}\u{FFFF}é\n  end ";
        let suite = Suite {
            name: nasty.into(),
            timestamp: "2026-01-02T03:04:05".into(),
            time_secs: 0.0,
            properties: vec![("k".into(), nasty.into())],
            cases: vec![case(nasty, Outcome::Passed, nasty)],
        };
        let xml = render(&suite);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let expected = "a<b>&\"c' \t\r\n\u{FFFD}[0m\u{FFFD}\u{7f}\u{FFFD}é\n  end ";
        assert_eq!(doc.root_element().attribute("name"), Some(expected));
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase"))
            .unwrap();
        assert_eq!(case.attribute("name"), Some(expected));
        let out = case
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap();
        assert_eq!(out.text(), Some(expected));
    }

    fn case(name: &str, outcome: Outcome, output: &str) -> TestCase {
        TestCase {
            classname: "halite.state".into(),
            name: name.into(),
            time_secs: 1.5,
            outcome,
            output: output.into(),
        }
    }

    #[test]
    fn counts_and_elements() {
        let suite = Suite {
            name: "s".into(),
            timestamp: "2026-01-02T03:04:05".into(),
            time_secs: 2.0,
            properties: vec![],
            cases: vec![
                case("ok", Outcome::Passed, "out <1>\n"),
                case("quiet", Outcome::Passed, ""),
                case(
                    "bad",
                    Outcome::Failure {
                        message: "exit code 3".into(),
                        kind: "failed".into(),
                    },
                    "boom\n",
                ),
                case(
                    "down",
                    Outcome::Error {
                        message: "UNREACHABLE".into(),
                        kind: "unreachable".into(),
                    },
                    "",
                ),
                case(
                    "later",
                    Outcome::Skipped {
                        message: "NOT RUN".into(),
                    },
                    "    NOT RUN\n",
                ),
            ],
        };
        let x = render(&suite);
        assert!(
            x.contains("tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"2.000\""),
            "{x}"
        );
        assert!(
            x.contains("<system-out>out &lt;1&gt;\n</system-out>"),
            "{x}"
        );
        assert!(x.contains("name=\"quiet\" time=\"1.500\"/>"), "{x}");
        assert!(
            x.contains("<failure message=\"exit code 3\" type=\"failed\">boom\n</failure>"),
            "{x}"
        );
        assert!(
            x.contains("<error message=\"UNREACHABLE\" type=\"unreachable\"/>"),
            "{x}"
        );
        assert!(x.contains("<skipped message=\"NOT RUN\"/>"), "{x}");
        assert!(!x.contains("<properties>"));
    }
}
