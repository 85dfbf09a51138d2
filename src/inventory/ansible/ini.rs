//! Ansible's INI inventory format: `[group]` sections of host lines
//! (`name key=value ...`, split like a POSIX shell, `#` starting a comment),
//! `[group:vars]` lines of `key=value`, `[group:children]` lines of group
//! names; hosts before any section are ungrouped. Values are Python
//! literals where they parse as one ([`super::literal`]). What Ansible
//! refuses (an unknown section type, a word that is not `key=value`, vars
//! or children of a group never declared) is refused here, naming the line.

use std::collections::BTreeMap;

use super::{literal, pattern, Tree};

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Hosts,
    Children,
    Vars,
}

/// Read INI text; `origin` (the file) starts every place and message.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Tree, String> {
    let mut tree = Tree::default();
    let mut group = "ungrouped".to_string();
    let mut section = Section::Hosts;
    // Groups declared by `[g]` or `[g:children]`; groups used before, and where.
    let mut declared =
        std::collections::BTreeSet::from(["ungrouped".to_string(), "all".to_string()]);
    let mut used: BTreeMap<String, (usize, Section)> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let at = format!("{origin}:{n}");
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let (name, kind) = section_header(line).ok_or_else(|| {
                format!("{at}: invalid section `{line}` (a group name without spaces, optionally :vars or :children)")
            })?;
            section = match kind {
                None | Some("hosts") => Section::Hosts,
                Some("children") => Section::Children,
                Some("vars") => Section::Vars,
                Some(other) => {
                    return Err(format!("{at}: section `{line}` has unknown type `{other}`"))
                }
            };
            if section == Section::Vars {
                used.entry(name.to_string()).or_insert((n, Section::Vars));
            } else {
                declared.insert(name.to_string());
            }
            tree.group(name);
            group = name.to_string();
            continue;
        }
        match section {
            Section::Hosts => host_line(&mut tree, &group, line, &at)?,
            Section::Vars => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| format!("{at}: expected key=value, got `{line}`"))?;
                let value = literal::parse(v.trim());
                tree.group(&group)
                    .vars
                    .insert(k.trim().to_string(), (value, at));
            }
            Section::Children => {
                let child = line.split('#').next().unwrap_or("").trim();
                if child.is_empty()
                    || child.contains(|c: char| c.is_whitespace() || c == ':' || c == ']')
                {
                    return Err(format!("{at}: expected a group name, got `{line}`"));
                }
                used.entry(child.to_string())
                    .or_insert((n, Section::Children));
                tree.group(child);
                tree.group(&group).children.insert(child.to_string());
            }
        }
    }
    for (name, (n, how)) in used {
        if !declared.contains(&name) {
            return Err(match how {
                Section::Vars => {
                    format!("{origin}:{n}: section [{name}:vars] is for a group never declared")
                }
                _ => format!("{origin}:{n}: group `{name}` is a child but never declared"),
            });
        }
    }
    Ok(tree)
}

/// `[name]` or `[name:kind]`, with an optional comment after.
fn section_header(line: &str) -> Option<(&str, Option<&str>)> {
    let end = line.find(']')?;
    let after = line[end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inner = &line[1..end];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    let bad = |s: &str| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '[');
    if bad(name)
        || kind.is_some_and(|k| bad(k) || !k.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return None;
    }
    Some((name, kind))
}

/// `pattern key=value ...`: every host the pattern stands for joins `group`
/// with those variables.
fn host_line(tree: &mut Tree, group: &str, line: &str, at: &str) -> Result<(), String> {
    let words = shlex::split(strip_comment(line))
        .ok_or_else(|| format!("{at}: cannot split `{line}` (an unclosed quote?)"))?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(());
    };
    if first == "---" {
        return Err(format!(
            "{at}: `---` starts a YAML document: is this a YAML inventory named .ini?"
        ));
    }
    let (names, port) = pattern::expand(first).map_err(|e| format!("{at}: {e}"))?;
    let mut vars = Vec::new();
    for word in rest {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| format!("{at}: expected key=value host variable, got `{word}`"))?;
        vars.push((k.to_string(), literal::parse(v)));
    }
    for name in names {
        let host = tree.add_host(group, &name, at);
        if let Some(p) = port {
            host.vars
                .insert("ansible_port".into(), (p.into(), at.to_string()));
        }
        for (k, v) in &vars {
            host.vars.insert(k.clone(), (v.clone(), at.to_string()));
        }
    }
    Ok(())
}

/// The line up to its first `#` outside quotes (Python's shlex with comments).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some('"') | None, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}
