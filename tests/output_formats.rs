//! End-to-end tests of the output formats added for fleets and monitoring:
//! `--out grouped`, `--out junit` and `--metrics-file`. They drive the real
//! binary with hosts on the local connection and SSH hosts on a closed
//! loopback port (as tests/cli.rs does), and read JUnit and metrics back
//! with real parsers, since those are read by machines, not people.

mod local;

use local::{closed_port, local_hosts, stderr, stdout, Project};
use std::path::Path;
use std::process::Output;

const H6: [&str; 6] = ["h01", "h02", "h03", "h04", "h05", "h06"];

/// `---------------- HOSTS (N)` lines: (folded hosts, count).
fn headers(text: &str) -> Vec<(String, usize)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("---------------- "))
        .map(|h| {
            let (hosts, n) = h.rsplit_once(" (").unwrap();
            (hosts.to_string(), n.trim_end_matches(')').parse().unwrap())
        })
        .collect()
}

#[test]
fn grouped_folds_identical_hosts_into_one_group() {
    let p = Project::new(&local_hosts(&H6));
    let out = p.run(&["--out", "grouped", "*", "cmd.run", "echo same"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "---------------- h[01-06] (6)\n    same\n");
    // The summary stays on stderr, as for human output.
    assert!(
        stderr(&out).contains("6 host(s) targeted: 6 ok"),
        "{}",
        stderr(&out)
    );
    // A subset folds with its gaps.
    let out = p.run(&[
        "--out",
        "grouped",
        "-L",
        "h01,h02,h04,h06",
        "cmd.run",
        "echo same",
    ]);
    assert_eq!(
        stdout(&out),
        "---------------- h[01-02,04,06] (4)\n    same\n"
    );
}

#[test]
fn grouped_puts_the_odd_ones_first_and_the_crowd_last() {
    let port = closed_port();
    let mut inv = local_hosts(&H6);
    inv.push_str(&format!(
        "  down1: {{host: 127.0.0.1, port: {port}, connect_timeout: 2}}\n  down2: {{host: 127.0.0.1, port: {port}, connect_timeout: 2}}\n"
    ));
    let p = Project::new(&inv);
    let cmd = p.first_host_only("echo other");
    let out = p.run(&["--out", "grouped", "*", "cmd.run", &cmd]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let groups = headers(&text);
    assert_eq!(groups.len(), 3, "{text}");
    let sizes: Vec<usize> = groups.iter().map(|g| g.1).collect();
    assert_eq!(sizes, [1, 2, 5], "{text}");
    assert_eq!(groups[1].0, "down[1-2]");
    // The lone host and the five others are the six local hosts.
    let lone = &groups[0].0;
    assert!(H6.contains(&lone.as_str()), "{text}");
    let rest: Vec<String> = H6
        .iter()
        .filter(|h| **h != lone.as_str())
        .map(|h| h.to_string())
        .collect();
    assert_eq!(groups[2].0, halite::output::grouped::fold_hosts(&rest));
    assert!(
        text.contains(&format!("---------------- {lone} (1)\n    first\n")),
        "{text}"
    );
    assert!(
        text.contains("---------------- down[1-2] (2)\n    UNREACHABLE: "),
        "{text}"
    );
    assert!(text.ends_with("    other\n"), "{text}");
    assert!(stderr(&out).contains("2 unreachable"), "{}", stderr(&out));

    // A stored job replays grouped too.
    let jid = stderr(&out)
        .trim_end()
        .rsplit_once("job ")
        .unwrap()
        .1
        .to_string();
    let shown = p.run(&["--out", "grouped", "jobs", "show", &jid]);
    assert_eq!(stdout(&shown), text);
}

/// One host of each kind of outcome: a1 unreachable, b1 ok, b2 failed, c3
/// not run (with `-b 1` hosts start in id order and the fail limit of 2 is
/// reached on b2, so c1, c2 and c3 are never started: a window slot is
/// released only after its host's result has been counted).
fn mixed_run(p: &Project, extra: &[&str]) -> Output {
    // The ok host prints markup and a terminal escape, which XML must carry.
    let cmd = format!(
        "mkdir {} 2>/dev/null && printf 'first <&> \\033[1m\\n' || exit 3",
        p.path().join("lock").display()
    );
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["-b", "1", "--batch-fail-limit", "2", "*", "cmd.run", &cmd]);
    p.run(&args)
}

fn mixed_project() -> Project {
    let port = closed_port();
    Project::new(&format!(
        "hosts:\n  a1: {{host: 127.0.0.1, port: {port}, connect_timeout: 2}}\n  b1: {{connection: local}}\n  b2: {{connection: local}}\n  c1: {{connection: local}}\n  c2: {{connection: local}}\n  c3: {{connection: local}}\n"
    ))
}

/// The job record of the run whose summary line is in `out`'s stderr: the
/// truth the machine-readable outputs are checked against.
fn record_of(p: &Project, out: &Output) -> serde_json::Value {
    let err = stderr(out);
    let jid = err.trim_end().rsplit_once("job ").expect("summary line").1;
    let shown = p.run(&["--out", "json", "jobs", "show", jid]);
    serde_json::from_slice(&shown.stdout).unwrap()
}

fn count_status(record: &serde_json::Value, statuses: &[&str]) -> usize {
    record["results"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| statuses.contains(&r["status"].as_str().unwrap()))
        .count()
}

#[test]
fn junit_reports_each_host_as_a_test_case() {
    let p = mixed_project();
    let out = mixed_run(&p, &["--out", "junit"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let record = record_of(&p, &out);
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let suite = doc.root_element();
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!(suite.attribute("name"), Some("halite cmd.run *"));
    let attr_n = |name: &str| -> usize { suite.attribute(name).unwrap().parse().unwrap() };
    assert_eq!(attr_n("tests"), 6, "{xml}");
    assert_eq!(
        attr_n("failures"),
        count_status(&record, &["failed"]),
        "{xml}"
    );
    assert_eq!(
        attr_n("errors"),
        count_status(&record, &["unreachable", "auth_failed", "host_key"]),
        "{xml}"
    );
    assert_eq!(
        attr_n("skipped"),
        count_status(&record, &["not_run", "interrupted"]),
        "{xml}"
    );
    assert!(attr_n("skipped") >= 2, "{xml}");
    assert!(suite.attribute("time").unwrap().parse::<f64>().unwrap() >= 0.0);
    let ts = suite.attribute("timestamp").unwrap();
    assert_eq!(ts.len(), 19, "{ts}");
    assert!(humantime::parse_rfc3339(&format!("{ts}Z")).is_ok(), "{ts}");
    let property = suite
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("jid"))
        .unwrap();
    assert_eq!(property.attribute("value"), record["jid"].as_str());

    let cases: Vec<roxmltree::Node> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["a1", "b1", "b2", "c1", "c2", "c3"]);
    let child = |c: &roxmltree::Node, tag: &str| {
        c.children().find(|n| n.has_tag_name(tag)).map(|n| {
            (
                n.attribute("message").map(str::to_string),
                n.attribute("type").map(str::to_string),
                n.text().unwrap_or("").to_string(),
            )
        })
    };
    // Every case carries exactly the element its host's status calls for.
    for c in &cases {
        assert_eq!(c.attribute("classname"), Some("halite.cmd.run"));
        assert!(c.attribute("time").unwrap().parse::<f64>().unwrap() >= 0.0);
        let status = record["results"][c.attribute("name").unwrap()]["status"]
            .as_str()
            .unwrap();
        let expected = match status {
            "ok" => "system-out",
            "failed" => "failure",
            "unreachable" | "auth_failed" | "host_key" => "error",
            _ => "skipped",
        };
        for tag in ["system-out", "failure", "error", "skipped"] {
            assert_eq!(child(c, tag).is_some(), tag == expected, "{tag} in {xml}");
        }
    }
    let (msg, kind, body) = child(&cases[0], "error").expect("a1 is an error");
    assert!(msg.unwrap().starts_with("UNREACHABLE: "));
    assert_eq!(kind.as_deref(), Some("unreachable"));
    assert!(body.contains("127.0.0.1"), "{body}");
    let (_, _, out_b1) = child(&cases[1], "system-out").expect("b1 has its output");
    // Markup survives escaping; the terminal escape XML cannot hold is replaced.
    assert_eq!(out_b1, "    first <&> \u{FFFD}[1m\n");
    let (msg, kind, body) = child(&cases[2], "failure").expect("b2 failed");
    assert_eq!(msg.as_deref(), Some("exit code 3"));
    assert_eq!(kind.as_deref(), Some("failed"));
    assert!(body.contains("(exit code 3)"), "{body}");
    let (msg, _, _) = child(&cases[5], "skipped").expect("c3 was skipped");
    assert!(msg.unwrap().starts_with("NOT RUN"));
    assert!(
        stderr(&out).contains("6 host(s) targeted"),
        "{}",
        stderr(&out)
    );
}

fn parse_metrics(path: &Path) -> prometheus_parse::Scrape {
    let text = std::fs::read_to_string(path).unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

#[test]
fn metrics_file_is_prometheus_text_written_atomically() {
    let p = mixed_project();
    std::fs::create_dir(p.path().join("textfile")).unwrap();
    let file = p.path().join("textfile/halite.prom");
    // Any output format; json here so the jid can be read back.
    let out = mixed_run(
        &p,
        &["--out", "json", "--metrics-file", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jid = run["jid"].as_str().unwrap();

    let scrape = parse_metrics(&file);
    use prometheus_parse::Value as V;
    let value = |name: &str, status: Option<&str>| -> Vec<f64> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get("status") == status)
            .map(|s| {
                assert_eq!(s.labels.get("jid"), Some(jid), "{s:?}");
                assert_eq!(s.labels.get("function"), Some("cmd.run"), "{s:?}");
                match s.value {
                    V::Gauge(v) | V::Untyped(v) | V::Counter(v) => v,
                    _ => panic!("{s:?}"),
                }
            })
            .collect()
    };
    for status in [
        "ok",
        "failed",
        "unreachable",
        "auth_failed",
        "host_key",
        "not_run",
        "interrupted",
    ] {
        let n = count_status(&run, &[status]) as f64;
        assert_eq!(value("halite_run_hosts", Some(status)), [n], "{status}");
    }
    assert_eq!(value("halite_run_hosts", Some("ok")), [1.0]);
    assert_eq!(value("halite_run_hosts", Some("unreachable")), [1.0]);
    assert_eq!(value("halite_run_hosts", Some("auth_failed")), [0.0]);
    let duration = value("halite_run_duration_seconds", None);
    assert_eq!(duration.len(), 1);
    assert!(duration[0] >= 0.0 && duration[0] < 60.0);
    let started = value("halite_run_timestamp_seconds", None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - started[0]).abs() < 300.0, "{started:?}");
    for name in [
        "halite_run_hosts",
        "halite_run_duration_seconds",
        "halite_run_timestamp_seconds",
        "halite_host_duration_seconds",
    ] {
        assert!(scrape.docs.contains_key(name), "no HELP for {name}");
    }

    // The histogram: cumulative buckets ending in +Inf, which equals
    // _count; hosts not run are not observed.
    let hist: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "halite_host_duration_seconds")
        .collect();
    assert_eq!(hist.len(), 1, "{hist:?}");
    let V::Histogram(buckets) = &hist[0].value else {
        panic!("not a histogram: {:?}", hist[0]);
    };
    assert!(buckets.len() >= 10, "{buckets:?}");
    assert_eq!(buckets[0].less_than, 0.1);
    for w in buckets.windows(2) {
        assert!(w[0].less_than < w[1].less_than, "{buckets:?}");
        assert!(w[0].count <= w[1].count, "{buckets:?}");
    }
    let last = buckets.last().unwrap();
    assert!(last.less_than.is_infinite());
    let count = value("halite_host_duration_seconds_count", None);
    let attempted = 6 - count_status(&run, &["not_run"]);
    assert_eq!(count, [attempted as f64]);
    assert_eq!(last.count, count[0]);
    let sum = value("halite_host_duration_seconds_sum", None);
    assert!(sum[0] >= 0.0 && sum[0] < 60.0);

    // Nothing but the file is left in the directory, and a second run
    // replaces it.
    let names = || -> Vec<String> {
        std::fs::read_dir(p.path().join("textfile"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(), ["halite.prom"]);
    let out = p.run(&[
        "--metrics-file",
        "textfile/halite.prom",
        "-L",
        "b1",
        "test.ping",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(names(), ["halite.prom"]);
    let scrape = parse_metrics(&file);
    let ok: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "halite_run_hosts" && s.labels.get("status") == Some("ok"))
        .collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].labels.get("function"), Some("test.ping"));
}

#[test]
fn unwritable_metrics_file_warns_and_keeps_the_exit_code() {
    let p = Project::new(&local_hosts(&["l1"]));
    let out = p.run(&[
        "--out",
        "grouped",
        "--metrics-file",
        "no/such/dir/halite.prom",
        "*",
        "test.ping",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "---------------- l1 (1)\n    True\n");
    assert!(
        stderr(&out).contains("warning: cannot write the metrics file no/such/dir/halite.prom"),
        "{}",
        stderr(&out)
    );
}

/// A project whose one SLS has a state that changes (cmd.run), one that is
/// already right (unless), and one that fails.
fn state_project() -> Project {
    let p = Project::new(&local_hosts(&["s1"]));
    std::fs::create_dir(p.path().join("states")).unwrap();
    std::fs::write(
        p.path().join("states/three.sls"),
        "changes:\n  cmd.run:\n    - name: echo changed\nclean:\n  cmd.run:\n    - name: echo never\n    - unless: 'true'\nbroken:\n  cmd.run:\n    - name: 'exit 3'\n",
    )
    .unwrap();
    p
}

#[test]
fn junit_reports_each_state_of_a_state_run() {
    let p = state_project();
    let out = p.run(&["--out", "junit", "*", "state.sls", "three"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let suite = doc.root_element();
    assert_eq!(suite.attribute("tests"), Some("3"), "{xml}");
    assert_eq!(suite.attribute("failures"), Some("1"), "{xml}");
    let cases: Vec<(String, String, bool)> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            (
                c.attribute("classname").unwrap().to_string(),
                c.attribute("name").unwrap().to_string(),
                c.children().any(|n| n.has_tag_name("failure")),
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            (
                "s1".into(),
                "changes | cmd.run | echo changed".into(),
                false
            ),
            ("s1".into(), "clean | cmd.run | echo never".into(), false),
            ("s1".into(), "broken | cmd.run | exit 3".into(), true),
        ],
        "{xml}"
    );
}

#[test]
fn state_output_modes_and_timing() {
    let p = state_project();
    // Full (the default): every state with Started and Duration, and the total.
    let out = p.run(&["*", "state.sls", "three"]);
    let text = stdout(&out);
    assert_eq!(text.matches("     Started: ").count(), 3, "{text}");
    assert_eq!(text.matches("    Duration: ").count(), 3, "{text}");
    assert!(text.contains("Total run time: "), "{text}");
    // Terse: one line each.
    let out = p.run(&["--state-output", "terse", "*", "state.sls", "three"]);
    let text = stdout(&out);
    assert!(
        text.contains("  Name: echo never - Function: cmd.run - Result: Clean - Started: "),
        "{text}"
    );
    assert!(
        text.contains("Name: echo changed - Function: cmd.run - Result: Changed"),
        "{text}"
    );
    assert!(
        text.contains("Name: exit 3 - Function: cmd.run - Result: Failed"),
        "{text}"
    );
    // Changes, with the clean ones left out: only the changed and failed, in full.
    let out = p.run(&[
        "--state-output=changes",
        "--state-verbose=false",
        "*",
        "state.sls",
        "three",
    ]);
    let text = stdout(&out);
    assert!(text.contains("          ID: changes\n"), "{text}");
    assert!(text.contains("          ID: broken\n"), "{text}");
    assert!(!text.contains("echo never"), "{text}");
    // halite.yaml sets the default; the flag still wins.
    std::fs::write(
        p.path().join("halite.yaml"),
        "cache_dir: cache\nknown_hosts: known_hosts\nstate_output: terse\n",
    )
    .unwrap();
    let text = stdout(&p.run(&["*", "state.sls", "three"]));
    assert!(text.contains("Result: Clean - Started"), "{text}");
    let text = stdout(&p.run(&["--state-output", "full", "*", "state.sls", "three"]));
    assert!(text.contains("          ID: clean\n"), "{text}");
    // JSON carries start_time and duration for every state.
    let (_, doc) = p.json(&["*", "state.sls", "three"]);
    let states = doc["results"]["s1"]["ret"].as_object().unwrap().clone();
    for (k, s) in states {
        assert!(
            s["start_time"].as_str().is_some_and(|t| t.len() == 15),
            "{k}: {s}"
        );
        assert!(s["duration"].as_f64().is_some_and(|d| d >= 0.0), "{k}: {s}");
    }
}

#[test]
fn grouped_state_runs_fold_hosts_despite_their_timings() {
    // Start times and durations differ on every host; grouped output leaves
    // them out so identical state results still fold into one group.
    let p = Project::new(&local_hosts(&["g1", "g2", "g3"]));
    std::fs::create_dir(p.path().join("states")).unwrap();
    std::fs::write(
        p.path().join("states/same.sls"),
        "same:\n  cmd.run:\n    - name: echo same\n",
    )
    .unwrap();
    let out = p.run(&["--out", "grouped", "*", "state.sls", "same"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(headers(&text), [("g[1-3]".to_string(), 3)], "{text}");
    assert!(
        !text.contains("Started") && !text.contains("Total run time"),
        "{text}"
    );
    assert!(text.contains("          ID: same\n"), "{text}");
}
