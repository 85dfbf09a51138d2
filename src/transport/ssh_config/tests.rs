//! The parser and matcher against OpenSSH's own answers
//! (tests/compat/ssh_config.json, written by tests/compat/gen_ssh_config.py
//! from `ssh -G`), plus what `ssh -G` cannot show (expanded IdentityFile
//! tokens, relative Include).

use super::*;
use serde_json::Value;

const FIXTURE: &str = include_str!("../../../tests/compat/ssh_config.json");
const HOME: &str = "/home/fixture";
/// What `ssh -G` prints for IdentityFile when none is set.
const DEFAULT_IDS: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// What `ssh -G` would print for the fields halite reads, from `r`.
fn printed(r: &Resolved, q: &Query) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put(
        "hostname",
        r.hostname.clone().unwrap_or(q.host.to_lowercase()).into(),
    );
    put(
        "user",
        r.user.clone().unwrap_or(q.local_user.to_string()).into(),
    );
    put("port", r.port.unwrap_or(22).to_string().into());
    let ids: Vec<String> = if r.identity_files.is_empty() {
        DEFAULT_IDS.iter().map(|s| s.to_string()).collect()
    } else {
        r.identity_files.iter().map(|s| s.value.clone()).collect()
    };
    put("identityfile", ids.into());
    if !r.certificate_files.is_empty() {
        let certs: Vec<String> = r
            .certificate_files
            .iter()
            .map(|s| s.value.clone())
            .collect();
        put("certificatefile", certs.into());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    put(
        "identitiesonly",
        yes_no(r.identities_only.unwrap_or(false)).into(),
    );
    match &r.proxy {
        Some(Proxy::Jump(hops)) => {
            let s: Vec<String> = hops.iter().map(Hop::to_string).collect();
            put("proxyjump", s.join(",").into());
        }
        Some(Proxy::Command(c)) => put("proxycommand", c.value.clone().into()),
        Some(Proxy::Direct) | None => {}
    }
    let kh = match r.known_hosts(q).unwrap() {
        None => format!("{HOME}/.ssh/known_hosts {HOME}/.ssh/known_hosts2"),
        Some(files) if files.is_empty() => "none".into(),
        Some(files) => files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    };
    put("userknownhostsfile", vec![kh].into());
    let strict = match r.strict {
        None | Some(Strict::Ask) => "ask",
        Some(Strict::Yes) => "true",
        Some(Strict::No) => "false",
        Some(Strict::AcceptNew) => "accept-new",
    };
    put("stricthostkeychecking", strict.into());
    put(
        "connecttimeout",
        r.connect_timeout
            .map_or("none".to_string(), |d| d.as_secs().to_string())
            .into(),
    );
    put(
        "serveraliveinterval",
        r.server_alive_interval
            .unwrap_or_default()
            .as_secs()
            .to_string()
            .into(),
    );
    put(
        "serveralivecountmax",
        r.server_alive_count_max.unwrap_or(3).to_string().into(),
    );
    m
}

#[test]
fn agrees_with_openssh() {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let local_user = doc["local_user"].as_str().unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let files = case["files"].as_object().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text.as_str().unwrap().replace("{dir}", &d)).unwrap();
        }
        let main = dir.path().join(files.keys().next().unwrap());
        let loaded = SshConfig::load(&main, Path::new(HOME));
        if case["exit"].as_i64() != Some(0) {
            let e = loaded.expect_err(name);
            let SshConfigError::Invalid { path, line, .. } = &e else {
                panic!("{name}: {e}");
            };
            let want = dir.path().join(case["error_file"].as_str().unwrap());
            assert_eq!(path, &want, "{name}: {e}");
            assert_eq!(
                *line as i64,
                case["error_line"].as_i64().unwrap(),
                "{name}: {e}"
            );
            checked += 1;
            continue;
        }
        let cfg = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
        let port = case["port"].as_u64().map(|p| p as u16);
        let q = Query {
            host: case["host"].as_str().unwrap(),
            user: case["user"].as_str(),
            port,
            local_user,
            home: Path::new(HOME),
        };
        let r = cfg.resolve(&q).unwrap();
        let got = printed(&r, &q);
        for (key, want) in case["expect"].as_object().unwrap() {
            let want = match want {
                Value::String(s) => Value::String(s.replace("{dir}", &d).replace("{home}", HOME)),
                Value::Array(_) => strs(want)
                    .into_iter()
                    .map(|s| s.replace("{dir}", &d).replace("{home}", HOME))
                    .collect::<Vec<_>>()
                    .into(),
                v => v.clone(),
            };
            assert_eq!(got.get(key), Some(&want), "{name}: {key}");
        }
        for key in got.keys() {
            assert!(
                case["expect"].get(key).is_some(),
                "{name}: halite sets {key}, ssh -G does not"
            );
        }
        checked += 1;
    }
    assert!(checked > 50, "{checked}");
}

