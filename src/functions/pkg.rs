//! The `pkg` execution module: install, remove and query packages, with
//! Salt's return shapes (`{name: {old, new}}` for changes, version strings
//! for queries), on apt/dpkg and dnf (or yum)/rpm hosts: the backend is
//! chosen from the host's `pkg_manager` grain, and everything it runs and
//! reads is [`crate::platform`]'s.
//!
//! Each call is ONE script per host. A change lists the installed packages
//! before and after running apt in that same script, between `@@` marker
//! lines on stdout; [`interpret`](Function::interpret) diffs the two lists.
//! apt's own output goes to stderr, so nothing it prints can be mistaken for
//! a marker, and its error lines become the error shown on failure. A host
//! without the chosen tool says so with an `@@unsupported` marker.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map};

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::platform::apt::InstallOpts;
use crate::platform::report::{last_lines, Report};
use crate::platform::{dnf, pacman, zypper, PkgBackend};
use crate::transport::quote::join;
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "pkg.install",
        doc: "Install packages (pkg.install vim, pkgs='[a, {b: 1.2-1}]', version=, refresh=True); return {name: {old, new}}.",
        parse: |a| parse_install(a, "pkg.install"),
    },
    Spec {
        name: "pkg.remove",
        doc: "Remove packages, keeping their configuration (pkg.remove vim or pkgs='[a, b]'); return {name: {old, new}}.",
        parse: |a| parse_remove(a, "pkg.remove", false),
    },
    Spec {
        name: "pkg.purge",
        doc: "Remove packages and their configuration files; return {name: {old, new}}.",
        parse: |a| parse_remove(a, "pkg.purge", true),
    },
    Spec {
        name: "pkg.upgrade",
        doc: "Upgrade every package the index has newer (refresh=True, dist_upgrade=False on apt); return {name: {old, new}}.",
        parse: parse_upgrade,
    },
    Spec {
        name: "pkg.version",
        doc: "Installed version of packages ('' when not installed); a dict for several names or globs.",
        parse: parse_version,
    },
    Spec {
        name: "pkg.latest_version",
        doc: "Version that an install or upgrade would bring ('' when the latest is installed); refresh=True by default.",
        parse: parse_latest,
    },
    Spec {
        name: "pkg.list_pkgs",
        doc: "Return every installed package as {name: version}.",
        parse: parse_list_pkgs,
    },
    Spec {
        name: "pkg.list_upgrades",
        doc: "Return the available upgrades as {name: new_version}; refresh=True by default.",
        parse: parse_list_upgrades,
    },
    Spec {
        name: "pkg.refresh_db",
        doc: "Update the package index (apt-get update); return {source: True|False|None} like Salt.",
        parse: parse_refresh_db,
    },
];

fn invalid(function: &'static str, message: impl Into<String>) -> ArgError {
    ArgError::Invalid {
        function,
        message: message.into(),
    }
}

/// A package name (optionally `name:arch`, or a glob where `glob`): it must
/// start with a letter or digit, so no name can pass for an option.
fn check_name(f: &'static str, name: &str, glob: bool) -> Result<(), ArgError> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || (glob && matches!(c, '*' | '?' | '[')));
    if !first_ok
        || (!glob && is_glob(name))
        || name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '=')
    {
        return Err(invalid(f, format!("`{name}` is not a valid package name")));
    }
    Ok(())
}

fn check_version(f: &'static str, name: &str, version: &str) -> Result<(), ArgError> {
    if version.is_empty() || version.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            f,
            format!("`{version}` is not a valid version for `{name}`"),
        ));
    }
    Ok(())
}

/// Package names from `name` (Salt accepts `a,b,c` there) or `pkgs`, which
/// wins when given, as in Salt. Items of `pkgs` may be `{name: version}`.
fn targets(args: &Args, f: &'static str) -> Result<Vec<(String, Option<String>)>, ArgError> {
    let pkgs = args.list(f, usize::MAX, "pkgs")?;
    let raw = if pkgs.is_empty() {
        args.list(f, 0, "name")?
    } else {
        pkgs
    };
    if raw.is_empty() {
        return Err(invalid(f, "give a package name or pkgs='[...]'"));
    }
    raw.into_iter()
        .map(|item| {
            // `Args::list` renders `{name: version}` items as `name=version`.
            let (name, version) = match item.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.trim_start_matches('=').to_string())),
                None => (item, None),
            };
            check_name(f, &name, false)?;
            if let Some(v) = &version {
                check_version(f, &name, v)?;
            }
            Ok((name, version))
        })
        .collect()
}

fn parse_install(args: &Args, f: &'static str) -> Result<Box<dyn Function>, ArgError> {
    args.check(
        f,
        &[
            "name",
            "pkgs",
            "version",
            "refresh",
            "fromrepo",
            "skip_verify",
            "install_recommends",
            "only_upgrade",
            "reinstall",
        ],
        1,
    )?;
    let mut targets = targets(args, f)?;
    if let Some(v) = args.string(f, usize::MAX, "version")? {
        if args.kwargs.contains_key("pkgs") || targets.len() != 1 {
            return Err(invalid(
                f,
                "`version` applies to a single `name`; give versions in pkgs='[{name: version}]' instead",
            ));
        }
        let v = v.trim_start_matches('=').to_string();
        check_version(f, &targets[0].0, &v)?;
        targets[0].1 = Some(v);
    }
    let fromrepo = args.string(f, usize::MAX, "fromrepo")?;
    if let Some(r) = &fromrepo {
        if r.is_empty() || r.starts_with('-') {
            return Err(invalid(f, format!("`{r}` is not a valid fromrepo")));
        }
    }
    Ok(Box::new(Change {
        function: f,
        action: Action::Install(InstallOpts {
            downgrade: targets.iter().any(|(_, v)| v.is_some()),
            fromrepo,
            skip_verify: args.flag(f, "skip_verify", false)?,
            install_recommends: args.flag(f, "install_recommends", true)?,
            only_upgrade: args.flag(f, "only_upgrade", false)?,
            reinstall: args.flag(f, "reinstall", false)?,
        }),
        refresh: args.flag(f, "refresh", false)?,
        targets,
    }))
}

fn parse_remove(args: &Args, f: &'static str, purge: bool) -> Result<Box<dyn Function>, ArgError> {
    args.check(f, &["name", "pkgs"], 1)?;
    let targets = targets(args, f)?;
    if let Some((n, _)) = targets.iter().find(|(_, v)| v.is_some()) {
        return Err(invalid(
            f,
            format!("`{n}`: versions cannot be given when removing"),
        ));
    }
    Ok(Box::new(Change {
        function: f,
        action: if purge { Action::Purge } else { Action::Remove },
        refresh: false,
        targets,
    }))
}

fn parse_upgrade(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.upgrade";
    args.check(F, &["refresh", "dist_upgrade"], 0)?;
    Ok(Box::new(Change {
        function: F,
        action: Action::Upgrade {
            dist_upgrade: args.flag(F, "dist_upgrade", false)?,
        },
        refresh: args.flag(F, "refresh", true)?,
        targets: Vec::new(),
    }))
}

