//! `--out grouped`: on a large fleet most hosts answer the same thing, and
//! reading the same lines forty times hides the one host that differs. Hosts
//! whose status and rendered output are identical are printed once, under
//! their ids folded into ClusterShell's range notation (`web[01-40,42]`, as
//! `clubak -b` does), smallest group first so the odd ones out are read
//! before the crowd and the largest group sits last, next to the summary.
//!
//! Folding works on the last run of digits in an id (`node[1-3]a`,
//! `a1b[2-3]`): ranges keep zero-padding (`web[01-40]` expands back to
//! `web01`..`web40`), and ids without digits, or whose number does not fit
//! in 64 bits, are listed as they are.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use super::{host_body, Style};
use crate::fleet::{HostResult, Status};

/// Hosts that share an output.
struct Group {
    hosts: Vec<String>,
    status: Status,
    /// Rendered with the caller's style (colour), from the first host.
    body: String,
}

/// Group hosts by (status, plain rendered output). Status is part of the key
/// because an ok host and a failed one can render alike (a failure without
/// an exit code), and merging them would hide the failure.
fn groups<'a>(results: impl IntoIterator<Item = &'a HostResult>, style: &Style) -> Vec<Group> {
    // Start times and durations differ on every host: they would split
    // every group, so grouped output leaves them out.
    let mut style = *style;
    style.states.per_host = false;
    let style = &style;
    let mut plain = Style::plain();
    plain.states = style.states;
    let mut index: HashMap<(Status, String), usize> = HashMap::new();
    let mut out: Vec<Group> = Vec::new();
    for r in results {
        let key = (r.status, host_body(r, &plain));
        let i = *index.entry(key).or_insert_with(|| {
            out.push(Group {
                hosts: Vec::new(),
                status: r.status,
                body: host_body(r, style),
            });
            out.len() - 1
        });
        out[i].hosts.push(r.id.clone());
    }
    for g in &mut out {
        g.hosts.sort_by(|a, b| natural_cmp(a, b));
        g.hosts.dedup();
    }
    out.sort_by(|a, b| {
        a.hosts
            .len()
            .cmp(&b.hosts.len())
            .then_with(|| natural_cmp(&a.hosts[0], &b.hosts[0]))
    });
    out
}

/// Hosts with identical output, each group's hosts in natural order, groups
/// smallest first; the body is the plain rendering (no colour).
pub fn group<'a>(results: impl IntoIterator<Item = &'a HostResult>) -> Vec<(Vec<String>, String)> {
    groups(results, &Style::plain())
        .into_iter()
        .map(|g| (g.hosts, g.body))
        .collect()
}

/// The whole grouped output: a header line per group, then its shared body.
pub fn render<'a>(results: impl IntoIterator<Item = &'a HostResult>, style: &Style) -> String {
    let mut out = String::new();
    for g in groups(results, style) {
        let header = format!(
            "---------------- {} ({})",
            fold_hosts(&g.hosts),
            g.hosts.len()
        );
        out.push_str(&style.status(g.status, &header));
        out.push('\n');
        out.push_str(&g.body);
    }
    out
}