fn query<'a>(host: &'a str) -> Query<'a> {
    Query {
        host,
        user: None,
        port: None,
        local_user: "me",
        home: Path::new(HOME),
    }
}

#[test]
fn identity_file_tokens_expand_as_for_known_hosts() {
    let cfg = SshConfig::parse(
        "Host a\n  HostName a.example\n  User bob\n  Port 2200\n  IdentityFile ~/.ssh/%h_%p_%r_%n_%u_%%\n  CertificateFile %d/c\n",
        Path::new("/cfg"),
        Path::new(HOME),
    )
    .unwrap();
    let q = query("a");
    let r = cfg.resolve(&q).unwrap();
    assert_eq!(
        r.expand_path(&r.identity_files[0], &q).unwrap(),
        PathBuf::from(format!("{HOME}/.ssh/a.example_2200_bob_a_me_%"))
    );
    assert_eq!(
        r.expand_path(&r.certificate_files[0], &q).unwrap(),
        PathBuf::from(format!("{HOME}/c"))
    );
}

#[test]
fn proxy_command_tokens_and_unknown_tokens() {
    let cfg = SshConfig::parse(
        "Host a\n  ProxyCommand nc %h %p %r %% # not a comment\nHost b\n  ProxyCommand nc %C\n",
        Path::new("/cfg"),
        Path::new(HOME),
    )
    .unwrap();
    let q = query("a");
    let r = cfg.resolve(&q).unwrap();
    assert_eq!(
        r.proxy_command(&q).unwrap().as_deref(),
        Some("nc a 22 me %")
    );
    let q = query("b");
    let e = cfg
        .resolve(&q)
        .unwrap()
        .proxy_command(&q)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/cfg: line 4: unknown or unsupported token %C in \"nc %C\" (resolving host b)"
    );
}

#[test]
fn relative_include_is_under_dot_ssh() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh/conf.d")).unwrap();
    std::fs::write(
        home.path().join(".ssh/conf.d/x.conf"),
        "Host a\n  Port 2400\n",
    )
    .unwrap();
    let cfg = SshConfig::parse("Include conf.d/*.conf\n", Path::new("/cfg"), home.path()).unwrap();
    let q = Query {
        home: home.path(),
        ..query("a")
    };
    assert_eq!(cfg.resolve(&q).unwrap().port, Some(2400));
}

#[test]
fn unsupported_match_is_refused_with_place() {
    let e = SshConfig::parse(
        "Host x\n  User y\nMatch canonical\n",
        Path::new("/cfg"),
        Path::new(HOME),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("/cfg: line 3: Match canonical is not supported"),
        "{e}"
    );
    let e = SshConfig::parse("Match exec\n", Path::new("/cfg"), Path::new(HOME))
        .unwrap_err()
        .to_string();
    assert!(e.contains("Missing Match criteria for exec"), "{e}");
}

#[test]
fn match_exec_runs_its_command_per_host() {
    let cfg = SshConfig::parse(
        "Match exec \"test %n = web1\"\n  Port 2301\nMatch !exec \"exit 3\" host db*\n  Port 2302\n",
        Path::new("/cfg"),
        Path::new(HOME),
    )
    .unwrap();
    assert_eq!(cfg.resolve(&query("web1")).unwrap().port, Some(2301));
    assert_eq!(cfg.resolve(&query("db1")).unwrap().port, Some(2302));
    assert_eq!(cfg.resolve(&query("mail")).unwrap().port, None);
}

#[test]
fn jumps_parse_like_ssh_j() {
    let hops = parse_jumps("a,u@b:2200,ssh://v@[::1]:22").unwrap();
    assert_eq!(hops.len(), 3);
    assert_eq!(hops[0].to_string(), "a");
    assert_eq!(hops[1].user.as_deref(), Some("u"));
    assert_eq!(hops[1].port, Some(2200));
    assert_eq!(hops[2].host, "::1");
    assert!(parse_jumps("a:").is_err());
    assert!(parse_jumps("@a").is_err());
    assert!(parse_jumps("a,,b").is_err());
}

#[test]
fn glob_wildcards() {
    assert!(glob("*", ""));
    assert!(glob("web?", "web1"));
    assert!(!glob("web?", "web12"));
    assert!(glob("*.example", "a.b.example"));
    assert!(glob("a*b*c", "axxbyyc"));
    assert!(!glob("a*b*c", "axxbyy"));
}

#[test]
fn newer_openssh_keywords_are_ignored_not_refused() {
    let cfg = SshConfig::parse(
        "Host a\n  Tag work\n  ObscureKeystrokeTiming no\n  ChannelTimeout session=5m\n  Port 2500\n",
        Path::new("/cfg"),
        Path::new(HOME),
    )
    .unwrap();
    assert_eq!(cfg.resolve(&query("a")).unwrap().port, Some(2500));
    let e = SshConfig::parse("Match tagged work\n", Path::new("/cfg"), Path::new(HOME))
        .unwrap_err()
        .to_string();
    assert!(e.contains("Match tagged is not supported by halite"), "{e}");
}