/// Positional package names (globs allowed where `glob`).
fn names(args: &Args, f: &'static str, glob: bool) -> Result<Vec<String>, ArgError> {
    let names = (0..args.positional.len())
        .map(|i| args.required(f, i, ""))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Err(invalid(f, "give at least one package name"));
    }
    for n in &names {
        check_name(f, n, glob)?;
    }
    Ok(names)
}

fn parse_version(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.version";
    args.check(F, &[], usize::MAX)?;
    Ok(Box::new(Version {
        names: names(args, F, true)?,
    }))
}

fn parse_latest(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.latest_version";
    args.check(F, &["refresh", "fromrepo", "show_installed"], usize::MAX)?;
    Ok(Box::new(Latest {
        names: names(args, F, false)?,
        refresh: args.flag(F, "refresh", true)?,
        fromrepo: args.string(F, usize::MAX, "fromrepo")?,
        show_installed: args.flag(F, "show_installed", false)?,
    }))
}

fn parse_list_pkgs(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.list_pkgs";
    args.check(F, &["versions_as_list", "removed"], 0)?;
    Ok(Box::new(ListPkgs {
        versions_as_list: args.flag(F, "versions_as_list", false)?,
        removed: args.flag(F, "removed", false)?,
    }))
}

fn parse_list_upgrades(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.list_upgrades";
    args.check(F, &["refresh", "dist_upgrade", "fromrepo"], 0)?;
    Ok(Box::new(ListUpgrades {
        refresh: args.flag(F, "refresh", true)?,
        dist_upgrade: args.flag(F, "dist_upgrade", true)?,
        fromrepo: args.string(F, usize::MAX, "fromrepo")?,
    }))
}

fn parse_refresh_db(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "pkg.refresh_db";
    args.check(F, &["failhard"], 0)?;
    Ok(Box::new(RefreshDb {
        failhard: args.flag(F, "failhard", false)?,
    }))
}

/// The backend for this host, from its `pkg_manager` grain.
fn backend(function: &str, ctx: &HostCtx) -> Result<PkgBackend, Outcome> {
    let grains = (!ctx.grains.is_null()).then_some(ctx.grains);
    PkgBackend::from_grains(grains)
        .map_err(|e| Outcome::fail(json!(format!("{function}: {e}")), None))
}

/// Check the parts every pkg script prints and turn a platform or transport
/// problem into the failure to report.
fn open<'a>(
    function: &str,
    b: PkgBackend,
    out: Option<&'a ExecOutput>,
) -> Result<(Report, &'a ExecOutput), Outcome> {
    let Some(out) = out else {
        return Err(Outcome::fail(
            json!(format!("{function}: no script ran")),
            None,
        ));
    };
    let report = Report::read(&out.stdout);
    if let Some(pm) = report.value("unsupported") {
        return Err(Outcome::fail(
            json!(format!("{function}: {}", b.host_has(pm))),
            out.exit_code,
        ));
    }
    if !report.has("halite_pkg") || !report.has("end") {
        let detail = last_lines(&out.stderr, 10);
        return Err(Outcome::fail(
            json!(format!(
                "{function}: the package script did not complete{}{detail}",
                if detail.is_empty() { "" } else { ":\n" }
            )),
            out.exit_code,
        ));
    }
    if report.has("refresh_failed") {
        return Err(Outcome::fail(
            json!(format!(
                "{function}: refreshing the package database failed:\n{}",
                b.errors(&out.stderr).join("\n")
            )),
            out.exit_code,
        ));
    }
    Ok((report, out))
}

/// Salt's `compare_dicts` over version strings (several joined with `,`).
fn compare(
    old: &BTreeMap<String, Vec<String>>,
    new: &BTreeMap<String, Vec<String>>,
) -> Map<String, Value> {
    let mut ret = Map::new();
    for name in old.keys().chain(new.keys()) {
        let o = old.get(name).map(|v| v.join(",")).unwrap_or_default();
        let n = new.get(name).map(|v| v.join(",")).unwrap_or_default();
        if o != n {
            ret.insert(name.clone(), json!({"old": o, "new": n}));
        }
    }
    ret
}

#[derive(Debug)]
enum Action {
    Install(InstallOpts),
    Remove,
    Purge,
    /// `pkg.upgrade`: everything the index has newer.
    Upgrade {
        dist_upgrade: bool,
    },
}

/// `pkg.install`, `pkg.remove`, `pkg.purge`, `pkg.upgrade`.
#[derive(Debug)]
struct Change {
    function: &'static str,
    action: Action,
    refresh: bool,
    targets: Vec<(String, Option<String>)>,
}

impl Change {
    fn script(&self, b: PkgBackend) -> String {
        let mut s = b.prelude();
        if self.refresh {
            s.push_str("h_refresh\n");
        } else if matches!(self.action, Action::Install(_)) {
            // Without any package index nothing can be installed (fresh
            // images ship none): fetch it rather than fail.
            s.push_str(b.have_lists());
            s.push_str("[ -n \"$h_lists\" ] || h_refresh\n");
        }
        s.push_str("printf '@@before\\n'\nh_list\nh_rc=0\n");
        match &self.action {
            Action::Install(opts) => {
                let words: Vec<String> = self
                    .targets
                    .iter()
                    .map(|(n, v)| b.install_word(n, v.as_deref()))
                    .collect();
                s.push_str("printf '@@apt\\n'\n");
                s.push_str(&b.install(opts, &words));
            }
            Action::Remove | Action::Purge => {
                // Like Salt, only packages that are there are removed, so an
                // unknown name is "nothing to do", not the tool's error.
                s.push_str("set --\n");
                let purge = matches!(self.action, Action::Purge);
                s.push_str(&b.present_loop(&join(self.targets.iter().map(|(n, _)| n)), purge));
                s.push_str(&format!(
                    "if [ \"$#\" -gt 0 ]; then\n\tprintf '@@apt\\n'\n\t{}fi\n",
                    b.remove(purge, "\"$@\"").replace('\n', "\n\t")
                ));
            }
            Action::Upgrade { dist_upgrade } => {
                s.push_str("printf '@@apt\\n'\n");
                s.push_str(&b.upgrade(*dist_upgrade));
            }
        }
        s.push_str(
            "printf '@@rc %s\\n' \"$h_rc\"\n\
             printf '@@after\\n'\n\
             h_list\n\
             printf '@@end\\n'\n\
             exit \"$h_rc\"\n",
        );
        s
    }

    fn verb(&self) -> &'static str {
        match self.action {
            Action::Install(_) => "installing",
            Action::Remove | Action::Purge => "removing",
            Action::Upgrade { .. } => "upgrading",
        }
    }
}