/// Fold host ids into range notation: `web01,web02,web03,web05,db1` →
/// `db1,web[01-03,05]`. Duplicates are dropped; the result is in natural
/// order.
pub fn fold_hosts(ids: &[String]) -> String {
    let unique: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    // (prefix, suffix) → members as (value, digits as written).
    let mut series: HashMap<(&str, &str), Vec<(u64, &str)>> = HashMap::new();
    let mut parts: Vec<(String, String)> = Vec::new(); // (first id, text)
    for id in unique {
        match split_last_number(id) {
            Some((prefix, digits, suffix)) => match digits.parse::<u64>() {
                Ok(n) => series
                    .entry((prefix, suffix))
                    .or_default()
                    .push((n, digits)),
                Err(_) => parts.push((id.to_string(), id.to_string())),
            },
            None => parts.push((id.to_string(), id.to_string())),
        }
    }
    for ((prefix, suffix), mut members) in series {
        members.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.len().cmp(&b.1.len())));
        let first = format!("{prefix}{}{suffix}", members[0].1);
        if members.len() == 1 {
            parts.push((first.clone(), first));
            continue;
        }
        let ranges = ranges(&members).join(",");
        parts.push((first, format!("{prefix}[{ranges}]{suffix}")));
    }
    parts.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    parts
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// `prefix`, last digit run, `suffix` (which has no digits).
fn split_last_number(id: &str) -> Option<(&str, &str, &str)> {
    let end = id.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = id[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    Some((&id[..start], &id[start..end], &id[end..]))
}

/// How a range starting at `start` spells `value`: ClusterShell pads every
/// member to the width of the first when the first has a leading zero.
fn spell(start: &str, value: u64) -> String {
    if start.len() > 1 && start.starts_with('0') {
        format!("{value:0width$}", width = start.len())
    } else {
        value.to_string()
    }
}

/// Sorted members → `01-03`, `05`. A member joins the running range only if
/// the range's notation would spell it exactly as written, so expanding the
/// folded text gives back the same ids (`9,10` folds, `1,02` does not).
fn ranges(members: &[(u64, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < members.len() {
        let (start, text) = members[i];
        let mut end = start;
        let mut j = i + 1;
        while j < members.len()
            && end.checked_add(1) == Some(members[j].0)
            && spell(text, members[j].0) == members[j].1
        {
            end = members[j].0;
            j += 1;
        }
        if end == start {
            out.push(text.to_string());
        } else {
            out.push(format!("{text}-{}", spell(text, end)));
        }
        i = j;
    }
    out
}

/// Natural order: digit runs compare as numbers of any length (`h2` <
/// `h10`), the rest as text; ties fall back to plain byte order so the
/// order is total (`h1` before `h01`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return a.cmp(b),
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (cx, rx) = chunk(x);
        let (cy, ry) = chunk(y);
        let dx = cx.starts_with(|c: char| c.is_ascii_digit());
        let dy = cy.starts_with(|c: char| c.is_ascii_digit());
        let ord = match (dx, dy) {
            (true, true) => {
                let (tx, ty) = (cx.trim_start_matches('0'), cy.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => cx.cmp(cy),
        };
        if ord != Ordering::Equal {
            return ord;
        }
        (x, y) = (rx, ry);
    }
}

/// The leading run of digits or of non-digits, and the rest.
fn chunk(s: &str) -> (&str, &str) {
    let digit = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digit)
        .unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn fold(ids: &[&str]) -> String {
        fold_hosts(&ids.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>, width: usize) -> Vec<String> {
        range.map(|n| format!("{prefix}{n:0width$}")).collect()
    }

    #[test]
    fn folds_padded_ranges_with_gaps() {
        let mut ids = numbered("web", 1..=40, 2);
        ids.push("web42".into());
        ids.extend(numbered("db", 1..=3, 1));
        assert_eq!(fold_hosts(&ids), "db[1-3],web[01-40,42]");
        assert_eq!(fold(&["web01", "web02", "web03", "web05"]), "web[01-03,05]");
        assert_eq!(fold(&["n1", "n3", "n5"]), "n[1,3,5]");
        assert_eq!(fold(&["n1", "n2", "n4", "n5", "n6", "n9"]), "n[1-2,4-6,9]");
    }

    #[test]
    fn padding_is_kept_and_never_invented() {
        assert_eq!(fold(&["h9", "h10", "h11"]), "h[9-11]");
        assert_eq!(fold(&["h09", "h10", "h11"]), "h[09-11]");
        assert_eq!(fold(&["h098", "h099", "h100"]), "h[098-100]");
        // Different spellings of one number are different hosts.
        assert_eq!(fold(&["h1", "h01"]), "h[1,01]");
        // `1,02` cannot be one range: `[1-2]` would give h2, not h02.
        assert_eq!(fold(&["h1", "h02", "h03"]), "h[1,02-03]");
        assert_eq!(fold(&["h0", "h1"]), "h[0-1]");
        assert_eq!(fold(&["h00", "h01"]), "h[00-01]");
    }

    #[test]
    fn single_hosts_and_plain_ids() {
        assert_eq!(fold(&[]), "");
        assert_eq!(fold(&["web5"]), "web5");
        assert_eq!(fold(&["alpha", "beta"]), "alpha,beta");
        assert_eq!(fold(&["web1", "web1"]), "web1");
        assert_eq!(fold(&["7"]), "7");
        assert_eq!(fold(&["7", "8", "9"]), "[7-9]");
    }

    #[test]
    fn mixed_prefixes_sort_naturally() {
        assert_eq!(
            fold(&["web10", "db2", "web2", "app", "db1", "web1", "cache"]),
            "app,cache,db[1-2],web[1-2,10]"
        );
        assert_eq!(
            fold(&["rack2-n1", "rack10-n1", "rack2-n2"]),
            "rack2-n[1-2],rack10-n1"
        );
    }

    #[test]
    fn digits_in_the_middle_fold_on_the_last_number() {
        assert_eq!(fold(&["node1a", "node2a", "node3a"]), "node[1-3]a");
        assert_eq!(fold(&["node1a", "node2b"]), "node1a,node2b");
        assert_eq!(fold(&["a1b2", "a1b3", "a1b4"]), "a1b[2-4]");
        // Only one dimension folds: a[1-2]b2 would need ClusterShell's
        // multi-dimensional sets.
        assert_eq!(fold(&["a1b2", "a2b2"]), "a1b2,a2b2");
        assert_eq!(fold(&["a1b2", "a1b3", "a2b2"]), "a1b[2-3],a2b2");
    }

    #[test]
    fn numbers_beyond_u64_stay_text() {
        let big = "h18446744073709551616"; // u64::MAX + 1
        let max = "h18446744073709551615";
        assert_eq!(fold(&[big, "h1", "h2"]), format!("h[1-2],{big}"));
        // The range must not overflow past u64::MAX.
        assert_eq!(
            fold(&[max, "h18446744073709551614"]),
            "h[18446744073709551614-18446744073709551615]"
        );
        assert_eq!(
            fold(&["h99999999999999999999999", "h99999999999999999999998"]),
            "h99999999999999999999998,h99999999999999999999999"
        );
    }

    #[test]
    fn natural_order() {
        let mut v = vec![
            "h10",
            "h2",
            "h1",
            "h01",
            "a",
            "h",
            "h1x",
            "h100000000000000000000000",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "a",
                "h",
                "h01",
                "h1",
                "h1x",
                "h2",
                "h10",
                "h100000000000000000000000"
            ]
        );
    }

    fn host(id: &str, status: Status, ret: Value) -> HostResult {
        HostResult {
            id: id.into(),
            status,
            ret,
            retcode: None,
            error: None,
            started: None,
            duration_ms: 0,
            executions: 1,
            drift: None,
            ledger: None,
            duplicate: false,
        }
    }

    #[test]
    fn groups_identical_output_largest_last() {
        let mut rs: Vec<HostResult> = (1..=5)
            .map(|i| host(&format!("h{i:02}"), Status::Ok, Value::from("same")))
            .collect();
        rs.push(host("h06", Status::Ok, Value::from("other")));
        let mut down = host("db1", Status::Unreachable, Value::Null);
        down.error = Some("connection refused".into());
        rs.push(down.clone());
        down.id = "db2".into();
        rs.push(down);
        let g = group(&rs);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0], (vec!["h06".to_string()], "    other\n".to_string()));
        assert_eq!(g[1].0, ["db1", "db2"]);
        assert_eq!(g[1].1, "    UNREACHABLE: connection refused\n");
        assert_eq!(g[2].0, ["h01", "h02", "h03", "h04", "h05"]);
        let text = render(&rs, &Style::plain());
        assert!(
            text.ends_with("---------------- h[01-05] (5)\n    same\n"),
            "{text}"
        );
        assert!(
            text.starts_with("---------------- h06 (1)\n    other\n---------------- db[1-2] (2)\n"),
            "{text}"
        );
    }

    #[test]
    fn same_text_different_status_is_not_merged() {
        let ok = host("a", Status::Ok, Value::from("x"));
        let failed = host("b", Status::Failed, Value::from("x"));
        assert_eq!(group([&ok, &failed]).len(), 2);
        assert!(group(Vec::<&HostResult>::new()).is_empty());
    }
}
