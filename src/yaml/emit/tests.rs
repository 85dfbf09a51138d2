use serde_json::json;

use super::*;

/// Salt's `yaml` filter: the dump, stripped, without a final `...`.
fn filter(v: &Value, flow: Flow) -> String {
    let text = dump(v, Options::new(flow).unicode(true));
    let text = text.trim();
    text.strip_suffix("\n...").unwrap_or(text).to_string()
}

/// Salt's yaml serializer: the dump without its final `...` line or break.
fn serialize(v: &Value, options: Options) -> String {
    let text = dump(v, options);
    match text.strip_suffix("\n...\n") {
        Some(t) => t.to_string(),
        None => text.strip_suffix('\n').unwrap_or(&text).to_string(),
    }
}

#[test]
fn writes_what_salt_writes() {
    // Written by libyaml through Salt 3008.3 (tests/compat/gen_pyyaml.py).
    let fixture: Value =
        serde_json::from_str(include_str!("../../../tests/compat/pyyaml.json")).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() > 250);
    let mut wrong = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let data = &case["data"];
        let never = Options::new(Flow::Never);
        let unsorted = Options {
            indent: 4,
            sort_keys: false,
            ..never
        };
        let got = [
            ("filter_flow", filter(data, Flow::Always)),
            ("filter_block", filter(data, Flow::Never)),
            ("serialize", serialize(data, never.unicode(true))),
            (
                "serialize_mixed",
                serialize(data, Options::new(Flow::Leaves)),
            ),
            ("serialize_ascii", serialize(data, never)),
            ("serialize_indent4_unsorted", serialize(data, unsorted)),
        ];
        for (kind, text) in got {
            if case[kind].as_str() != Some(text.as_str()) {
                wrong.push(format!(
                    "case {i} {kind}: data {data}\n want {:?}\n  got {text:?}",
                    case[kind].as_str().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len() * 6,
        wrong.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn floats_as_python_writes_them() {
    for (f, want) in [
        (1.0, "1.0"),
        (0.5, "0.5"),
        (1e16, "1.0e+16"),
        (1.5e-5, "1.5e-05"),
        (1e-4, "0.0001"),
        (123456789.125, "123456789.125"),
        (-2.5e300, "-2.5e+300"),
        (1234567890123456.0, "1234567890123456.0"),
    ] {
        assert_eq!(float_text(f), want, "{f}");
    }
}

/// One case spelled out (the text is libyaml's, from
/// `yaml.dump(v, Dumper=yaml.CSafeDumper, default_flow_style=False)`).
#[test]
fn folds_long_lines_and_quotes_what_reads_back_otherwise() {
    let v = json!({"k": "word ".repeat(20).trim(), "n": "1", "b": "yes", "t": true});
    assert_eq!(
        dump(&v, Options::new(Flow::Never).unicode(true)),
        "b: 'yes'\nk: word word word word word word word word word word word word word word word word\n  word word word word\nn: '1'\nt: true\n"
    );
}
