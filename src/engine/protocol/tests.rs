//! The protocol's round trip: every emitter's `sh` run by the real shells a
//! host may have (dash, busybox ash, bash --posix), its output read back by
//! [`parse`]; and the lines `parse` refuses.

use super::*;

const M: &str = "@@halite-0123456789abcdef";

/// The shells a host's `sh` may be. A missing one fails the test: the
/// round trip is the point.
const SHELLS: [&[&str]; 3] = [&["dash"], &["busybox", "ash"], &["bash", "--posix"]];

fn run(shell: &[&str], script: &str) -> String {
    let out = std::process::Command::new(shell[0])
        .args(&shell[1..])
        .arg("-c")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("{shell:?} must be installed for this test: {e}"));
    assert!(out.status.success(), "{shell:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Every emitter once, around commands whose output and status are known.
fn script(extra_prelude: &str) -> String {
    let mut s = prelude(M);
    s.push_str(extra_prelude);
    s.push_str(&begin(M, Block::Probe, 0));
    s.push_str("( echo out0; echo err0 >&2; exit 3 ) </dev/null\n_hr=$?\n");
    s.push_str(&end(M, 0, "$_hr"));
    for (test, c) in [
        ("false", Cond::Unless),
        ("true", Cond::Onlyif),
        ("[ -e /nonexistent/x ]", Cond::Creates),
    ] {
        s.push_str(&format!("{test}; {}\n", cond(M, 1, c)));
    }
    s.push_str(&begin(M, Block::Apply, 1));
    s.push_str("printf 'no newline at the end'\nr=0\n");
    s.push_str(&end(M, 1, "$r"));
    s.push_str("h_try=3\n");
    s.push_str(&tries(M, 1, "$h_try"));
    s.push_str(&begin(M, Block::Watch, 1));
    s.push_str(&end(M, 1, "0"));
    s.push_str(&begin(M, Block::Listen, 2));
    s.push_str("printf '%s\\n' 'two' 'lines'\n");
    s.push_str(&end(M, 2, "1"));
    for line in [condskip(M, 2), skip(M, 3), failhard(M, 4)] {
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str(&done(M, 1));
    s.push_str(&finished(M));
    s
}

#[test]
fn every_event_round_trips_through_dash_busybox_and_bash_posix() {
    for shell in SHELLS {
        let out = run(shell, &script(""));
        let s = parse(&out, M).unwrap_or_else(|e| panic!("{shell:?}: {e}\n{out}"));
        let block = |b, i| s.block(b, i).cloned();
        // The end line's own newline is taken off, not the output's.
        assert_eq!(
            block(Block::Probe, 0),
            Some(("out0\nerr0\n".into(), 3)),
            "{shell:?}"
        );
        assert_eq!(
            block(Block::Apply, 1),
            Some(("no newline at the end".into(), 0))
        );
        assert_eq!(block(Block::Watch, 1), Some((String::new(), 0)));
        assert_eq!(block(Block::Listen, 2), Some(("two\nlines\n".into(), 1)));
        assert_eq!(
            s.conditions[&1],
            [(Cond::Unless, 1), (Cond::Onlyif, 0), (Cond::Creates, 1)]
        );
        assert_eq!(s.tries[&1], 3);
        assert_eq!(
            (s.condskipped.as_slice(), s.skipped.as_slice()),
            (&[2][..], &[3][..])
        );
        assert_eq!(s.failhard, Some(4));
        assert_eq!(s.progress.done, [1]);
        assert!(s.progress.started && s.progress.finished);
        assert_eq!(s.progress.open, None);
        // This machine has /proc/uptime: every block is timed.
        let clock = s.clock.expect("the clock line");
        assert_eq!(s.times.len(), 4, "{shell:?}: {:?}", s.times);
        for (a, b) in s.times.values() {
            assert!(clock <= *a && a <= b, "{shell:?}: {clock} {a} {b}");
        }
    }
}

#[test]
fn without_uptime_the_times_are_unknown_and_nothing_else_changes() {
    for shell in SHELLS {
        let out = run(shell, &script("_ht() { _hu=-; }\n"));
        assert!(out.contains(&format!("{M} rc 0 3 -\n")), "{out}");
        let s = parse(&out, M).unwrap();
        assert!(s.times.is_empty());
        assert_eq!(s.block(Block::Probe, 0).map(|b| b.1), Some(3));
        // The prelude's own clock line came before `_ht` was replaced.
        assert!(s.progress.started);
    }
}

#[test]
fn a_block_cut_before_its_end_is_left_open() {
    let mut sc = prelude(M);
    sc.push_str(&begin(M, Block::Apply, 7));
    sc.push_str("echo partial\n");
    for shell in SHELLS {
        let s = parse(&run(shell, &sc), M).unwrap();
        assert_eq!(s.progress.open, Some(("apply".into(), 7)));
        assert!(s.blocks.is_empty());
    }
}

#[test]
fn a_marker_line_that_is_no_event_fails_with_its_line() {
    for bad in [
        "bogus 1",
        "rc x 0 1.0",
        "rc 1 0",
        "probe 1 soon",
        "cond 1 maybe 0",
        "done",
        "done x",
        "skip -1",
        "ledger nonsense",
        "ledger sum 1_2",
        "ledger end now",
        "ledger as",
        "",
    ] {
        let out = format!("hello\n{M} clock 1.5\n{M} {bad}\n");
        match parse(&out, M) {
            Err(ProtocolError::Unreadable { line: 3, text }) => {
                assert_eq!(text, format!("{M} {bad}"))
            }
            other => panic!("`{bad}`: {other:?}"),
        }
    }
}

#[test]
fn an_end_line_for_a_block_not_open_is_an_error() {
    let out = format!("{M} rc 2 0 1.0\n");
    assert!(matches!(
        parse(&out, M),
        Err(ProtocolError::Mismatch { line: 1, .. })
    ));
    let out = format!("{M} probe 1 1.0\nx\n{M} rc 2 0 1.0\n");
    let e = parse(&out, M).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the host's script ended block `rc 2` while `probe 1` was open (output line 3)"
    );
}

#[test]
fn ledger_lines_and_other_output_pass() {
    let out = format!(
        "noise {M} inside a line\n{M} ledger as root /var/lib/halite\n{M} ledger file\nv1\n{M} ledger sum\n{M} ledger unreadable\n{M} ledger end\n"
    );
    let s = parse(&out, M).unwrap();
    assert!(s.blocks.is_empty() && !s.progress.started);
    assert_eq!(
        Event::read(" ledger as alice /home/a b"),
        Some(Event::Ledger("as alice /home/a b".into()))
    );
}

#[test]
fn progress_lines_are_taken() {
    let s = parse(&format!("{M} done 3\n{M} finished\n"), M).unwrap();
    assert!(s.progress.finished);
    assert_eq!(s.progress.done, [3]);
}