impl Function for Change {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend(self.function, ctx).ok()?;
        Some(Command::new(self.script(b)))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend(self.function, ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, out) = match open(self.function, b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let arch = report.value("arch").unwrap_or("");
        let old = b.installed(report.lines("before"), arch);
        let new = b.installed(report.lines("after"), arch);
        let mut changes = compare(&old, &new);
        if let Action::Install(InstallOpts {
            reinstall: true, ..
        }) = self.action
        {
            // A reinstall changes no version; Salt still lists the package.
            for (name, _) in &self.targets {
                if let (Some(o), Some(n)) = (old.get(name), new.get(name)) {
                    changes
                        .entry(name.clone())
                        .or_insert_with(|| json!({"old": o.join(","), "new": n.join(",")}));
                }
            }
        }
        let rc = report.rc().unwrap_or(0);
        if rc == 0 {
            return Outcome::ok(Value::Object(changes));
        }
        let mut msg = format!(
            "Problem encountered {} package(s). Additional info follows:\n\nerrors:\n",
            self.verb()
        );
        for e in b.errors(&out.stderr) {
            msg.push_str(&format!("    - {e}\n"));
        }
        if !changes.is_empty() {
            msg.push_str("\nchanges:\n");
            for (name, c) in &changes {
                msg.push_str(&format!(
                    "    {name}: {} -> {}\n",
                    c["old"].as_str().unwrap_or(""),
                    c["new"].as_str().unwrap_or("")
                ));
            }
        }
        Outcome::fail(json!(msg.trim_end()), Some(rc))
    }
}

/// `pkg.version`.
#[derive(Debug)]
struct Version {
    names: Vec<String>,
}

fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

impl Function for Version {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend("pkg.version", ctx).ok()?;
        // dpkg-query matches globs itself; rpm -q does not, so rpm lists
        // every package and the globs are matched here.
        let names = if b != PkgBackend::Apt && self.names.iter().any(|n| is_glob(n)) {
            String::new()
        } else {
            format!(" -- {}", join(&self.names))
        };
        Some(Command::new(format!(
            "{}printf '@@list\\n'\nh_list{names}\nprintf '@@end\\n'\n",
            b.prelude()
        )))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend("pkg.version", ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, _) = match open("pkg.version", b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let pkgs = b.installed(report.lines("list"), report.value("arch").unwrap_or(""));
        let mut ret = Map::new();
        let mut globbed = false;
        for name in &self.names {
            if is_glob(name) {
                globbed = true;
                let Ok(m) = crate::target::fnmatch(name) else {
                    continue;
                };
                for (p, v) in pkgs.iter().filter(|(p, _)| m.is_match(p.as_str())) {
                    ret.insert(p.clone(), json!(v.join(",")));
                }
            } else {
                let v = pkgs.get(name).map(|v| v.join(",")).unwrap_or_default();
                ret.insert(name.clone(), json!(v));
            }
        }
        if ret.len() == 1 && !globbed {
            let (_, v) = ret.into_iter().next().expect("one entry");
            return Outcome::ok(v);
        }
        Outcome::ok(Value::Object(ret))
    }
}

/// `pkg.latest_version`.
#[derive(Debug)]
struct Latest {
    names: Vec<String>,
    refresh: bool,
    fromrepo: Option<String>,
    show_installed: bool,
}

impl Function for Latest {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend("pkg.latest_version", ctx).ok()?;
        let mut s = b.prelude();
        if self.refresh {
            s.push_str("h_refresh\n");
        }
        let names = join(&self.names);
        s.push_str(&format!("printf '@@list\\n'\nh_list -- {names}\n"));
        s.push_str(&b.policy_snippet(&names, self.fromrepo.as_deref()));
        s.push_str("printf '@@end\\n'\n");
        Some(Command::new(s))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend("pkg.latest_version", ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, _) = match open("pkg.latest_version", b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let arch = report.value("arch").unwrap_or("");
        let installed = b.installed(report.lines("list"), arch);
        let policy = b.policy(report.lines("policy"), arch);
        let mut ret = Map::new();
        for name in &self.names {
            let (said, candidate) = policy.get(name).cloned().unwrap_or_default();
            // apt's policy names the installed version; rpm's comes from h_list.
            let have = match said {
                Some(i) => vec![i],
                None => installed.get(name).cloned().unwrap_or_default(),
            };
            let latest = match candidate {
                Some(c)
                    if !self.show_installed
                        && !have.is_empty()
                        && have.iter().all(|i| b.vercmp(i, &c) != Ordering::Less) =>
                {
                    String::new()
                }
                Some(c) => c,
                None => String::new(),
            };
            ret.insert(name.clone(), json!(latest));
        }
        if self.names.len() == 1 {
            let (_, v) = ret.into_iter().next().expect("one entry");
            return Outcome::ok(v);
        }
        Outcome::ok(Value::Object(ret))
    }
}

/// `pkg.list_pkgs`.
#[derive(Debug)]
struct ListPkgs {
    versions_as_list: bool,
    removed: bool,
}

impl Function for ListPkgs {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend("pkg.list_pkgs", ctx).ok()?;
        Some(Command::new(format!(
            "{}printf '@@list\\n'\nh_list\nprintf '@@end\\n'\n",
            b.prelude()
        )))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend("pkg.list_pkgs", ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, _) = match open("pkg.list_pkgs", b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let arch = report.value("arch").unwrap_or("");
        Outcome::ok(Value::Object(
            b.known(report.lines("list"), arch)
                .into_iter()
                .filter_map(|(k, known)| {
                    let v = if self.removed {
                        known.config_only
                    } else {
                        known.installed
                    };
                    if v.is_empty() {
                        return None;
                    }
                    let v = if self.versions_as_list {
                        json!(v)
                    } else {
                        json!(v.join(","))
                    };
                    Some((k, v))
                })
                .collect(),
        ))
    }
}

/// `pkg.list_upgrades`.
#[derive(Debug)]
struct ListUpgrades {
    refresh: bool,
    dist_upgrade: bool,
    fromrepo: Option<String>,
}

impl ListUpgrades {
    fn script(&self, b: PkgBackend) -> String {
        let mut s = b.prelude();
        if self.refresh {
            s.push_str("h_refresh\n");
        }
        let line = match b {
            PkgBackend::Apt => {
                let mut words = vec!["apt-get".to_string(), "--just-print".to_string()];
                if let Some(r) = &self.fromrepo {
                    words.push("-o".into());
                    words.push(format!("APT::Default-Release={r}"));
                }
                words.push(
                    if self.dist_upgrade {
                        "dist-upgrade"
                    } else {
                        "upgrade"
                    }
                    .into(),
                );
                join(&words)
            }
            PkgBackend::Dnf(t) => dnf::list_upgrades(t, self.fromrepo.as_deref()),
            PkgBackend::Zypper => zypper::list_upgrades(self.fromrepo.as_deref()),
            PkgBackend::Pacman => pacman::LIST_UPGRADES.to_string(),
        };
        s.push_str(&format!(
            "printf '@@upgrades\\n'\n\
             {line} </dev/null\n\
             h_rc=$?\n\
             printf '@@rc %s\\n@@end\\n' \"$h_rc\"\n\
             exit \"$h_rc\"\n"
        ));
        s
    }
}

