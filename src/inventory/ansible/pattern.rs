//! Ansible host patterns as inventories write them: `web[01:10].example.com`
//! (numeric ranges keep their zero padding), `db[a:f]`, `node[0:20:5]` (a
//! step), several ranges in one name, and a port after the name
//! (`host:2222`, `[2001:db8::1]:2222`). Checked against Ansible's expansion
//! by the fixture tests in [`super`].

/// The host names a pattern stands for, and the port it names, if any.
pub(crate) fn expand(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    let mut names = Vec::new();
    expand_into(name, &mut names)?;
    if names.is_empty() {
        return Err(format!("host pattern `{pattern}` stands for no host"));
    }
    Ok((names, port))
}

/// `name:port` and `[v6]:port` apart; a bare IPv6 address has no port.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = || format!("host pattern `{pattern}`: the port after `:` must be 1 to 65535");
    if let Some(rest) = pattern.strip_prefix('[') {
        // `[v6]` or `[v6]:port` (not a range: a range needs text before it).
        if let Some(end) = rest.find(']') {
            let inner = &rest[..end];
            if inner.contains(':') && !inner.contains('[') {
                return match &rest[end + 1..] {
                    "" => Ok((inner, None)),
                    p => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
                        Some(n) if n > 0 => Ok((inner, Some(n))),
                        _ => Err(bad_port()),
                    },
                };
            }
        }
    }
    // More than one `:` outside brackets is a bare IPv6 address.
    let outside: usize = {
        let mut depth = 0i32;
        pattern
            .chars()
            .filter(|&c| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                c == ':' && depth == 0
            })
            .count()
    };
    if outside != 1 {
        return Ok((pattern, None));
    }
    let at = last_colon_outside(pattern).unwrap_or(pattern.len());
    let (name, port) = (&pattern[..at], &pattern[at + 1..]);
    match port.parse::<u16>() {
        Ok(n) if n > 0 && !name.is_empty() => Ok((name, Some(n))),
        _ => Err(bad_port()),
    }
}

fn last_colon_outside(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut found = None;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => found = Some(i),
            _ => {}
        }
    }
    found
}

/// Expand the first `[a:b(:step)]` in `name`, then the rest recursively.
fn expand_into(name: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = name.find('[') else {
        out.push(name.to_string());
        return Ok(());
    };
    let Some(len) = name[open..].find(']') else {
        return Err(format!("host pattern `{name}`: `[` without `]`"));
    };
    let (head, range, tail) = (
        &name[..open],
        &name[open + 1..open + len],
        &name[open + len + 1..],
    );
    if !range.contains(':') {
        // Not a range (e.g. an IPv6 literal): Ansible keeps it as written.
        out.push(name.to_string());
        return Ok(());
    }
    if head.is_empty() {
        return Err(format!(
            "host pattern `{name}`: a range needs a name before it"
        ));
    }
    for item in range_items(range).map_err(|e| format!("host pattern `{name}`: {e}"))? {
        expand_into(&format!("{head}{item}{tail}"), out)?;
    }
    Ok(())
}

/// `01:10`, `a:f`, `0:20:5`.
fn range_items(range: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = range.split(':').collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, "1"),
        [b, e, s] => (*b, *e, *s),
        _ => {
            return Err(format!(
                "range `[{range}]` must be [begin:end] or [begin:end:step]"
            ))
        }
    };
    let beg = if beg.is_empty() { "0" } else { beg };
    if end.is_empty() {
        return Err(format!("range `[{range}]` has no end"));
    }
    let step: usize = match step.parse() {
        Ok(s) if s > 0 => s,
        _ => {
            return Err(format!(
                "range `[{range}]`: the step must be a positive number"
            ))
        }
    };
    let alpha = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic());
    if alpha(beg) && alpha(end) {
        // Ansible's order: a..z then A..Z.
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let (b, e) = (
            LETTERS.find(beg).unwrap_or(0),
            LETTERS.find(end).unwrap_or(0),
        );
        if b > e {
            return Err(format!("range `[{range}]` runs backwards"));
        }
        return Ok(LETTERS[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect());
    }
    let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) else {
        return Err(format!(
            "range `[{range}]` must be numbers or single letters"
        ));
    };
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err(format!(
                "range `[{range}]`: a zero-padded begin and its end must have the same width"
            ));
        }
        beg.len()
    } else {
        0
    };
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand(p).unwrap().0
    }

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(names("web[01:03].x"), ["web01.x", "web02.x", "web03.x"]);
        assert_eq!(names("db[a:c]"), ["dba", "dbb", "dbc"]);
        assert_eq!(names("n[0:10:5]"), ["n0", "n5", "n10"]);
        assert_eq!(names("r[1:2]c[a:b]"), ["r1ca", "r1cb", "r2ca", "r2cb"]);
        assert_eq!(names("plain"), ["plain"]);
        assert!(expand("w[01:100]").is_err());
        assert!(expand("w[3:1]").is_err());
        assert!(expand("w[1:").is_err());
    }

    #[test]
    fn ports_follow_the_name() {
        assert_eq!(
            expand("10.0.0.9:2222").unwrap(),
            (vec!["10.0.0.9".into()], Some(2222))
        );
        assert_eq!(expand("w[1:2]:22").unwrap().1, Some(22));
        assert_eq!(
            expand("[2001:db8::1]:2200").unwrap(),
            (vec!["2001:db8::1".into()], Some(2200))
        );
        assert_eq!(
            expand("2001:db8::1").unwrap(),
            (vec!["2001:db8::1".into()], None)
        );
        assert!(expand("web1:").is_err());
        assert!(expand("web1:x").is_err());
    }
}