impl Function for ListUpgrades {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend("pkg.list_upgrades", ctx).ok()?;
        Some(Command::new(self.script(b)))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend("pkg.list_upgrades", ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, out) = match open("pkg.list_upgrades", b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let arch = report.value("arch").unwrap_or("");
        match (b, report.rc()) {
            // dnf exits 1 for "nothing to list"
            (PkgBackend::Dnf(_), Some(1))
                if b.errors(&out.stderr)
                    .iter()
                    .any(|e| e.contains("No matching Packages")) =>
            {
                return Outcome::ok(Value::Object(Map::new()))
            }
            (_, Some(0)) => {}
            _ => return Outcome::fail(json!(b.errors(&out.stderr).join("\n")), out.exit_code),
        }
        let lines = report.lines("upgrades");
        let found = match b {
            PkgBackend::Apt => apt_upgrades(lines),
            PkgBackend::Dnf(_) => dnf::parse_upgrades(lines, arch),
            PkgBackend::Zypper => zypper::parse_upgrades(lines, arch),
            PkgBackend::Pacman => pacman::parse_upgrades(lines),
        };
        Outcome::ok(Value::Object(
            found.into_iter().map(|(n, v)| (n, json!(v))).collect(),
        ))
    }
}

/// Salt's zypperpkg.refresh_db reading of `zypper refresh`: `Building
/// repository 'X' cache ... done` = True, `Repository 'X' is up to date` =
/// False.
fn zypper_refreshed(lines: &[String]) -> Map<String, Value> {
    let mut ret = Map::new();
    for line in lines {
        let l = line.trim();
        let Some(key) = l.split('\'').nth(1).map(str::trim) else {
            continue;
        };
        if l.starts_with("Repository") && l.contains("is up to date") {
            ret.insert(key.to_string(), json!(false));
        } else if l.starts_with("Building") && l.contains("done") {
            ret.insert(key.to_string(), json!(true));
        }
    }
    ret
}

/// Salt's pacmanpkg.refresh_db reading of `pacman -Sy`, literally: `X is
/// up to date` = X False; a `downloading` line = True under its second
/// word's part before a dot (pacman 6 prints ` REPO downloading...`, so
/// Salt's key is `downloading`).
fn pacman_refreshed(lines: &[String]) -> Map<String, Value> {
    let mut ret = Map::new();
    for line in lines {
        let l = line.trim();
        if l.is_empty() || l.starts_with("::") {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        if l.contains("is up to date") {
            ret.insert(words[0].to_string(), json!(false));
        } else if l.contains("downloading") {
            if let Some(w) = words.get(1) {
                let key = w.split('.').next().unwrap_or(w);
                ret.insert(key.to_string(), json!(true));
            }
        }
    }
    ret
}

/// `Conf name (version repo [arch])` lines of `apt-get --just-print`, as
/// Salt's `_get_upgradable` reads them.
fn apt_upgrades(lines: &[String]) -> BTreeMap<String, String> {
    let mut ret = BTreeMap::new();
    for line in lines {
        let Some(rest) = line.strip_prefix("Conf ") else {
            continue;
        };
        let mut it = rest.splitn(2, ' ');
        let (Some(name), Some(tail)) = (it.next(), it.next()) else {
            continue;
        };
        if let Some(version) = tail
            .strip_prefix('(')
            .and_then(|t| t.split_whitespace().next())
        {
            ret.insert(name.to_string(), version.trim_end_matches(')').to_string());
        }
    }
    ret
}

/// `pkg.refresh_db`.
#[derive(Debug)]
struct RefreshDb {
    failhard: bool,
}

impl Function for RefreshDb {
    fn needs_grains(&self) -> bool {
        true
    }

    fn command(&self, ctx: &HostCtx) -> Option<Command> {
        let b = backend("pkg.refresh_db", ctx).ok()?;
        let line = match b {
            PkgBackend::Apt => "apt-get -q update".to_string(),
            PkgBackend::Dnf(t) => format!("{} -q -y makecache --refresh", t.name()),
            // Salt's default (`refreshdb_force` true); 6 is "no repositories".
            PkgBackend::Zypper => "zypper -n refresh --force".to_string(),
            PkgBackend::Pacman => "pacman -Sy".to_string(),
        };
        Some(Command::new(format!(
            "{}printf '@@update\\n'\n\
             {line} </dev/null\n\
             h_rc=$?\n\
             printf '@@rc %s\\n@@end\\n' \"$h_rc\"\n\
             exit \"$h_rc\"\n",
            b.prelude()
        )))
    }

    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let b = match backend("pkg.refresh_db", ctx) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let (report, out) = match open("pkg.refresh_db", b, out) {
            Ok(r) => r,
            Err(o) => return o,
        };
        // zypper exits 6 when no repository is defined (Salt: a success).
        let ok = |rc: i32| rc == 0 || (b == PkgBackend::Zypper && rc == 6);
        if report.rc().is_some_and(|rc| !ok(rc)) {
            return Outcome::fail(json!(b.errors(&out.stderr).join("\n")), out.exit_code);
        }
        if let PkgBackend::Dnf(_) = b {
            // Salt's yumpkg.refresh_db: True once the metadata is current.
            return Outcome::ok(json!(true));
        }
        if b == PkgBackend::Zypper {
            return Outcome::ok(Value::Object(zypper_refreshed(report.lines("update"))));
        }
        if b == PkgBackend::Pacman {
            return Outcome::ok(Value::Object(pacman_refreshed(report.lines("update"))));
        }
        // Salt's reading of `apt-get update`: Get = updated (True), Hit =
        // already current (None), Ign/Err = not updated (False).
        let mut ret = Map::new();
        let mut failed = Vec::new();
        for line in report.lines("update") {
            let mut cols = line.split_whitespace();
            let Some(kind) = cols.next() else { continue };
            let mut ident = cols.collect::<Vec<_>>().join(" ");
            let value = if kind.starts_with("Get") {
                if let Some(i) = ident.rfind(" [") {
                    if ident.ends_with("B]") {
                        ident.truncate(i);
                    }
                }
                json!(true)
            } else if kind.starts_with("Hit") {
                Value::Null
            } else if kind.starts_with("Ign") {
                json!(false)
            } else if kind.starts_with("Err") {
                failed.push(ident.clone());
                json!(false)
            } else {
                continue;
            };
            ret.insert(ident, value);
        }
        if self.failhard && !failed.is_empty() {
            return Outcome::fail(
                json!(format!("Error getting repos: {}", failed.join(", "))),
                out.exit_code,
            );
        }
        Outcome::ok(Value::Object(ret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::parse_call;

    fn call(name: &str, words: &[&str]) -> Result<Box<dyn Function>, ArgError> {
        parse_call(name, &Args::from_words(words))
    }

    fn ctx() -> HostCtx<'static> {
        HostCtx {
            id: "h",
            grains: &Value::Null,
        }
    }

    fn script(name: &str, words: &[&str]) -> String {
        call(name, words).unwrap().command(&ctx()).unwrap().script
    }

    fn interpret(name: &str, words: &[&str], stdout: &str, stderr: &str, code: i32) -> Outcome {
        call(name, words).unwrap().interpret(
            &ctx(),
            Some(&ExecOutput {
                stdout: stdout.into(),
                stderr: stderr.into(),
                exit_code: Some(code),
            }),
        )
    }

    const LIST_BEFORE: &str = "bash\tamd64\t5.2.15-2+b2\tii \n\
        libc6\tamd64\t2.36-9+deb12u4\tii \n\
        libc6\ti386\t2.36-9+deb12u4\tii \n\
        tzdata\tall\t2024a-0+deb12u1\tii \n\
        vim-tiny\tamd64\t2:9.0.1378-2\trc \n";

    fn report(before: &str, after: &str, rc: i32) -> String {
        format!(
            "@@halite_pkg 1\n@@arch amd64\n@@before\n{before}@@apt\n@@rc {rc}\n@@after\n{after}@@end\n"
        )
    }

    #[test]
    fn install_arguments() {
        assert!(call("pkg.install", &["vim"]).is_ok());
        assert!(call("pkg.install", &["pkgs=[vim, {bash: 5.2.15-2+b2}]"]).is_ok());
        assert!(call(
            "pkg.install",
            &[
                "vim",
                "version=2:9.0-1",
                "refresh=True",
                "fromrepo=bookworm-backports",
                "install_recommends=False",
                "reinstall=True",
                "only_upgrade=False",
                "skip_verify=False"
            ]
        )
        .is_ok());
        assert!(matches!(
            call("pkg.install", &["vim", "frobnicate=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call("pkg.install", &[]).is_err());
        assert!(
            call("pkg.install", &["-oDebug::X=1"]).is_err(),
            "option injection"
        );
        assert!(call("pkg.install", &["vim", "version=1.0", "pkgs=[a]"]).is_err());
        assert!(call("pkg.install", &["a,b", "version=1.0"]).is_err());
        assert!(call("pkg.install", &["vim", "version=1 2"]).is_err());
        assert!(
            call("pkg.install", &["vim", "emacs"]).is_err(),
            "one positional"
        );
        assert!(call("pkg.install", &["vim", "fromrepo=-x"]).is_err());
        assert!(call("pkg.install", &["vim", "refresh=maybe"]).is_err());
    }

    #[test]
    fn other_arguments() {
        assert!(call("pkg.remove", &["vim,emacs"]).is_ok());
        assert!(call("pkg.purge", &["pkgs=[vim]"]).is_ok());
        assert!(call("pkg.remove", &["pkgs=[{vim: 1}]"]).is_err());
        assert!(matches!(
            call("pkg.remove", &["vim", "refresh=True"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call("pkg.version", &["bash", "vim*", "lib?c6"]).is_ok());
        assert!(call("pkg.version", &[]).is_err());
        assert!(matches!(
            call("pkg.version", &["bash", "refresh=1"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call(
            "pkg.latest_version",
            &[
                "bash",
                "vim",
                "refresh=False",
                "fromrepo=x",
                "show_installed=True"
            ]
        )
        .is_ok());
        assert!(call("pkg.latest_version", &["vim*"]).is_err());
        assert!(call(
            "pkg.list_upgrades",
            &["refresh=False", "dist_upgrade=False", "fromrepo=x"]
        )
        .is_ok());
        assert!(call("pkg.list_upgrades", &["bash"]).is_err());
        assert!(call("pkg.refresh_db", &["failhard=True"]).is_ok());
        assert!(matches!(
            call("pkg.refresh_db", &["force=True"]),
            Err(ArgError::UnknownArg { .. })
        ));
        assert!(call("pkg.list_pkgs", &["versions_as_list=True", "removed=False"]).is_ok());
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_values() {
        let all: &[(&str, &[&str])] = &[
            (
                "pkg.install",
                &["vim", "version=2:9.0.1378-2", "fromrepo=it's"],
            ),
            (
                "pkg.install",
                &[
                    "pkgs=[a, {b: 1.0~rc1}]",
                    "refresh=True",
                    "install_recommends=False",
                ],
            ),
            ("pkg.remove", &["vim,emacs"]),
            ("pkg.purge", &["vim"]),
            ("pkg.version", &["bash", "lib*"]),
            ("pkg.latest_version", &["bash", "fromrepo=it's"]),
            ("pkg.list_pkgs", &[]),
            ("pkg.list_upgrades", &["fromrepo=a b"]),
            ("pkg.refresh_db", &[]),
        ];
        for (name, words) in all {
            let s = script(name, words);
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(st.success(), "{name}: {s}");
        }
        let s = script(
            "pkg.install",
            &["vim", "version=2:9.0.1378-2", "fromrepo=it's"],
        );
        assert!(
            s.contains("--allow-downgrades -t 'it'\\''s' install -- vim=2:9.0.1378-2 >&2"),
            "{s}"
        );
        assert!(s.contains("DPkg::Options::=--force-confold"));
        let s = script("pkg.version", &["lib*"]);
        assert!(s.contains("h_list -- 'lib*'"), "{s}");
    }

    #[test]
    fn install_reports_new_and_upgraded_packages() {
        let after = "bash\tamd64\t5.2.15-2+b7\tii \n\
            libc6\tamd64\t2.36-9+deb12u4\tii \n\
            libc6\ti386\t2.36-9+deb12u4\tii \n\
            tzdata\tall\t2024a-0+deb12u1\tii \n\
            vim-tiny\tamd64\t2:9.0.1378-2\trc \n\
            vim\tamd64\t2:9.0.1378-2\tii \n\
            vim-runtime\tall\t2:9.0.1378-2\tii \n";
        let o = interpret(
            "pkg.install",
            &["pkgs=[vim, bash]"],
            &report(LIST_BEFORE, after, 0),
            "",
            0,
        );
        assert_eq!(
            o,
            Outcome::ok(json!({
                "bash": {"old": "5.2.15-2+b2", "new": "5.2.15-2+b7"},
                "vim": {"old": "", "new": "2:9.0.1378-2"},
                "vim-runtime": {"old": "", "new": "2:9.0.1378-2"},
            }))
        );
    }

    #[test]
    fn install_with_nothing_to_do_is_an_empty_dict() {
        let o = interpret(
            "pkg.install",
            &["bash"],
            &report(LIST_BEFORE, LIST_BEFORE, 0),
            "bash is already the newest version (5.2.15-2+b2).\n",
            0,
        );
        assert_eq!(o, Outcome::ok(json!({})));
    }

    #[test]
    fn foreign_architectures_are_named_like_salt() {
        let after =
            LIST_BEFORE.replace("libc6\ti386\t2.36-9+deb12u4", "libc6\ti386\t2.36-9+deb12u7");
        let o = interpret(
            "pkg.install",
            &["libc6:i386"],
            &report(LIST_BEFORE, &after, 0),
            "",
            0,
        );
        assert_eq!(
            o.ret,
            json!({"libc6:i386": {"old": "2.36-9+deb12u4", "new": "2.36-9+deb12u7"}})
        );
    }

    #[test]
    fn downgrade_to_a_given_version() {
        let after = LIST_BEFORE.replace("5.2.15-2+b2", "5.2.15-1");
        let o = interpret(
            "pkg.install",
            &["bash", "version=5.2.15-1"],
            &report(LIST_BEFORE, &after, 0),
            "",
            0,
        );
        assert_eq!(
            o.ret,
            json!({"bash": {"old": "5.2.15-2+b2", "new": "5.2.15-1"}})
        );
    }

    #[test]
    fn reinstall_lists_the_package_like_salt() {
        let o = interpret(
            "pkg.install",
            &["bash", "reinstall=True"],
            &report(LIST_BEFORE, LIST_BEFORE, 0),
            "",
            0,
        );
        assert_eq!(
            o.ret,
            json!({"bash": {"old": "5.2.15-2+b2", "new": "5.2.15-2+b2"}})
        );
    }

    #[test]
    fn apt_failure_carries_apts_message() {
        let stderr = "Reading package lists...\nBuilding dependency tree...\nE: Unable to locate package nosuchpkg\n";
        let o = interpret(
            "pkg.install",
            &["nosuchpkg"],
            &report(LIST_BEFORE, LIST_BEFORE, 100),
            stderr,
            100,
        );
        assert!(!o.success);
        assert_eq!(o.retcode, Some(100));
        assert_eq!(
            o.ret,
            json!("Problem encountered installing package(s). Additional info follows:\n\nerrors:\n    - E: Unable to locate package nosuchpkg")
        );
    }

    #[test]
    fn lock_held_is_a_failure() {
        let stderr = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\n\
                      E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n";
        let o = interpret(
            "pkg.remove",
            &["bash"],
            &report(LIST_BEFORE, LIST_BEFORE, 100),
            stderr,
            100,
        );
        assert!(!o.success);
        let msg = o.ret.as_str().unwrap();
        assert!(
            msg.starts_with("Problem encountered removing package(s)"),
            "{msg}"
        );
        assert!(
            msg.contains("    - E: Could not get lock /var/lib/dpkg/lock-frontend"),
            "{msg}"
        );
        assert!(
            msg.contains("    - E: Unable to acquire the dpkg frontend lock"),
            "{msg}"
        );
    }

    #[test]
    fn partial_changes_are_kept_in_the_failure() {
        let after = format!("{LIST_BEFORE}vim\tamd64\t2:9.0.1378-2\tii \n");
        let o = interpret(
            "pkg.install",
            &["pkgs=[vim, broken]"],
            &report(LIST_BEFORE, &after, 100),
            "dpkg: error processing package broken (--configure):\n",
            100,
        );
        let msg = o.ret.as_str().unwrap();
        assert!(
            msg.contains("    - dpkg: error processing package broken"),
            "{msg}"
        );
        assert!(
            msg.ends_with("changes:\n    vim:  -> 2:9.0.1378-2"),
            "{msg}"
        );
    }

    #[test]
    fn remove_and_purge_report_removed_packages() {
        let after = LIST_BEFORE.replace(
            "bash\tamd64\t5.2.15-2+b2\tii ",
            "bash\tamd64\t5.2.15-2+b2\trc ",
        );
        let o = interpret(
            "pkg.remove",
            &["bash"],
            &report(LIST_BEFORE, &after, 0),
            "",
            0,
        );
        assert_eq!(
            o,
            Outcome::ok(json!({"bash": {"old": "5.2.15-2+b2", "new": ""}}))
        );
        // Purging what is only configuration changes no installed package.
        let after = LIST_BEFORE.replace("vim-tiny\tamd64\t2:9.0.1378-2\trc \n", "");
        let o = interpret(
            "pkg.purge",
            &["vim-tiny"],
            &report(LIST_BEFORE, &after, 0),
            "",
            0,
        );
        assert_eq!(o, Outcome::ok(json!({})));
        // Nothing installed matched: apt did not run, nothing changed.
        let out = format!(
            "@@halite_pkg 1\n@@arch amd64\n@@before\n{LIST_BEFORE}@@after\n{LIST_BEFORE}@@end\n"
        );
        assert_eq!(
            interpret("pkg.remove", &["nosuch"], &out, "", 0),
            Outcome::ok(json!({}))
        );
    }

    #[test]
    fn unsupported_platform_is_named() {
        for f in ["pkg.install", "pkg.version", "pkg.refresh_db"] {
            let words: &[&str] = if f == "pkg.refresh_db" { &[] } else { &["vim"] };
            let o = interpret(f, words, "@@unsupported dnf\n", "", 1);
            assert_eq!(
                o,
                Outcome::fail(
                    json!(format!(
                        "{f}: this host has dnf, not apt: its `pkg_manager` grain is missing or stale (refresh the grains)"
                    )),
                    Some(1)
                )
            );
        }
    }

    #[test]
    fn unsupported_detection_runs_on_the_host() {
        // A PATH without apt-get: the real script must say so, not fail oddly.
        let f = call("pkg.install", &["vim"]).unwrap();
        let s = f.command(&ctx()).unwrap().script;
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &s])
            .env_clear()
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        let o = f.interpret(
            &ctx(),
            Some(&ExecOutput {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                exit_code: out.status.code(),
            }),
        );
        assert_eq!(
            o.ret,
            json!(
                "pkg.install: package manager unknown is not supported yet (apt, dnf, yum, zypper and pacman are)"
            )
        );
        assert!(!o.success);
    }

    #[test]
    fn truncated_output_is_a_failure() {
        let o = interpret(
            "pkg.install",
            &["vim"],
            "@@halite_pkg 1\n@@before\n",
            "Killed\n",
            137,
        );
        assert!(!o.success);
        assert!(o.ret.as_str().unwrap().contains("did not complete"));
        let o = interpret(
            "pkg.install",
            &["vim"],
            "@@halite_pkg 1\n@@refresh\n@@refresh_failed 100\n@@end\n",
            "E: Could not get lock /var/lib/apt/lists/lock\n",
            100,
        );
        assert!(
            o.ret.as_str().unwrap().contains("E: Could not get lock"),
            "{o:?}"
        );
    }

    #[test]
    fn version_shapes() {
        let out = format!("@@halite_pkg 1\n@@arch amd64\n@@list\n{LIST_BEFORE}@@end\n");
        assert_eq!(
            interpret("pkg.version", &["bash"], &out, "", 0),
            Outcome::ok(json!("5.2.15-2+b2"))
        );
        assert_eq!(
            interpret("pkg.version", &["nosuch"], &out, "", 1).ret,
            json!("")
        );
        assert_eq!(
            interpret("pkg.version", &["vim-tiny"], &out, "", 0).ret,
            json!(""),
            "config files only"
        );
        assert_eq!(
            interpret("pkg.version", &["bash", "nosuch"], &out, "", 1).ret,
            json!({"bash": "5.2.15-2+b2", "nosuch": ""})
        );
        assert_eq!(
            interpret("pkg.version", &["libc*"], &out, "", 0).ret,
            json!({"libc6": "2.36-9+deb12u4", "libc6:i386": "2.36-9+deb12u4"})
        );
    }

    #[test]
    fn latest_version_reads_apt_cache_policy() {
        let out = "@@halite_pkg 1\n@@arch amd64\n@@refresh\n@@policy\n\
            bash:\n  Installed: 5.2.15-2+b2\n  Candidate: 5.2.15-2+b7\n  Version table:\n     5.2.15-2+b7 500\n\
            vim:\n  Installed: (none)\n  Candidate: 2:9.0.1378-2\n\
            tzdata:\n  Installed: 2024a-0+deb12u1\n  Candidate: 2024a-0+deb12u1\n\
            newer:\n  Installed: 2.0~local1\n  Candidate: 1.9-1\n\
            virtual:\n  Installed: (none)\n  Candidate: (none)\n@@end\n";
        let o = interpret(
            "pkg.latest_version",
            &["bash", "vim", "tzdata", "newer", "virtual", "unknown"],
            out,
            "",
            0,
        );
        assert_eq!(
            o.ret,
            json!({"bash": "5.2.15-2+b7", "vim": "2:9.0.1378-2", "tzdata": "", "newer": "", "virtual": "", "unknown": ""})
        );
        assert_eq!(
            interpret("pkg.latest_version", &["bash"], out, "", 0).ret,
            json!("5.2.15-2+b7")
        );
        assert_eq!(
            interpret(
                "pkg.latest_version",
                &["tzdata", "show_installed=True"],
                out,
                "",
                0
            )
            .ret,
            json!("2024a-0+deb12u1")
        );
    }

    #[test]
    fn list_pkgs_and_upgrades() {
        let out = format!("@@halite_pkg 1\n@@arch amd64\n@@list\n{LIST_BEFORE}@@end\n");
        assert_eq!(
            interpret("pkg.list_pkgs", &[], &out, "", 0).ret,
            json!({"bash": "5.2.15-2+b2", "libc6": "2.36-9+deb12u4", "libc6:i386": "2.36-9+deb12u4", "tzdata": "2024a-0+deb12u1"})
        );
        assert_eq!(
            interpret("pkg.list_pkgs", &["removed=True"], &out, "", 0).ret,
            json!({"vim-tiny": "2:9.0.1378-2"})
        );
        assert_eq!(
            interpret("pkg.list_pkgs", &["versions_as_list=True"], &out, "", 0).ret["bash"],
            json!(["5.2.15-2+b2"])
        );

        let out = "@@halite_pkg 1\n@@arch amd64\n@@upgrades\nNOTE: This is only a simulation!\nReading package lists...\n\
            Inst bash [5.2.15-2+b2] (5.2.15-2+b7 Debian:12.7/stable [amd64])\n\
            Inst libnew (1.0-1 Debian:12.7/stable [amd64])\n\
            Conf bash (5.2.15-2+b7 Debian:12.7/stable [amd64])\n\
            Conf libnew (1.0-1 Debian:12.7/stable [amd64])\n@@rc 0\n@@end\n";
        assert_eq!(
            interpret("pkg.list_upgrades", &[], out, "", 0),
            Outcome::ok(json!({"bash": "5.2.15-2+b7", "libnew": "1.0-1"}))
        );
        let out = "@@halite_pkg 1\n@@arch amd64\n@@upgrades\nNOTE: This is only a simulation!\n@@rc 0\n@@end\n";
        assert_eq!(
            interpret("pkg.list_upgrades", &[], out, "", 0).ret,
            json!({})
        );
    }

    #[test]
    fn refresh_db_reads_apt_get_update() {
        let out = "@@halite_pkg 1\n@@arch amd64\n@@update\n\
            Hit:1 http://deb.debian.org/debian bookworm InRelease\n\
            Get:2 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]\n\
            Err:3 http://example.invalid/debian bookworm InRelease\n\
            \x20 Could not resolve 'example.invalid'\n\
            Reading package lists...\n@@rc 0\n@@end\n";
        let expect = json!({
            "http://deb.debian.org/debian bookworm InRelease": null,
            "http://deb.debian.org/debian bookworm-updates InRelease": true,
            "http://example.invalid/debian bookworm InRelease": false,
        });
        assert_eq!(
            interpret("pkg.refresh_db", &[], out, "", 0),
            Outcome::ok(expect)
        );
        let o = interpret("pkg.refresh_db", &["failhard=True"], out, "", 0);
        assert_eq!(
            o.ret,
            json!("Error getting repos: http://example.invalid/debian bookworm InRelease")
        );
        let out = "@@halite_pkg 1\n@@arch amd64\n@@update\n@@rc 100\n@@end\n";
        let o = interpret(
            "pkg.refresh_db",
            &[],
            out,
            "E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)\n",
            100,
        );
        assert!(!o.success);
        assert_eq!(o.ret, json!("E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)"));
    }

    /// The apt scripts against a real Debian, in a throwaway container:
    /// `HALITE_TEST_CONTAINER=<running podman container> cargo test --lib -- --ignored`
    /// (tests/all.sh runs it on a fleet host).
    /// It installs and removes the small `hello` package there.
    #[test]
    #[ignore = "needs a Debian podman container named in HALITE_TEST_CONTAINER"]
    fn apt_cycle_in_a_container() {
        let container = std::env::var("HALITE_TEST_CONTAINER")
            .expect("set HALITE_TEST_CONTAINER to a running fleet container (tests/all.sh does)");
        let sh = |script: &str| {
            std::process::Command::new("podman")
                .args(["--runtime", "runc", "exec", &container, "sh", "-c", script])
                .output()
                .unwrap()
        };
        let run = |name: &str, words: &[&str]| {
            let f = call(name, words).unwrap();
            let out = sh(&f.command(&ctx()).unwrap().script);
            f.interpret(
                &ctx(),
                Some(&ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.status.code(),
                }),
            )
        };
        sh("apt-get -q -y purge hello >/dev/null 2>&1");

        let o = run("pkg.refresh_db", &[]);
        assert!(o.success && !o.ret.as_object().unwrap().is_empty(), "{o:?}");

        assert_eq!(run("pkg.version", &["hello"]), Outcome::ok(json!("")));
        let latest = run("pkg.latest_version", &["hello", "refresh=False"]);
        let candidate = latest.ret.as_str().unwrap().to_string();
        assert!(!candidate.is_empty(), "{latest:?}");

        let o = run("pkg.install", &["hello"]);
        assert_eq!(
            o,
            Outcome::ok(json!({"hello": {"old": "", "new": candidate}}))
        );
        assert_eq!(
            run("pkg.install", &["hello"]),
            Outcome::ok(json!({})),
            "nothing to do"
        );
        assert_eq!(run("pkg.version", &["hello"]).ret, json!(candidate));
        assert_eq!(
            run("pkg.latest_version", &["hello", "refresh=False"]).ret,
            json!("")
        );
        let o = run("pkg.install", &["hello", &format!("version={candidate}")]);
        assert_eq!(o, Outcome::ok(json!({})), "pinning the installed version");

        let o = run("pkg.install", &["pkgs=[hello, no-such-package-halite]"]);
        assert!(!o.success, "{o:?}");
        assert!(
            o.ret
                .as_str()
                .unwrap()
                .contains("E: Unable to locate package no-such-package-halite"),
            "{o:?}"
        );

        // apt's own lock, held the way apt holds it (an fcntl write lock).
        let mut holder = std::process::Command::new("podman")
            .args([
                "--runtime",
                "runc",
                "exec",
                &container,
                "perl",
                "-MFcntl",
                "-e",
                "open(F, '>>', '/var/lib/dpkg/lock-frontend') or die; \
                 my $l = pack('s s x4 q q i x4', F_WRLCK, 0, 0, 0, 0); \
                 fcntl(F, F_SETLK, $l) or die; \
                 $| = 1; print qq(locked\\n); sleep 20",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Read;
            let mut buf = [0u8; 7];
            holder
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut buf)
                .unwrap();
        }
        let o = run("pkg.remove", &["hello"]);
        let _ = holder.kill();
        let _ = holder.wait();
        sh("pkill -f 'perl -MFcntl' || true");
        assert!(!o.success, "{o:?}");
        assert!(o.ret.as_str().unwrap().contains("lock"), "{o:?}");

        let o = run("pkg.remove", &["hello"]);
        assert_eq!(
            o,
            Outcome::ok(json!({"hello": {"old": candidate, "new": ""}}))
        );
        assert_eq!(
            run("pkg.remove", &["hello"]),
            Outcome::ok(json!({})),
            "already gone"
        );
        assert_eq!(run("pkg.version", &["hello"]).ret, json!(""));
        assert_eq!(
            run("pkg.install", &["hello"]).ret["hello"]["new"],
            json!(candidate)
        );
        let o = run("pkg.purge", &["hello"]);
        assert_eq!(
            o,
            Outcome::ok(json!({"hello": {"old": candidate, "new": ""}}))
        );
        assert!(run("pkg.list_pkgs", &["removed=True"])
            .ret
            .get("hello")
            .is_none());

        let o = run("pkg.list_upgrades", &["refresh=False"]);
        assert!(o.success && o.ret.is_object(), "{o:?}");
    }

    #[test]
    fn read_only_scripts_run_against_this_machines_dpkg() {
        // Only when the controller itself runs dpkg (the Debian dev machine);
        // these functions change nothing.
        if !std::path::Path::new("/var/lib/dpkg/status").exists() {
            crate::testing::missing_tool("this machine has no dpkg database");
            return;
        }
        let run = |name: &str, words: &[&str]| {
            let f = call(name, words).unwrap();
            let s = f.command(&ctx()).unwrap().script;
            let out = std::process::Command::new("sh")
                .args(["-c", &s])
                .output()
                .unwrap();
            f.interpret(
                &ctx(),
                Some(&ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.status.code(),
                }),
            )
        };
        let v = run("pkg.version", &["dpkg"]);
        assert!(v.success && !v.ret.as_str().unwrap().is_empty(), "{v:?}");
        assert_eq!(
            run("pkg.version", &["no-such-package-halite"]).ret,
            json!("")
        );
        let all = run("pkg.list_pkgs", &[]);
        assert_eq!(all.ret["dpkg"], v.ret);
        let latest = run("pkg.latest_version", &["dpkg", "refresh=False"]);
        assert!(latest.success && latest.ret.is_string(), "{latest:?}");
        let up = run("pkg.list_upgrades", &["refresh=False"]);
        assert!(up.success && up.ret.is_object(), "{up:?}");
    }

    /// The pkg functions on real dnf 4 and rpm, in the container of
    /// `modules::pkg`'s dnf test (tests/compat/gen_platform_dnf.sh's
    /// repository): `HALITE_TEST_CONTAINER=<it> cargo test --lib --
    /// --ignored dnf_functions`.
    #[test]
    #[ignore = "needs a podman container with dnf named in HALITE_TEST_CONTAINER"]
    fn dnf_functions_in_a_container() {
        let grains = json!({"pkg_manager": "dnf"});
        let ctx = HostCtx {
            id: "h",
            grains: &grains,
        };
        let container = std::env::var("HALITE_TEST_CONTAINER").unwrap();
        let run = |name: &str, words: &[&str]| {
            let f = call(name, words).unwrap();
            let s = f.command(&ctx).unwrap().script;
            let out = std::process::Command::new("podman")
                .args(["exec", &container, "sh", "-c", &s])
                .output()
                .unwrap();
            f.interpret(
                &ctx,
                Some(&ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.status.code(),
                }),
            )
        };
        crate::testing::container_sh(
            "dnf -q -y remove halite-hello halite-other >/dev/null 2>&1; dnf -q versionlock clear >/dev/null 2>&1",
        );
        assert_eq!(
            run("pkg.version", &["halite-hello"]),
            Outcome::ok(json!(""))
        );
        assert_eq!(
            run("pkg.install", &["pkgs=[{halite-hello: 1.0}, halite-other]"]),
            Outcome::ok(json!({
                "halite-hello": {"old": "", "new": "1.0-1"},
                "halite-other": {"old": "", "new": "2.0-1"}
            }))
        );
        assert_eq!(
            run("pkg.version", &["halite-hello"]),
            Outcome::ok(json!("1.0-1"))
        );
        assert_eq!(
            run("pkg.version", &["halite-*"]),
            Outcome::ok(json!({"halite-hello": "1.0-1", "halite-other": "2.0-1"}))
        );
        assert_eq!(
            run("pkg.list_pkgs", &[]).ret["halite-other"],
            json!("2.0-1")
        );
        assert_eq!(
            run("pkg.latest_version", &["halite-hello", "refresh=False"]),
            Outcome::ok(json!("1.1-1"))
        );
        assert_eq!(
            run("pkg.list_upgrades", &["refresh=False"]),
            Outcome::ok(json!({"halite-hello": "1.1-1"}))
        );
        assert_eq!(
            run("pkg.upgrade", &[]),
            Outcome::ok(json!({"halite-hello": {"old": "1.0-1", "new": "1.1-1"}}))
        );
        assert_eq!(
            run("pkg.latest_version", &["halite-hello", "refresh=False"]),
            Outcome::ok(json!(""))
        );
        assert_eq!(
            run("pkg.remove", &["halite-other,nosuch"]),
            Outcome::ok(json!({"halite-other": {"old": "2.0-1", "new": ""}}))
        );
        let o = run("pkg.install", &["nosuchpkg"]);
        assert!(!o.success, "{o:?}");
        assert!(
            o.ret
                .as_str()
                .unwrap()
                .contains("Error: Unable to find a match: nosuchpkg"),
            "{o:?}"
        );
        assert_eq!(run("pkg.refresh_db", &[]), Outcome::ok(json!(true)));
    }
}
