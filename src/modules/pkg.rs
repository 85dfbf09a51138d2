//! `pkg.installed`, `pkg.latest`, `pkg.removed` and `pkg.purged` as states,
//! with Salt's decisions, comments and `changes` shapes, on apt/dpkg and
//! dnf (or yum)/rpm hosts: the backend comes from the host's `pkg_manager`
//! grain, and every snippet and parser is [`crate::platform`]'s.
//!
//! The probe only reads: `dpkg-query` / `rpm -q` (and dnf's versionlock
//! list) for what is installed (and held), and `apt-cache policy` / `dnf
//! -C repoquery` for what an install would bring. It never refreshes the
//! index, except that `pkg.latest` with `refresh: True` refreshes it before
//! it reads the candidates (as Salt's `latest_version(refresh=True)` does,
//! in test=True too); otherwise `refresh: True` refreshes in the apply
//! snippet. Either way at most once per run (`platform::refresh_once`).
//!
//! The apply snippet lists the packages before and after running apt, so the
//! final `changes` carry the versions that really changed, in Salt's
//! `{name: {old, new}}` shape, and the plan only predicts them.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map};

use super::fetch::{download, is_remote, redact, DOWNLOADER};
use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, SharedProbe,
    StateFunction,
};
use crate::platform::apt::{self, InstallOpts};
use crate::platform::report::Report;
use crate::platform::{dnf, pacman, Known, PackageFile, PkgBackend};
use crate::state::Chunk;
use crate::transport::quote::{join, quote};
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "pkg",
    functions: &[
        FnDef {
            name: "installed",
            doc: "Ensure packages are installed (name or pkgs='[a, {b: 1.2-1}]', or package files: sources='[{a: salt://a.deb}]'; version, refresh, hold, update_holds, fromrepo, skip_verify).",
            args: &["pkgs", "version", "refresh", "hold", "update_holds", "fromrepo", "skip_verify", "sources"],
            build: |c, ctx| build(c, ctx, Kind::Installed),
        },
        FnDef {
            name: "latest",
            doc: "Ensure packages are installed at the newest version apt knows (name or pkgs, refresh, update_holds, fromrepo, skip_verify).",
            args: &["pkgs", "refresh", "update_holds", "fromrepo", "skip_verify"],
            build: |c, ctx| build(c, ctx, Kind::Latest),
        },
        FnDef {
            name: "removed",
            doc: "Ensure packages are not installed, keeping their configuration files (name or pkgs).",
            args: &["pkgs"],
            build: |c, ctx| build(c, ctx, Kind::Removed),
        },
        FnDef {
            name: "purged",
            doc: "Ensure packages and their configuration files are gone (name or pkgs).",
            args: &["pkgs"],
            build: |c, ctx| build(c, ctx, Kind::Purged),
        },
    ],
    ledger: &[LedgerKind {
        kind: "pkg",
        exists: |w| format!(
            // Installed in either database: a RHEL-like host may carry
            // dpkg too (the rhel test host is Debian underneath).
            "{{ {{ command -v rpm >/dev/null 2>&1 && rpm -q -- {w} >/dev/null 2>&1; }} || {{ command -v dpkg-query >/dev/null 2>&1 && case $(dpkg-query -W -f='${{db:Status-Abbrev}}' -- {w} 2>/dev/null) in ii*|hi*) true;; *) false;; esac; }}; }}"
        ),
        prune: ("removed", |_| serde_json::json!({})),
    }],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Installed,
    Latest,
    Removed,
    Purged,
}

impl Kind {
    fn function(self) -> &'static str {
        match self {
            Kind::Installed => "pkg.installed",
            Kind::Latest => "pkg.latest",
            Kind::Removed => "pkg.removed",
            Kind::Purged => "pkg.purged",
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Args {
    pkgs: Option<Vec<Value>>,
    sources: Option<Vec<Value>>,
    /// A string or a YAML number (`version: 1.2`).
    version: Option<Value>,
    refresh: Option<bool>,
    hold: Option<bool>,
    #[serde(default)]
    update_holds: bool,
    fromrepo: Option<String>,
    #[serde(default)]
    skip_verify: bool,
}

/// A package and the version asked for (`latest` is a version, as in Salt),
/// or the package file it is installed from (`sources`).
#[derive(Debug, Clone, PartialEq)]
struct Target {
    name: String,
    version: Option<String>,
    source: Option<Source>,
}

/// Where a `sources` package file comes from: Salt's three kinds.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// `salt://`: read on the controller and shipped inside the apply
    /// (as `file.managed`'s content), with what can be read of it.
    Shipped {
        url: String,
        bytes: Vec<u8>,
        file: PackageFile,
    },
    /// `http://`, `https://`, `ftp://`: downloaded on the host by curl
    /// or wget.
    Download(String),
    /// An absolute path on the host.
    Host(String),
}

impl Source {
    fn url(&self) -> &str {
        match self {
            Source::Shipped { url, .. } => url,
            Source::Download(u) | Source::Host(u) => u,
        }
    }
}

/// One `sources` item's source for package `name`, the `i`th; a
/// `salt://` file is read now (it must exist under the states root).
fn source_of(
    chunk: &Chunk,
    ctx: &BuildCtx,
    backend: PkgBackend,
    i: usize,
    name: &str,
    src: &str,
) -> Result<Source, String> {
    if src.starts_with("salt://") {
        let bytes = super::file::read_source(
            chunk,
            ctx,
            &Value::String(src.to_string()),
            false,
            &Default::default(),
        )?;
        let file = backend.package_file(&format!("s{i}"), &bytes);
        if let PackageFile::Read { name: held, .. } = &file {
            check_file_name(src, held, name).map_err(|e| format!("{}: {e}", chunk.describe()))?;
        }
        return Ok(Source::Shipped {
            url: src.to_string(),
            bytes,
            file,
        });
    }
    if is_remote(src) {
        return Ok(Source::Download(src.to_string()));
    }
    if src.starts_with('/') {
        return Ok(Source::Host(src.to_string()));
    }
    // Salt's words (its pkg_resource.parse_targets).
    Err(format!(
        "{}: Path {src} for package {name} is either not absolute or an invalid protocol",
        chunk.describe()
    ))
}

/// A package file must hold the package it is given for (`name` may add
/// `:arch`): Salt would install it and then find `name` still missing.
fn check_file_name(url: &str, held: &str, name: &str) -> Result<(), String> {
    if held == name || name.split_once([':', '.']).is_some_and(|(n, _)| n == held) {
        Ok(())
    } else {
        Err(format!("{url} holds package {held}, not {name}"))
    }
}

#[derive(Debug)]
struct Pkg {
    /// From the host's `pkg_manager` grain.
    backend: PkgBackend,
    kind: Kind,
    targets: Vec<Target>,
    /// Whether the targets came from `pkgs` (only the comments differ).
    from_pkgs: bool,
    refresh: bool,
    /// `refresh: False` forbids even the refresh an unknown package needs.
    refresh_allowed: bool,
    hold: Option<bool>,
    /// A held package this state would change is released for the change
    /// (and held again) instead of refused.
    update_holds: bool,
    fromrepo: Option<String>,
    skip_verify: bool,
}

/// A package name (optionally `name:arch`): it must start with a letter or
/// digit, so that no name can pass for an apt option.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains(|c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, '=' | '*' | '?' | '[')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid package name"))
    }
}

/// A version as given: a string, or a number YAML read as one.
fn version_text(name: &str, v: &Value) -> Result<Option<String>, String> {
    let v = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim_start_matches('=').to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("`{other}` is not a valid version for `{name}`")),
    };
    if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{v}` is not a valid version for `{name}`"));
    }
    if v.starts_with(['<', '>', '!']) {
        return Err(format!(
            "`{name}`: version comparisons (`{v}`) are not supported yet; give an exact version"
        ));
    }
    Ok(Some(v))
}

fn build(chunk: &Chunk, ctx: &BuildCtx, kind: Kind) -> Result<Box<dyn StateFunction>, String> {
    // One argument type serves every function here: each still takes
    // only its own arguments.
    let own = MODULE
        .functions
        .iter()
        .find(|f| f.name == kind.function().trim_start_matches("pkg."))
        .map_or(&[][..], |f| f.args);
    if let Some(k) = chunk.args.keys().find(|k| !own.contains(&k.as_str())) {
        return Err(format!(
            "{}: invalid arguments: unknown field `{k}`",
            chunk.describe()
        ));
    }
    let args: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let backend = PkgBackend::from_grains(ctx.renderer.map(|r| r.grains()))
        .map_err(|e| err(e.to_string()))?;
    let has_pkgs = args.pkgs.as_ref().is_some_and(|p| !p.is_empty());
    let sources = args.sources.as_deref().filter(|s| !s.is_empty());
    let from_pkgs = has_pkgs || sources.is_some();
    // As in Salt, `pkgs` wins over `name`, which then only labels the state.
    let mut targets = if has_pkgs {
        pkgs_targets(args.pkgs.as_deref().unwrap_or_default()).map_err(err)?
    } else {
        Vec::new()
    };
    if let Some(list) = sources {
        if has_pkgs {
            // Salt's words.
            return Err(err(
                "Only one of \"pkgs\" and \"sources\" is permitted.".into()
            ));
        }
        if args.version.is_some() {
            return Err(err(
                "`version` does not apply to `sources`: each file installs its own version (Salt ignores `version` there with a warning)".into(),
            ));
        }
        // As with `pkgs`, `name` then only labels the state.
        targets = sources_targets(chunk, ctx, backend, list)?;
    }
    if targets.is_empty() {
        targets.push(Target {
            name: chunk.name.clone(),
            version: None,
            source: None,
        });
    }
    if let Some(v) = &args.version {
        if from_pkgs {
            return Err(err(
                "`version` applies to `name`; give versions in pkgs: [{name: version}] instead"
                    .into(),
            ));
        }
        targets[0].version = version_text(&targets[0].name, v).map_err(err)?;
    }
    for t in &targets {
        check_name(&t.name).map_err(err)?;
        if t.version.is_some() && matches!(kind, Kind::Removed | Kind::Purged) {
            return Err(err(format!(
                "`{}`: versions cannot be given when removing",
                t.name
            )));
        }
    }
    if let Some(r) = &args.fromrepo {
        if r.is_empty() || r.starts_with('-') {
            return Err(err(format!("`{r}` is not a valid fromrepo")));
        }
    }
    Ok(Box::new(Pkg {
        backend,
        kind,
        targets,
        from_pkgs,
        refresh: args.refresh == Some(true),
        refresh_allowed: args.refresh != Some(false),
        hold: args.hold,
        update_holds: args.update_holds,
        fromrepo: args.fromrepo,
        skip_verify: args.skip_verify,
    }))
}

/// `pkgs: [name, {name: version}...]`.
fn pkgs_targets(items: &[Value]) -> Result<Vec<Target>, String> {
    items
        .iter()
        .map(|item| {
            let (name, version) = match item {
                Value::String(n) => (n.clone(), None),
                Value::Object(m) if m.len() == 1 => {
                    let (n, v) = m.iter().next().expect("one entry");
                    (n.clone(), version_text(n, v)?)
                }
                other => {
                    return Err(format!(
                        "pkgs items are a name or {{name: version}}, not `{other}`"
                    ))
                }
            };
            Ok(Target {
                name,
                version,
                source: None,
            })
        })
        .collect()
}

/// `sources: [{name: source}...]`, each source checked (see [`source_of`]).
fn sources_targets(
    chunk: &Chunk,
    ctx: &BuildCtx,
    backend: PkgBackend,
    list: &[Value],
) -> Result<Vec<Target>, String> {
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let mut targets = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let (name, src) = match item {
            Value::Object(m) if m.len() == 1 => match m.iter().next().expect("one entry") {
                (n, Value::String(s)) => (n.clone(), s.clone()),
                (n, other) => {
                    return Err(err(format!(
                        "Invalidly formatted 'sources' parameter: the source of `{n}` is `{other}`, not text"
                    )))
                }
            },
            other => {
                return Err(err(format!(
                    "Invalidly formatted 'sources' parameter: items are {{name: source}}, not `{other}`"
                )))
            }
        };
        check_name(&name).map_err(err)?;
        let source = source_of(chunk, ctx, backend, i, &name, &src)?;
        targets.push(Target {
            name,
            version: None,
            source: Some(source),
        });
    }
    Ok(targets)
}

/// A failed state with the changes seen so far.
fn failed(comment: String, changes: Map<String, Value>) -> Applied {
    Applied {
        result: false,
        changes,
        comment,
    }
}

fn list(names: &[String]) -> String {
    names.join(", ")
}

/// The data a plan carries to the apply snippet and `finish`.
#[derive(Debug, Default, PartialEq)]
struct Todo {
    /// apt-get install words: `name` or `name=version`.
    install: Vec<String>,
    /// Names expected installed (at `version` when given) afterwards.
    expect: Vec<(String, Option<String>)>,
    hold: Vec<String>,
    unhold: Vec<String>,
    /// Held packages to change (`update_holds`): released before the
    /// install...
    release: Vec<String>,
    /// ...and those of them held again after it (all but `hold: False`'s).
    rehold: Vec<String>,
    remove: Vec<String>,
    /// Whether a version was pinned (apt may need to downgrade).
    pinned: bool,
    /// A package to install is unknown to the index as it is (a fresh
    /// host, or lists older than the package): refresh before installing.
    unknown: bool,
    /// The install words are package files (`sources`)...
    local: bool,
    /// ...of which these targets' are written or downloaded first.
    files: Vec<usize>,
}

/// What `plan_install` gathers over the targets.
#[derive(Default)]
struct Planning {
    todo: Todo,
    changes: Map<String, Value>,
    up_to_date: Vec<String>,
    problems: Vec<String>,
    held_back: Vec<String>,
    comments: Vec<String>,
}

/// What the repositories offer: each name's (installed, candidate), and
/// whether the host has package lists at all.
struct RepoFacts {
    policy: std::collections::BTreeMap<String, (Option<String>, Option<String>)>,
    have_lists: bool,
}

impl Pkg {
    fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    fn probe_script(&self) -> String {
        let b = self.backend;
        let names = join(self.names());
        let mut s = b.prelude();
        if self.kind == Kind::Latest && self.refresh {
            // Salt's pkg.latest asks `latest_version(refresh=True)` before
            // it decides (in test=True too): "latest" is the refreshed
            // index's. Once per run: the apply's own refresh is skipped.
            s.push_str("h_refresh\n");
        }
        s.push_str(b.have_lists());
        s.push_str("printf '@@lists %s\\n' \"$h_lists\"\n");
        s.push_str(&self.sources_probe());
        s.push_str("printf '@@list\\n'\n");
        if !matches!(self.kind, Kind::Installed | Kind::Latest) || self.has_sources() {
            s.push_str(&format!("h_list -- {names}\nprintf '@@end\\n'\n"));
            return s;
        }
        let policy = b.policy_snippet(&names, self.fromrepo.as_deref());
        if self.needs_candidate() {
            s.push_str(&format!("h_list -- {names}\n{policy}"));
        } else {
            // The candidate query (the costliest probe) only when a
            // package is missing: installed ones need no candidate.
            let need = match b {
                PkgBackend::Apt => format!(
                    "h_out=$(h_list -- {names})\n[ -z \"$h_out\" ] || printf '%s\\n' \"$h_out\"\nh_need=\nfor h_t in {names}; do\n{}\t[ -n \"$h_ok\" ] || h_need=1\ndone\n",
                    apt::INSTALLED
                ),
                PkgBackend::Dnf(_) | PkgBackend::Zypper => {
                    format!("h_list -- {names}\n{}", dnf::need(&names))
                }
                PkgBackend::Pacman => {
                    format!("h_list -- {names}\n{}", pacman::need(&names))
                }
            };
            s.push_str(&format!("{need}if [ -n \"$h_need\" ]; then\n{policy}fi\n"));
        }
        s.push_str("printf '@@end\\n'\n");
        s
    }

    fn has_sources(&self) -> bool {
        self.targets.iter().any(|t| t.source.is_some())
    }

    /// What the plan needs to know of the `sources` on the host: the
    /// version a shipped `.deb` holds (`@@srcinfo_sI`), whether a host
    /// path exists (`@@nofile_sI`), which downloader there is.
    fn sources_probe(&self) -> String {
        let mut s = String::new();
        let mut download = false;
        for (i, t) in self.targets.iter().enumerate() {
            match &t.source {
                Some(Source::Shipped {
                    file: PackageFile::OnHost(snippet),
                    ..
                }) => s.push_str(snippet),
                Some(Source::Host(p)) => s.push_str(&format!(
                    "[ -f {} ] || printf '@@nofile_s{i}\\n'\n",
                    quote(p)
                )),
                Some(Source::Download(_)) => download = true,
                _ => {}
            }
        }
        if download {
            s.push_str(&format!(
                "{DOWNLOADER}printf '@@downloader %s\\n' \"$h_dl\"\n"
            ));
        }
        s
    }

    /// The version the `i`th target's package file holds when known (Salt
    /// compares it with what is installed), or why the file is wrong.
    fn file_version(&self, i: usize, report: &Report) -> Result<Option<String>, String> {
        let t = &self.targets[i];
        match &t.source {
            Some(Source::Shipped {
                file: PackageFile::Read { version, .. },
                ..
            }) => Ok(Some(version.clone())),
            Some(Source::Shipped { url, .. }) => {
                match report
                    .value(&format!("srcinfo_s{i}"))
                    .and_then(|v| v.split_once(' '))
                {
                    Some((held, version)) => {
                        check_file_name(url, held, &t.name)?;
                        Ok(Some(version.trim().to_string()))
                    }
                    None => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// Why the `i`th target's file cannot be had on the host, if so.
    fn file_missing(&self, i: usize, report: &Report) -> Option<String> {
        match &self.targets[i].source {
            Some(Source::Download(u)) if report.value("downloader").is_some_and(str::is_empty) => {
                Some(format!(
                    "neither curl nor wget is on the host to download {u}"
                ))
            }
            Some(Source::Host(p)) if report.has(&format!("nofile_s{i}")) => {
                Some(format!("{p} does not exist on the host"))
            }
            _ => None,
        }
    }

    /// Whether the plan reads apt's candidate whatever dpkg says: for
    /// `pkg.latest`, a version asked for, or a `name:arch` (which the
    /// probe's shell does not match). Otherwise only a package not
    /// installed needs it.
    fn needs_candidate(&self) -> bool {
        self.kind == Kind::Latest
            || self
                .targets
                .iter()
                .any(|t| t.version.is_some() || t.name.contains(':'))
    }

    /// The probe's report, or the failure to show (unsupported platform,
    /// a probe cut short).
    fn open(&self, text: &str) -> Result<Report, String> {
        let f = self.kind.function();
        let report = Report::read(text);
        if let Some(pm) = report.value("unsupported") {
            return Err(format!("{f}: {}", self.backend.host_has(pm)));
        }
        if report.value("refresh_failed").is_some() {
            return Err(format!(
                "{f}: refreshing the package database failed:\n{}",
                self.backend.errors(text).join("\n")
            ));
        }
        if report.value("halite_pkg").is_none() || report.value("end").is_none() {
            return Err(format!(
                "{f}: the package probe did not complete: {}",
                text.trim()
            ));
        }
        Ok(report)
    }

    fn plan_install(&self, report: &Report) -> Result<Plan, String> {
        if self.hold == Some(true) {
            if let Some(why) = self.backend.hold_unavailable(report) {
                return Err(format!("{}: {why}", self.kind.function()));
            }
        }
        let arch = report.value("arch").unwrap_or("");
        let pkgs = self.backend.known(report.lines("list"), arch);
        let facts = RepoFacts {
            policy: self.backend.policy(report.lines("policy"), arch),
            have_lists: report.value("lists").is_some_and(|v| !v.is_empty()),
        };
        let mut p = Planning::default();
        for (i, t) in self.targets.iter().enumerate() {
            let k = pkgs.get(&t.name).cloned().unwrap_or_default();
            let entry = match &t.source {
                Some(src) => self.plan_file(i, t, src, &k, report, &mut p),
                None => self.plan_repo(t, &k, &facts, &mut p),
            };
            if let Some(entry) = entry.filter(|e| !e.is_empty()) {
                p.changes.insert(t.name.clone(), Value::Object(entry));
            }
        }
        if !p.held_back.is_empty() {
            // Salt's (yum/dnf) words; halite refuses before changing
            // anything, in test=True too.
            p.problems.push(format!(
                "The following package(s) could not be updated because they are being held: {}. Set 'update_holds' to True to temporarily unhold these packages so that they can be updated.",
                list(&p.held_back)
            ));
        }
        if !p.problems.is_empty() {
            return Err(p.problems.join(" "));
        }
        if p.changes.is_empty() {
            return Ok(Plan::noop(self.noop_comment()));
        }
        let comment = self.install_comment(&p);
        Ok(Plan::change(Value::Object(p.changes), comment).with_data(p.todo))
    }

    /// A target installed from a package file (`sources`): Salt's rule,
    /// installed is enough unless the file's version can be read and is
    /// not the installed one. None when the target is left out (a
    /// problem, or held back).
    fn plan_file(
        &self,
        i: usize,
        t: &Target,
        src: &Source,
        k: &crate::platform::Known,
        report: &Report,
        p: &mut Planning,
    ) -> Option<Map<String, Value>> {
        let version = match self.file_version(i, report) {
            Ok(v) => v,
            Err(e) => {
                p.problems.push(e);
                return None;
            }
        };
        let need = k.installed.is_empty()
            || version.as_deref().is_some_and(|v| {
                !k.installed
                    .iter()
                    .any(|h| self.backend.version_matches(h, v))
            });
        if need {
            if let Some(why) = self.file_missing(i, report) {
                p.problems.push(why);
                return None;
            }
        }
        let release = self.release_for(t, k, need, p)?;
        let mut entry = Map::new();
        if need {
            entry.insert("old".into(), json!(k.installed.join(",")));
            entry.insert(
                "new".into(),
                json!(version.clone().unwrap_or_else(|| "installed".into())),
            );
            p.todo.install.push(match src {
                Source::Host(path) => path.clone(),
                _ => {
                    p.todo.files.push(i);
                    format!("./{i}{}", self.backend.file_suffix())
                }
            });
            p.todo.local = true;
            // The file is what is asked for, older or not.
            p.todo.pinned |= !k.installed.is_empty();
        }
        p.todo.expect.push((t.name.clone(), version));
        self.plan_hold(t, k, release, &mut entry, &mut p.comments, &mut p.todo);
        Some(entry)
    }

    /// A target from the repositories: installed, pinned or latest.
    fn plan_repo(
        &self,
        t: &Target,
        k: &crate::platform::Known,
        facts: &RepoFacts,
        p: &mut Planning,
    ) -> Option<Map<String, Value>> {
        let latest = self.kind == Kind::Latest;
        let old = k.installed.join(",");
        let candidate = facts.policy.get(&t.name).and_then(|(_, c)| c.clone());
        let want_latest = latest || t.version.as_deref() == Some("latest");
        let pinned = t.version.as_deref().filter(|v| *v != "latest");
        let need = if let Some(v) = pinned {
            !k.installed
                .iter()
                .any(|h| self.backend.version_matches(h, v))
        } else if want_latest {
            k.installed.is_empty()
                || candidate.as_deref().is_some_and(|c| {
                    k.installed
                        .iter()
                        .all(|h| self.backend.vercmp(h, c) == Ordering::Less)
                })
        } else {
            k.installed.is_empty()
        };
        if latest
            && need
            && k.installed.is_empty()
            && candidate.is_none()
            && facts.have_lists
            && !self.refresh
        {
            p.problems
                .push(format!("No information found for '{}'.", t.name));
            return None;
        }
        let release = self.release_for(t, k, need, p)?;
        let mut entry = Map::new();
        if need {
            // Like Salt 3007: the version apt would bring, else "installed".
            let new = pinned
                .map(str::to_string)
                .or_else(|| candidate.clone())
                .unwrap_or_else(|| "installed".into());
            entry.insert("old".into(), json!(old));
            entry.insert("new".into(), json!(new));
            // `dnf install NAME` leaves an installed package as it is:
            // an upgrade names the candidate.
            let word = match (pinned, self.backend) {
                (None, PkgBackend::Dnf(_) | PkgBackend::Zypper | PkgBackend::Pacman)
                    if want_latest && !k.installed.is_empty() =>
                {
                    candidate.as_deref()
                }
                _ => pinned,
            };
            p.todo
                .install
                .push(self.backend.install_word(&t.name, word));
            p.todo.pinned |= pinned.is_some();
            p.todo.unknown |= candidate.is_none() && self.refresh_allowed;
        } else {
            p.up_to_date.push(format!("{} ({old})", t.name));
        }
        p.todo
            .expect
            .push((t.name.clone(), pinned.map(str::to_string)));
        self.plan_hold(t, k, release, &mut entry, &mut p.comments, &mut p.todo);
        Some(entry)
    }

    /// A held package that must change: held back (None) unless
    /// `update_holds` releases it for the install (and, but for
    /// `hold: False`, holds it again after).
    fn release_for(
        &self,
        t: &Target,
        k: &crate::platform::Known,
        need: bool,
        p: &mut Planning,
    ) -> Option<bool> {
        if need && k.held && !self.update_holds {
            p.held_back.push(t.name.clone());
            return None;
        }
        let release = need && k.held;
        if release {
            p.todo.release.push(t.name.clone());
            if self.hold != Some(false) {
                p.todo.rehold.push(t.name.clone());
            }
        }
        Some(release)
    }

    /// Salt's test-mode comment for the packages a plan installs.
    fn install_comment(&self, p: &Planning) -> String {
        let latest = self.kind == Kind::Latest;
        let mut comment = Vec::new();
        if !p.todo.install.is_empty() {
            let names: Vec<String> = self
                .targets
                .iter()
                .filter(|t| {
                    p.changes
                        .get(&t.name)
                        .is_some_and(|c| c.get("new").is_some())
                })
                .map(|t| t.name.clone())
                .collect();
            let verb = if latest {
                "installed/upgraded"
            } else {
                "installed/updated"
            };
            comment.push(format!(
                "The following packages would be {verb}: {}",
                list(&names)
            ));
            if latest && !p.up_to_date.is_empty() {
                comment.push(format!(
                    "The following packages are already up-to-date: {}",
                    list(&p.up_to_date)
                ));
            }
        }
        comment.extend(p.comments.iter().cloned());
        comment.join("\n")
    }

    /// `hold: True/False` for target `t` (`k` as the database has it;
    /// `release`: update_holds releases it for the install already).
    fn plan_hold(
        &self,
        t: &Target,
        k: &crate::platform::Known,
        release: bool,
        entry: &mut Map<String, Value>,
        comments: &mut Vec<String>,
        todo: &mut Todo,
    ) {
        match self.hold {
            Some(true) if !k.held => {
                entry.insert("hold".into(), json!({"old": "", "new": "hold"}));
                comments.push(format!("Package {} is set to be held.", t.name));
                todo.hold.push(t.name.clone());
            }
            Some(false) if k.held => {
                entry.insert("hold".into(), json!({"old": "hold", "new": ""}));
                comments.push(format!(
                    "Package {} is set to be removed from hold.",
                    t.name
                ));
                // A released package is simply not held again.
                if !release {
                    todo.unhold.push(t.name.clone());
                }
            }
            _ => {}
        }
    }

    fn noop_comment(&self) -> String {
        let names = self.names();
        match self.kind {
            Kind::Latest if names.len() > 1 => {
                let mut sorted = names;
                sorted.sort();
                format!("All packages are up-to-date ({}).", list(&sorted))
            }
            Kind::Latest => format!("Package {} is already up-to-date", names[0]),
            Kind::Installed if !self.from_pkgs => match &self.targets[0].version {
                Some(v) => format!("Version {v} of package '{}' is already installed", names[0]),
                None => format!("Package {} is already installed", names[0]),
            },
            Kind::Installed => {
                if self.targets.iter().any(|t| t.version.is_some()) {
                    "All specified packages are already installed and are at the desired version"
                        .into()
                } else {
                    "All specified packages are already installed".into()
                }
            }
            Kind::Removed => "None of the targeted packages are installed".into(),
            Kind::Purged => {
                "None of the targeted packages are installed or partially installed".into()
            }
        }
    }

    fn plan_remove(&self, report: &Report) -> Plan {
        let arch = report.value("arch").unwrap_or("");
        let pkgs = self.backend.known(report.lines("list"), arch);
        let purge = self.kind == Kind::Purged;
        let mut targets: Vec<String> = self
            .targets
            .iter()
            .filter(|t| {
                pkgs.get(&t.name)
                    .is_some_and(|k| k.present || (purge && !k.config_only.is_empty()))
            })
            .map(|t| t.name.clone())
            .collect();
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            return Plan::noop(self.noop_comment());
        }
        let action = if purge { "purged" } else { "removed" };
        let changes: Map<String, Value> = targets
            .iter()
            .map(|n| (n.clone(), json!({"new": action, "old": ""})))
            .collect();
        let todo = Todo {
            remove: targets.clone(),
            ..Todo::default()
        };
        Plan::change(
            Value::Object(changes),
            format!(
                "The following packages will be {action}: {}.",
                list(&targets)
            ),
        )
        .with_data(todo)
    }

    fn apply_script(&self, todo: &Todo) -> String {
        let b = self.backend;
        let names = join(self.names());
        let mut s = b.prelude();
        s.push_str(&format!(
            "printf '@@before\\n'\nh_list -- {names}\nh_rc=0\n"
        ));
        if !todo.install.is_empty() {
            if self.refresh {
                s.push_str("h_refresh\n");
            } else if todo.unknown && b == PkgBackend::Apt {
                // Unknown when planned; an earlier state of this run (a
                // pkgrepo) may have indexed it since: refresh only if apt
                // still does not know every package. (dnf fetches the
                // metadata it lacks by itself.)
                s.push_str(&apt::all_known(&names));
                s.push_str("[ -n \"$h_known\" ] || h_refresh\n");
            } else if b == PkgBackend::Apt {
                // Fresh images ship no package lists: nothing could be
                // installed, so fetch them rather than fail.
                s.push_str(apt::HAVE_LISTS);
                s.push_str("[ -n \"$h_lists\" ] || h_refresh\n");
            }
            if !todo.files.is_empty() {
                s.push_str(&self.fetch_files(todo));
            }
            let opts = InstallOpts {
                downgrade: todo.pinned,
                skip_verify: self.skip_verify,
                fromrepo: self.fromrepo.clone(),
                install_recommends: true,
                only_upgrade: false,
                reinstall: false,
            };
            s.push_str("printf '@@apt\\n'\n");
            let install = |words: &[String]| {
                if todo.local {
                    b.install_files(&opts, words)
                } else {
                    b.install(&opts, words)
                }
            };
            let mut body = String::new();
            if todo.release.is_empty() {
                body.push_str(&install(&todo.install));
            } else {
                // update_holds: release, install only once released, and
                // hold again whatever the install did (as Salt does).
                body.push_str(&b.hold(false, &todo.release));
                body.push_str(&format!(
                    "h_released=$h_rc\nif [ \"$h_rc\" -eq 0 ]; then\n{}fi\n",
                    install(&todo.install)
                ));
                if !todo.rehold.is_empty() {
                    body.push_str(&format!(
                        "if [ \"$h_released\" -eq 0 ]; then\nh_kept=$h_rc\nh_rc=0\n{}[ \"$h_kept\" -eq 0 ] || h_rc=$h_kept\nfi\n",
                        b.hold(true, &todo.rehold)
                    ));
                }
            }
            if todo.files.is_empty() {
                s.push_str(&body);
            } else {
                // The files are ./N.deb (...) in the fetch directory.
                s.push_str(&format!(
                    "if [ \"$h_rc\" -eq 0 ] && cd \"$h_src\"; then\n{body}cd /\nfi\n"
                ));
            }
        }
        if !todo.remove.is_empty() {
            s.push_str("printf '@@apt\\n'\n");
            s.push_str(&b.remove(self.kind == Kind::Purged, &join(&todo.remove)));
        }
        for (hold, names) in [(true, &todo.hold), (false, &todo.unhold)] {
            if !names.is_empty() {
                s.push_str(&b.hold(hold, names));
            }
        }
        s.push_str(&format!(
            "printf '@@after\\n'\nh_list -- {names}\nprintf '@@rc %s\\n@@end\\n' \"$h_rc\"\nexit \"$h_rc\"\n"
        ));
        s
    }

    /// The package files of `todo.files` written (`salt://`, shipped as
    /// base64) or downloaded into a fresh directory `$h_src`, removed on
    /// exit; `h_rc` set when one cannot be had.
    fn fetch_files(&self, todo: &Todo) -> String {
        let mut s = String::from(
            "h_src=$(mktemp -d \"${TMPDIR:-/var/tmp}/halite-pkg.XXXXXX\") || h_rc=1\n[ \"$h_rc\" -ne 0 ] || trap 'rm -rf \"$h_src\"' EXIT\n",
        );
        if todo
            .files
            .iter()
            .any(|&i| matches!(self.targets[i].source, Some(Source::Download(_))))
        {
            s.push_str(DOWNLOADER);
        }
        for &i in &todo.files {
            let dest = format!("\"$h_src\"/{i}{}", self.backend.file_suffix());
            let body = match &self.targets[i].source {
                Some(Source::Shipped { bytes, .. }) => {
                    super::file::b64_heredoc(bytes, &dest, "h_rc=1")
                }
                Some(Source::Download(url)) => download(url, &dest),
                _ => continue,
            };
            s.push_str(&format!("if [ \"$h_rc\" -eq 0 ]; then\n{body}fi\n"));
        }
        s
    }

    fn finish_report(&self, plan: &Plan, out: Output) -> Applied {
        let f = self.kind.function();
        let todo = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let report = match self.open(out.text) {
            Ok(r) => r,
            Err(e) => return failed(e, Map::new()),
        };
        if report.value("refresh_failed").is_some() {
            return failed(
                format!(
                    "{f}: refreshing the package database failed:\n{}",
                    self.backend.errors(out.text).join("\n")
                ),
                Map::new(),
            );
        }
        let arch = report.value("arch").unwrap_or("");
        let before = self.backend.known(report.lines("before"), arch);
        let after = self.backend.known(report.lines("after"), arch);
        let removing = matches!(self.kind, Kind::Removed | Kind::Purged);
        let changes = self.observed_changes(todo, &before, &after);
        if let Some(url) = report.value("fetch_failed") {
            let name = self
                .targets
                .iter()
                .find(|t| t.source.as_ref().is_some_and(|s| redact(s.url()) == url))
                .map_or("", |t| t.name.as_str());
            // Salt's words (pkg_resource.parse_targets), and the tool's.
            return failed(
                format!(
                    "Unable to cache source {url} for package {name}: {}",
                    report.lines("fetch_failed").join(" ").trim()
                ),
                changes,
            );
        }
        let rc: i32 = report
            .value("rc")
            .and_then(|v| v.parse().ok())
            .unwrap_or(out.rc);
        if rc != 0 {
            let what = if removing { "removing" } else { "installing" };
            return failed(
                format!(
                    "An error was encountered while {what} package(s): {}",
                    self.backend.errors(out.text).join("\n")
                ),
                changes,
            );
        }
        if removing {
            self.removal_outcome(todo, &after, changes)
        } else {
            self.install_outcome(todo, &after, changes)
        }
    }

    /// Each target's change as the package database tells it, before and
    /// after the apply.
    fn observed_changes(
        &self,
        todo: &Todo,
        before: &BTreeMap<String, Known>,
        after: &BTreeMap<String, Known>,
    ) -> Map<String, Value> {
        let removing = matches!(self.kind, Kind::Removed | Kind::Purged);
        let mut changes = Map::new();
        for t in &self.targets {
            let (b, a) = (
                before.get(&t.name).cloned().unwrap_or_default(),
                after.get(&t.name).cloned().unwrap_or_default(),
            );
            let (old, new) = (b.installed.join(","), a.installed.join(","));
            let mut entry = Map::new();
            // A purge of what only left configuration files changes no
            // version; it is still a change.
            let gone = removing
                && todo.remove.contains(&t.name)
                && !a.present
                && a.config_only.is_empty()
                && (b.present || !b.config_only.is_empty());
            if old != new || gone {
                entry.insert("old".into(), json!(old));
                entry.insert("new".into(), json!(new));
            }
            if b.held != a.held {
                entry.insert(
                    "hold".into(),
                    if a.held {
                        json!({"old": "", "new": "hold"})
                    } else {
                        json!({"old": "hold", "new": ""})
                    },
                );
            }
            if !entry.is_empty() {
                changes.insert(t.name.clone(), Value::Object(entry));
            }
        }
        changes
    }

    /// `pkg.removed` / `pkg.purged` after a clean run: Salt's words for
    /// what is still there, else for what went.
    fn removal_outcome(
        &self,
        todo: &Todo,
        after: &BTreeMap<String, Known>,
        changes: Map<String, Value>,
    ) -> Applied {
        let purge = self.kind == Kind::Purged;
        let mut left: Vec<String> = todo
            .remove
            .iter()
            .filter(|n| {
                after
                    .get(*n)
                    .is_some_and(|k| k.present || (purge && !k.config_only.is_empty()))
            })
            .cloned()
            .collect();
        left.sort();
        let action = if purge { "purge" } else { "remove" };
        if !left.is_empty() {
            return failed(
                format!(
                    "The following packages failed to {action}: {}.",
                    list(&left)
                ),
                changes,
            );
        }
        let mut not_installed: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| !todo.remove.contains(n))
            .collect();
        not_installed.sort();
        let comment = if not_installed.is_empty() {
            format!("All targeted packages were {action}d.")
        } else {
            format!(
                "The following packages were not installed: {} The following packages were {action}d: {}.",
                list(&not_installed),
                list(&todo.remove)
            )
        };
        Applied {
            result: true,
            changes,
            comment,
        }
    }

    /// `pkg.installed` / `pkg.latest` after a clean run: every package
    /// expected is there (at its version) and held as asked, in Salt's
    /// words.
    fn install_outcome(
        &self,
        todo: &Todo,
        after: &BTreeMap<String, Known>,
        changes: Map<String, Value>,
    ) -> Applied {
        let mut missing: Vec<String> = todo
            .expect
            .iter()
            .filter(|(n, v)| {
                let inst = after
                    .get(n)
                    .map(|k| k.installed.clone())
                    .unwrap_or_default();
                inst.is_empty()
                    || v.as_deref()
                        .is_some_and(|v| !inst.iter().any(|h| self.backend.version_matches(h, v)))
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in todo.hold.iter().chain(&todo.rehold) {
            if !after.get(n).is_some_and(|k| k.held) && !missing.contains(n) {
                missing.push(n.clone());
            }
        }
        missing.sort();
        if !missing.is_empty() {
            return failed(
                format!(
                    "The following packages failed to install/update: {}",
                    list(&missing)
                ),
                changes,
            );
        }
        let installed: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| changes.get(n).is_some_and(|c| c.get("new").is_some()))
            .collect();
        let mut comment = Vec::new();
        if !installed.is_empty() {
            comment.push(if self.kind == Kind::Latest {
                format!(
                    "The following packages were successfully installed/upgraded: {}",
                    list(&installed)
                )
            } else {
                format!(
                    "The following packages were installed/updated: {}",
                    list(&installed)
                )
            });
        }
        for n in &todo.hold {
            comment.push(format!("Package {n} is now being held."));
        }
        for n in &todo.unhold {
            comment.push(format!("Package {n} is no longer being held."));
        }
        if comment.is_empty() {
            comment.push(self.noop_comment());
        }
        Applied {
            result: true,
            changes,
            comment: comment.join("\n"),
        }
    }
}

impl StateFunction for Pkg {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        let present = matches!(self.kind, Kind::Installed | Kind::Latest);
        self.targets
            .iter()
            .map(|t| crate::modules::Managed {
                resource: crate::state::ledger::Resource::new("pkg", &t.name),
                present,
            })
            .collect()
    }

    fn shared_probe(&self) -> Option<SharedProbe> {
        if self.backend != PkgBackend::Apt {
            return None;
        }
        Some(SharedProbe {
            key: "pkg.apt",
            arg: self.names().join(" "),
            script: apt::shared_script,
        })
    }

    fn probe(&self) -> String {
        self.probe_script()
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let report = self.open(facts.text)?;
        match self.kind {
            Kind::Installed | Kind::Latest => self.plan_install(&report),
            Kind::Removed | Kind::Purged => Ok(self.plan_remove(&report)),
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        Ok(self.apply_script(plan.data::<Todo>()?))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let mut a = self.finish_report(plan, out);
        // Say whether this state refreshed the index (at most once per run).
        if out.text.lines().any(|l| l == "@@refresh_skipped") {
            a.comment
                .push_str(" (package index already refreshed in this run)");
        } else if out.text.lines().any(|l| l == "@@refresh") && a.result {
            a.comment.push_str(" (package index refreshed)");
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::BuildCtx;

    fn chunk(function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("pkg", function, name, args)
        }
    }

    fn ctx() -> BuildCtx<'static> {
        BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        }
    }

    fn make(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let def = super::super::lookup("pkg", function).unwrap();
        (def.build)(&chunk(function, name, args), &ctx())
    }

    fn f(function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
        make(function, name, args).unwrap()
    }

    fn plan(sf: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        sf.plan(Output { text, rc: 0 })
    }

    /// A probe's output: dpkg lines and `apt-cache policy` for some packages.
    fn probe(list: &str, policy: &str) -> String {
        format!("@@halite_pkg 1\n@@arch amd64\n@@lists 1\n@@list\n{list}@@policy\n{policy}@@end\n")
    }

    const HELLO_II: &str = "hello\tamd64\t2.10-3\tii \n";
    const HELLO_POLICY: &str = "hello:\n  Installed: 2.10-3\n  Candidate: 2.10-3+b1\n";
    const HELLO_NEW_POLICY: &str = "hello:\n  Installed: (none)\n  Candidate: 2.10-3\n";

    #[test]
    fn installed_missing_already_and_version_mismatch() {
        let s = f("installed", "hello", json!({}));
        let p = plan(&*s, &probe("", HELLO_NEW_POLICY)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"old": "", "new": "2.10-3"}})
        );
        assert_eq!(
            p.comment,
            "The following packages would be installed/updated: hello"
        );
        let a = s.apply(&p).unwrap();
        assert!(a.contains("install -- hello"), "{a}");
        assert!(!a.contains("--allow-downgrades"), "{a}");

        let p = plan(&*s, &probe(HELLO_II, HELLO_POLICY)).unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "Package hello is already installed");

        let s = f("installed", "hello", json!({"version": "2.9-1"}));
        let p = plan(&*s, &probe(HELLO_II, HELLO_POLICY)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"old": "2.10-3", "new": "2.9-1"}})
        );
        let a = s.apply(&p).unwrap();
        assert!(
            a.contains("--allow-downgrades install -- hello=2.9-1"),
            "{a}"
        );

        let s = f("installed", "hello", json!({"version": "2.10-3"}));
        let p = plan(&*s, &probe(HELLO_II, HELLO_POLICY)).unwrap();
        assert!(p.is_noop());
        assert_eq!(
            p.comment,
            "Version 2.10-3 of package 'hello' is already installed"
        );
        // The epoch may be left out, as in Salt.
        let list = "vim\tamd64\t2:9.0-1\tii \n";
        let s = f("installed", "vim", json!({"version": "9.0-1"}));
        assert!(plan(&*s, &probe(list, "")).unwrap().is_noop());
        let s = f("installed", "vim", json!({"version": "9.0*"}));
        assert!(plan(&*s, &probe(list, "")).unwrap().is_noop());
    }

    /// `sources`: built against a states tree holding a real `.deb`.
    #[test]
    fn sources_plan_from_the_file_version_and_refuse_bad_input() {
        let states = tempfile::tempdir().unwrap();
        let Some(deb) = crate::testing::build_deb(states.path(), "halite-src", "1.0", "xz") else {
            return;
        };
        std::fs::write(states.path().join("src.deb"), &deb).unwrap();
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let build = |name: &str, args: Value| {
            let def = super::super::lookup("pkg", "installed").unwrap();
            (def.build)(&chunk("installed", name, args), &ctx)
        };
        let s = build(
            "label",
            json!({"sources": [{"halite-src": "salt://src.deb"}]}),
        )
        .unwrap();
        let probe = s.probe();
        assert!(
            probe.contains("@@srcinfo_%s") && !probe.contains("apt-cache"),
            "{probe}"
        );
        let report = |list: &str, info: &str| {
            format!("@@halite_pkg 1\n@@arch amd64\n@@lists 1\n{info}@@list\n{list}@@end\n")
        };
        let info = "@@srcinfo_s0 halite-src 1.0\n";
        // Not installed: installed from the file, shipped in the apply.
        let p = plan(&*s, &report("", info)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"halite-src": {"old": "", "new": "1.0"}})
        );
        assert_eq!(
            p.comment,
            "The following packages would be installed/updated: halite-src"
        );
        let apply = s.apply(&p).unwrap();
        assert!(apply.contains("install -- ./0.deb"), "{apply}");
        assert!(apply.contains("base64 -d > \"$h_src\"/0.deb"), "{apply}");
        assert!(!apply.contains("--allow-downgrades"), "{apply}");
        // At the file's version: nothing to do (Salt's comment for sources).
        let at = "halite-src\tall\t1.0\tii \n";
        let p = plan(&*s, &report(at, info)).unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "All specified packages are already installed");
        // Another version: the file is installed, older or not.
        let other = "halite-src\tall\t2.0\tii \n";
        let p = plan(&*s, &report(other, info)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"halite-src": {"old": "2.0", "new": "1.0"}})
        );
        assert!(s
            .apply(&p)
            .unwrap()
            .contains("--allow-downgrades install -- ./0.deb"));
        // The host could not read the file's version: installed is enough.
        assert!(plan(&*s, &report(other, "")).unwrap().is_noop());
        // A file holding another package.
        let e = plan(&*s, &report("", "@@srcinfo_s0 other 1.0\n")).unwrap_err();
        assert_eq!(e, "salt://src.deb holds package other, not halite-src");

        // hold applies as for repository packages.
        let held = build(
            "label",
            json!({"sources": [{"halite-src": "salt://src.deb"}], "hold": true}),
        )
        .unwrap();
        let p = plan(&*held, &report(at, info)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"halite-src": {"hold": {"old": "", "new": "hold"}}})
        );
        let apply = held.apply(&p).unwrap();
        assert!(apply.contains("apt-mark hold -- halite-src"), "{apply}");
        assert!(!apply.contains("install --"), "{apply}");

        // Downloads and host paths: installed is enough; otherwise the
        // host must have a downloader, or the file.
        let s = build(
            "label",
            json!({"sources": [{"a": "https://example.invalid/a.deb"}, {"b": "/srv/b.deb"}]}),
        )
        .unwrap();
        let probe = s.probe();
        assert!(
            probe.contains("@@downloader") && probe.contains("[ -f /srv/b.deb ]"),
            "{probe}"
        );
        let both = "a\tamd64\t1\tii \nb\tamd64\t1\tii \n";
        assert!(plan(&*s, &report(both, "@@downloader \n@@nofile_s1\n"))
            .unwrap()
            .is_noop());
        let e = plan(&*s, &report("", "@@downloader \n@@nofile_s1\n")).unwrap_err();
        assert_eq!(
            e,
            "neither curl nor wget is on the host to download https://example.invalid/a.deb /srv/b.deb does not exist on the host"
        );
        let p = plan(&*s, &report("", "@@downloader curl\n")).unwrap();
        let apply = s.apply(&p).unwrap();
        assert!(apply.contains("install -- ./0.deb /srv/b.deb"), "{apply}");
        // The URL reaches curl on stdin, never its command line.
        assert!(
            apply.contains(
                "printf '%s' 'url = \"https://example.invalid/a.deb\"\n' | curl -fsSL -o \"$h_src\"/0.deb -K - 2>&1"
            ),
            "{apply}"
        );
        for script in [s.probe(), apply] {
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(st.success(), "{script}");
        }

        let e = |args: Value| build("label", args).err().unwrap();
        assert!(
            e(json!({"sources": [{"a": "salt://a.deb"}], "pkgs": ["a"]}))
                .ends_with("Only one of \"pkgs\" and \"sources\" is permitted.")
        );
        assert!(
            e(json!({"sources": [{"a": "salt://src.deb"}], "version": "1"}))
                .contains("`version` does not apply to `sources`")
        );
        assert!(e(json!({"sources": ["a"]})).contains("Invalidly formatted 'sources' parameter"));
        assert!(
            e(json!({"sources": [{"a": 1}]})).contains("Invalidly formatted 'sources' parameter")
        );
        assert!(e(json!({"sources": [{"a": "a.deb"}]}))
            .ends_with("Path a.deb for package a is either not absolute or an invalid protocol"));
        assert!(e(json!({"sources": [{"a": "salt://nope.deb"}]})).contains("not found"));
        assert!(e(json!({"sources": [{"-a": "/a.deb"}]})).contains("not a valid package name"));
        let def = super::super::lookup("pkg", "latest").unwrap();
        assert!((def.build)(
            &chunk("latest", "a", json!({"sources": [{"a": "/a.deb"}]})),
            &ctx
        )
        .is_err());
    }

    /// The download lines under `sh` with the controller's curl (a
    /// `file://` URL stands for a server), and a failed download's report
    /// read by `finish`.
    #[test]
    fn downloads_say_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.deb");
        std::fs::write(&src, "deb").unwrap();
        let dest = dir.path().join("got");
        let run = |dl: &str, url: &str| {
            let script = format!(
                "h_rc=0\nh_dl={dl}\n{}printf 'rc=%s\\n' \"$h_rc\"\n",
                download(url, &quote(dest.to_str().unwrap()))
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        if crate::testing::tool_at_hand("curl") {
            let url = format!("file://{}", src.display());
            assert_eq!(run("curl", &url), "rc=0\n");
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), "deb");
            let out = run("curl", "file:///nonexistent/halite.deb");
            assert!(
                out.starts_with("@@fetch_failed file:///nonexistent/halite.deb\ncurl: "),
                "{out}"
            );
            assert!(out.ends_with("rc=1\n"), "{out}");
        } else {
            crate::testing::missing_tool("curl is not installed");
        }
        let out = run("", "https://example.invalid/a.deb");
        assert_eq!(
            out,
            "@@fetch_failed https://example.invalid/a.deb\nneither curl nor wget is on the host\nrc=1\n"
        );

        let s = f(
            "installed",
            "x",
            json!({"sources": [{"a": "https://example.invalid/a.deb"}]}),
        );
        let p = plan(
            &*s,
            "@@halite_pkg 1\n@@arch amd64\n@@lists 1\n@@downloader curl\n@@list\n@@end\n",
        )
        .unwrap();
        let a = s.finish(
            &p,
            Output {
                text: &format!(
                    "@@halite_pkg 1\n@@arch amd64\n@@before\n{}@@apt\n@@after\n@@rc 1\n@@end\n",
                    out.trim_end_matches("rc=1\n")
                ),
                rc: 1,
            },
        );
        assert!(!a.result);
        assert_eq!(
            a.comment,
            "Unable to cache source https://example.invalid/a.deb for package a: neither curl nor wget is on the host"
        );
    }

    #[test]
    fn latest_with_refresh_refreshes_before_it_reads_candidates() {
        // Salt's pkg.latest refreshes in `latest_version` before deciding.
        let s = f("latest", "vim", json!({"refresh": true}));
        let probe = s.probe();
        let at = probe.find("\nh_refresh\n").expect("refreshes in the probe");
        assert!(at < probe.find("@@list\\n").unwrap(), "{probe}");
        for (kind, args) in [
            ("latest", json!({})),
            ("installed", json!({"refresh": true})),
        ] {
            assert!(!f(kind, "vim", args).probe().contains("\nh_refresh\n"));
        }
        // A failed refresh fails the plan, naming it.
        let e = plan(
            &*s,
            "@@halite_pkg 1\n@@refresh\nE: no network\n@@refresh_failed 100\n@@end\n",
        )
        .unwrap_err();
        assert!(e.contains("refreshing the package database failed"), "{e}");
    }

    #[test]
    fn unknown_package_is_still_planned() {
        // Apt will say what is wrong; the plan cannot know better.
        let s = f("installed", "no-such-pkg", json!({}));
        let p = plan(&*s, &probe("", "")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"no-such-pkg": {"old": "", "new": "installed"}})
        );
        // Unknown to the index as it is (a fresh host, or lists older than
        // the package): the apply snippet refreshes first (once per run)
        // unless an earlier state (pkgrepo) has indexed it since.
        assert!(s
            .apply(&p)
            .unwrap()
            .contains("[ -n \"$h_known\" ] || h_refresh\n"));
        let s = f("installed", "x", json!({"refresh": true}));
        let p = plan(&*s, &probe("", "")).unwrap();
        assert!(s.apply(&p).unwrap().contains("\nh_refresh\n"));
        // refresh: False forbids it; with no lists at all, apt has nothing
        // to install from, so the old rule still fetches them.
        let s = f("installed", "x", json!({"refresh": false}));
        let p = plan(&*s, &probe("", "")).unwrap();
        assert!(!s.apply(&p).unwrap().contains("\nh_refresh\n"));
        assert!(s
            .apply(&p)
            .unwrap()
            .contains("[ -n \"$h_lists\" ] || h_refresh"));
    }

    #[test]
    fn pkgs_forms_and_comments() {
        let s = f(
            "installed",
            "base",
            json!({"pkgs": ["hello", {"sl": "5.02-1"}, {"tree": 2.1}, {"bash": null}]}),
        );
        let list = "hello\tamd64\t2.10-3\tii \nsl\tamd64\t5.02-1\tii \nbash\tamd64\t5.2\tii \n";
        let p = plan(&*s, &probe(list, "")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"tree": {"old": "", "new": "2.1"}})
        );
        assert!(s.apply(&p).unwrap().contains("install -- tree=2.1"));
        let list2 = format!("{list}tree\tamd64\t2.1\tii \n");
        let p = plan(&*s, &probe(&list2, "")).unwrap();
        assert_eq!(
            p.comment,
            "All specified packages are already installed and are at the desired version"
        );
        let s = f("installed", "base", json!({"pkgs": ["hello", "bash"]}));
        assert_eq!(
            plan(&*s, &probe(list, "")).unwrap().comment,
            "All specified packages are already installed"
        );
    }

    #[test]
    fn arguments_are_checked() {
        for (func, args) in [
            ("installed", json!({"bogus": 1})),
            ("installed", json!({"pkgs": [{"a": "1", "b": "2"}]})),
            ("installed", json!({"pkgs": [["a"]]})),
            ("installed", json!({"pkgs": ["a"], "version": "1"})),
            ("installed", json!({"pkgs": ["-oAPT::x=1"]})),
            ("installed", json!({"pkgs": ["a b"]})),
            ("installed", json!({"version": ">=1.0"})),
            ("installed", json!({"version": "1 2"})),
            ("installed", json!({"refresh": "yes"})),
            ("installed", json!({"fromrepo": "-x"})),
            ("latest", json!({"version": "1"})),
            ("latest", json!({"hold": true})),
            ("removed", json!({"pkgs": [{"a": "1"}]})),
            ("purged", json!({"refresh": true})),
        ] {
            assert!(make(func, "hello", args.clone()).is_err(), "{func} {args}");
        }
        let e = make("installed", "hello", json!({"bogus": 1})).unwrap_err();
        assert!(e.contains("unknown field `bogus`"), "{e}");
        assert!(make("installed", "--force", json!({})).is_err());
        assert!(make("installed", "hello", json!({"hold": true, "refresh": false, "fromrepo": "bookworm-backports", "skip_verify": true, "version": "latest"})).is_ok());
    }

    #[test]
    fn hold_and_unhold() {
        let s = f("installed", "hello", json!({"hold": true}));
        let p = plan(&*s, &probe(HELLO_II, HELLO_POLICY)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"hold": {"old": "", "new": "hold"}}})
        );
        assert_eq!(p.comment, "Package hello is set to be held.");
        assert!(s.apply(&p).unwrap().contains("apt-mark hold -- hello"));
        let held = "hello\tamd64\t2.10-3\thi \n";
        assert!(plan(&*s, &probe(held, HELLO_POLICY)).unwrap().is_noop());
        let s = f("installed", "hello", json!({"hold": false}));
        let p = plan(&*s, &probe(held, HELLO_POLICY)).unwrap();
        assert!(s.apply(&p).unwrap().contains("apt-mark unhold -- hello"));
    }

    #[test]
    fn latest_compares_with_the_candidate() {
        let s = f("latest", "hello", json!({}));
        let p = plan(&*s, &probe(HELLO_II, HELLO_POLICY)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"old": "2.10-3", "new": "2.10-3+b1"}})
        );
        assert_eq!(
            p.comment,
            "The following packages would be installed/upgraded: hello"
        );
        let current = "hello:\n  Installed: 2.10-3\n  Candidate: 2.10-3\n";
        let p = plan(&*s, &probe(HELLO_II, current)).unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "Package hello is already up-to-date");
        // Unknown to apt while its lists exist: Salt's failure.
        let s = f("latest", "nosuch", json!({}));
        assert_eq!(
            plan(&*s, &probe("", "")).unwrap_err(),
            "No information found for 'nosuch'."
        );
        let s = f("latest", "x", json!({"pkgs": ["hello", "sl"]}));
        let both = format!("{HELLO_II}sl\tamd64\t5.02-1\tii \n");
        let pol = format!("{current}sl:\n  Installed: 5.02-1\n  Candidate: 5.02-1\n");
        assert_eq!(
            plan(&*s, &probe(&both, &pol)).unwrap().comment,
            "All packages are up-to-date (hello, sl)."
        );
    }

    #[test]
    fn removed_and_purged() {
        let list = "hello\tamd64\t2.10-3\tii \nsl\tamd64\t5.02-1\trc \n";
        let s = f("removed", "x", json!({"pkgs": ["hello", "sl", "nosuch"]}));
        let p = plan(&*s, &probe(list, "")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"old": "", "new": "removed"}})
        );
        assert_eq!(p.comment, "The following packages will be removed: hello.");
        assert!(s.apply(&p).unwrap().contains(" remove -- hello "));
        let s = f("purged", "x", json!({"pkgs": ["hello", "sl", "nosuch"]}));
        let p = plan(&*s, &probe(list, "")).unwrap();
        assert_eq!(p.changes.len(), 2);
        assert!(s.apply(&p).unwrap().contains("--purge remove -- hello sl "));
        let s = f("removed", "sl", json!({}));
        let p = plan(&*s, &probe(list, "")).unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "None of the targeted packages are installed");
    }

    #[test]
    fn unsupported_platform_and_cut_probe() {
        let s = f("installed", "hello", json!({}));
        assert_eq!(
            plan(&*s, "@@unsupported dnf\n").unwrap_err(),
            "pkg.installed: this host has dnf, not apt: its `pkg_manager` grain is missing or stale (refresh the grains)"
        );
        assert!(plan(&*s, "@@halite_pkg 1\n@@list\n")
            .unwrap_err()
            .contains("did not complete"));
        // The real probe without apt on PATH says so.
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &s.probe()])
            .env_clear()
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        let e = plan(&*s, &String::from_utf8_lossy(&out.stdout)).unwrap_err();
        assert_eq!(
            e,
            "pkg.installed: package manager unknown is not supported yet (apt, dnf, yum, zypper and pacman are)"
        );
    }

    #[test]
    fn finish_reads_real_versions_and_errors() {
        let s = f("installed", "hello", json!({}));
        let p = plan(&*s, &probe("", HELLO_NEW_POLICY)).unwrap();
        let out = "@@halite_pkg 1\n@@arch amd64\n@@before\n@@apt\nSetting up hello (2.10-3) ...\n\
                   @@after\nhello\tamd64\t2.10-3\tii \n@@rc 0\n@@end\n";
        let a = s.finish(&p, Output { text: out, rc: 0 });
        assert!(a.result, "{a:?}");
        assert_eq!(
            Value::Object(a.changes),
            json!({"hello": {"old": "", "new": "2.10-3"}})
        );
        assert_eq!(
            a.comment,
            "The following packages were installed/updated: hello"
        );
        let out =
            "@@halite_pkg 1\n@@arch amd64\n@@before\n@@apt\nE: Unable to locate package hello\n\
                   @@after\n@@rc 100\n@@end\n";
        let a = s.finish(&p, Output { text: out, rc: 100 });
        assert!(!a.result);
        assert_eq!(
            a.comment,
            "An error was encountered while installing package(s): E: Unable to locate package hello"
        );
        let out = "@@halite_pkg 1\n@@arch amd64\n@@before\n@@refresh\nE: Could not get lock\n@@refresh_failed 100\n@@end\n";
        let a = s.finish(&p, Output { text: out, rc: 100 });
        assert!(
            !a.result && a.comment.contains("E: Could not get lock"),
            "{a:?}"
        );
    }

    /// A held package this state would change: refused with Salt's words
    /// unless `update_holds`, which releases it around the install and
    /// holds it again (unless `hold: False`). Nothing to change: no release.
    #[test]
    fn update_holds_releases_a_held_package_for_the_change() {
        const HELLO_HI: &str = "hello\tamd64\t2.10-3\thi \n";
        let facts = probe(HELLO_HI, HELLO_POLICY);
        let e = plan(&*f("latest", "hello", json!({})), &facts).unwrap_err();
        assert_eq!(
            e,
            "The following package(s) could not be updated because they are being held: hello. Set 'update_holds' to True to temporarily unhold these packages so that they can be updated."
        );
        let e = plan(
            &*f(
                "installed",
                "hello",
                json!({"version": "2.10-3+b1", "hold": true}),
            ),
            &facts,
        )
        .unwrap_err();
        assert!(e.contains("being held: hello."), "{e}");
        // Already as declared: a hold is no obstacle, and nothing runs.
        assert!(plan(&*f("installed", "hello", json!({})), &facts)
            .unwrap()
            .is_noop());
        assert!(plan(
            &*f("latest", "hello", json!({"update_holds": true})),
            &probe(
                HELLO_HI,
                "hello:\n  Installed: 2.10-3\n  Candidate: 2.10-3\n"
            )
        )
        .unwrap()
        .is_noop());

        for (func, args) in [
            ("latest", json!({"update_holds": true})),
            (
                "installed",
                json!({"version": "2.10-3+b1", "update_holds": true, "hold": true}),
            ),
        ] {
            let s = f(func, "hello", args.clone());
            let p = plan(&*s, &facts).unwrap();
            assert_eq!(
                Value::Object(p.changes.clone()),
                json!({"hello": {"old": "2.10-3", "new": "2.10-3+b1"}}),
                "{args}"
            );
            let apply = s.apply(&p).unwrap();
            let unhold = apply.find("apt-mark unhold -- hello").expect(&apply);
            let install = apply.find("install -- hello").expect(&apply);
            let hold = apply.find("apt-mark hold -- hello").expect(&apply);
            assert!(unhold < install && install < hold, "{apply}");
            // Held again: the hold is no change; not held after is a failure.
            let out = |after: &str| {
                format!("@@halite_pkg 1\n@@arch amd64\n@@before\n{HELLO_HI}@@apt\n@@after\n{after}@@rc 0\n@@end\n")
            };
            let a = s.finish(
                &p,
                Output {
                    text: &out("hello\tamd64\t2.10-3+b1\thi \n"),
                    rc: 0,
                },
            );
            assert!(a.result, "{a:?}");
            assert_eq!(
                Value::Object(a.changes),
                json!({"hello": {"old": "2.10-3", "new": "2.10-3+b1"}})
            );
            let a = s.finish(
                &p,
                Output {
                    text: &out("hello\tamd64\t2.10-3+b1\tii \n"),
                    rc: 0,
                },
            );
            assert!(!a.result, "{a:?}");
        }
        // hold: False: released and left so.
        let s = f(
            "installed",
            "hello",
            json!({"version": "2.10-3+b1", "update_holds": true, "hold": false}),
        );
        let p = plan(&*s, &facts).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"hello": {"old": "2.10-3", "new": "2.10-3+b1", "hold": {"old": "hold", "new": ""}}})
        );
        let apply = s.apply(&p).unwrap();
        assert_eq!(apply.matches("apt-mark unhold").count(), 1, "{apply}");
        assert!(!apply.contains("apt-mark hold"), "{apply}");
        // Not a boolean: an error naming the state.
        let e = make("installed", "hello", json!({"update_holds": "yes"})).unwrap_err();
        assert!(e.contains("update_holds") || e.contains("invalid"), "{e}");
        // pkg.removed takes no update_holds.
        assert!(make("removed", "hello", json!({"update_holds": true})).is_err());
    }

    /// The same on dnf, where the hold is a versionlock entry.
    #[test]
    fn update_holds_on_dnf_uses_versionlock() {
        let lock = "/etc/dnf/plugins/versionlock.list";
        let e = plan(
            &*on("dnf", "latest", "halite-hello", json!({})),
            &dnf_probe(lock),
        )
        .unwrap_err();
        assert!(e.contains("being held: halite-hello."), "{e}");
        let s = on(
            "dnf",
            "latest",
            "halite-hello",
            json!({"update_holds": true}),
        );
        let p = plan(&*s, &dnf_probe(lock)).unwrap();
        let apply = s.apply(&p).unwrap();
        let unhold = apply
            .find("versionlock delete -- halite-hello")
            .expect(&apply);
        let install = apply.find("install -- halite-hello").expect(&apply);
        let hold = apply.find("versionlock add -- halite-hello").expect(&apply);
        assert!(unhold < install && install < hold, "{apply}");
    }

    #[test]
    fn snippets_are_valid_sh() {
        let hostile = "it's$(x)";
        for (func, args) in [
            (
                "installed",
                json!({"pkgs": ["a", {"b": "1:2.0-1"}], "hold": true, "fromrepo": "x'y", "refresh": true, "skip_verify": true}),
            ),
            ("installed", json!({"hold": false})),
            ("latest", json!({"pkgs": ["a", "b"]})),
            ("removed", json!({"pkgs": ["a", "b"]})),
            ("purged", json!({})),
        ] {
            let s = f(func, "a", args);
            let p = Plan::change(json!({"a": true}), "").with_data(Todo {
                install: vec!["a".into(), hostile.into()],
                expect: vec![],
                hold: vec!["a".into()],
                unhold: vec!["b".into()],
                release: vec![],
                rehold: vec![],
                remove: vec![hostile.into()],
                pinned: true,
                unknown: false,
                local: false,
                files: vec![],
            });
            let released = Plan::change(json!({"a": true}), "").with_data(Todo {
                install: vec![hostile.into()],
                release: vec![hostile.into()],
                rehold: vec![hostile.into()],
                ..Todo::default()
            });
            for script in [s.probe(), s.apply(&p).unwrap(), s.apply(&released).unwrap()] {
                let st = std::process::Command::new("sh")
                    .args(["-n", "-c", &script])
                    .status()
                    .unwrap();
                assert!(st.success(), "{func}: {script}");
                assert!(!script.contains(&format!(" {hostile}")), "{script}");
            }
        }
    }

    /// The probe with apt-cache always asked (what it was before it was
    /// skipped for installed packages).
    fn always_policy(script: &str) -> String {
        let s = script.replace("if [ -n \"$h_need\" ]; then", "if true; then");
        assert_ne!(s, script, "the probe skips apt-cache somewhere");
        s
    }

    /// Skipping apt-cache for installed packages never changes the plan:
    /// canned dpkg-query and apt-cache answers (packages installed, not,
    /// config files only, half-installed, another architecture, held)
    /// through the real probe under `sh`.
    #[test]
    fn skipping_apt_cache_gives_the_same_plans_canned() {
        // Stub commands on PATH (dash takes no `-` in function names).
        let dir = std::env::temp_dir().join(format!("halite-pkg-stubs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (cmd, body) in [
            ("dpkg", "echo amd64"),
            ("apt-get", ":"),
            ("dpkg-query", "printf 'sudo\\tamd64\\t1.9.13p3-1+deb12u1\\tii \\nprocps\\tamd64\\t2:4.0.2-3\\thi \\ngone\\tamd64\\t1.0\\trc \\nhalf\\tamd64\\t1.0\\tiU \\nfor\\ti386\\t1.0\\tii \\nnoarch\\tall\\t3\\tii \\n'"),
            ("apt-cache", "for p in gone half for new; do printf '%s:\\n  Installed: (none)\\n  Candidate: 9.9\\n' $p; done"),
        ] {
            let path = dir.join(cmd);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::process::Command::new("chmod").arg("755").arg(&path).status().unwrap();
        }
        let stubs = format!("PATH={}:$PATH\n", dir.display());
        let run = |script: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", script])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let cases: &[(&str, Value)] = &[
            ("sudo", json!({})),
            ("x", json!({"pkgs": ["sudo", "procps", "noarch"]})),
            ("x", json!({"pkgs": ["sudo", "procps"], "hold": true})),
            ("x", json!({"pkgs": ["sudo", "procps"], "hold": false})),
            ("gone", json!({})),
            ("half", json!({})),
            ("for", json!({})),
            ("new", json!({})),
            ("x", json!({"pkgs": ["sudo", "new"]})),
        ];
        for (name, args) in cases {
            let s = f("installed", name, args.clone());
            let fast = format!("{stubs}{}", s.probe());
            assert!(!run(&fast).is_empty(), "{fast}");
            let slow = always_policy(&fast);
            let (fast_out, slow_out) = (run(&fast), run(&slow));
            assert_eq!(
                plan(&*s, &fast_out),
                plan(&*s, &slow_out),
                "{name} {args}:\n{fast_out}\n{slow_out}"
            );
            let skipped = !fast_out.contains("@@policy");
            let all_installed =
                matches!(name, &"sudo") || (name == &"x" && !args.to_string().contains("new"));
            assert_eq!(skipped, all_installed, "{name} {args}:\n{fast_out}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        // pkg.latest and pinned versions always ask apt.
        for (func, args) in [
            ("latest", json!({})),
            ("installed", json!({"version": "1.0"})),
        ] {
            let p = f(func, "sudo", args).probe();
            assert!(!p.contains("h_need"), "{p}");
        }
    }

    /// The same on a real Debian (a fleet host), and the shared dpkg
    /// architecture gives the same text as the probe's own:
    /// `HALITE_TEST_CONTAINER=<fleet container> cargo test --lib -- --ignored`.
    #[test]
    #[ignore = "needs a Debian podman container named in HALITE_TEST_CONTAINER"]
    fn skipping_apt_cache_gives_the_same_plans_in_a_container() {
        let sh = crate::testing::container_sh;
        let shared = (f("installed", "sudo", json!({}))
            .shared_probe()
            .unwrap()
            .script)(&[]);
        for (name, args) in [
            ("sudo", json!({})),
            (
                "x",
                json!({"pkgs": ["sudo", "procps", "iproute2", "libc6"]}),
            ),
            ("x", json!({"pkgs": ["sudo", "hello"]})),
            ("hello", json!({})),
            ("nosuchpackage", json!({})),
            ("tzdata", json!({"hold": true})),
        ] {
            let s = f("installed", name, args.clone());
            let probe = s.probe();
            let fast = sh(&probe);
            let slow = sh(&always_policy(&probe));
            assert_eq!(
                plan(&*s, &fast),
                plan(&*s, &slow),
                "{name} {args}:\n{fast}\n{slow}"
            );
            assert_eq!(sh(&format!("{shared}(\n{probe}\n)")), fast);
        }
    }

    /// A state built for a host whose `pkg_manager` grain is `pm`.
    fn on(pm: &str, function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
        let r = crate::render::Renderer::new(
            "/nonexistent",
            "h",
            json!({ "pkg_manager": pm }),
            json!({}),
        );
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: Some(&r),
        };
        let def = super::super::lookup("pkg", function).unwrap();
        (def.build)(&chunk(function, name, args), &ctx).unwrap()
    }

    /// A dnf probe's output around real rpm and repoquery lines
    /// (tests/compat/gen_platform_dnf.sh).
    fn dnf_probe(lock: &str) -> String {
        format!(
            "@@halite_pkg 1\n@@arch x86_64\n@@versionlock {lock}\n@@lists 1\n@@list\n{}@@policy\n{}@@end\n",
            include_str!("../../tests/compat/platform/dnf-list.txt"),
            include_str!("../../tests/compat/platform/dnf-repoquery.txt")
        )
    }

    #[test]
    fn dnf_plans_from_rpm_and_repoquery() {
        let lock = "/etc/dnf/plugins/versionlock.list";
        let p = plan(
            &*on("dnf", "installed", "halite-other", json!({})),
            &dnf_probe(lock),
        )
        .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"halite-other": {"old": "", "new": "2.0-1"}})
        );
        let s = on("dnf", "installed", "halite-other", json!({}));
        let apply = s.apply(&p).unwrap();
        assert!(
            apply.contains("dnf -y -q install -- halite-other >&2"),
            "{apply}"
        );
        assert!(!apply.contains("apt-get -q"), "{apply}");
        // 1.0-1 installed and held; 1.1-1 in the repository.
        let latest = on(
            "dnf",
            "latest",
            "halite-hello",
            json!({"update_holds": true}),
        );
        let p = plan(&*latest, &dnf_probe(lock)).unwrap();
        assert_eq!(
            Value::Object(p.changes),
            json!({"halite-hello": {"old": "1.0-1", "new": "1.1-1"}})
        );
        let pinned = on(
            "yum",
            "installed",
            "halite-hello",
            json!({"version": "1.0"}),
        );
        assert!(plan(&*pinned, &dnf_probe(lock)).unwrap().is_noop());
        let held = on("dnf", "installed", "halite-hello", json!({"hold": true}));
        assert!(plan(&*held, &dnf_probe(lock)).unwrap().is_noop());
        let unhold = on("dnf", "installed", "halite-hello", json!({"hold": false}));
        let p = plan(&*unhold, &dnf_probe(lock)).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"halite-hello": {"hold": {"old": "hold", "new": ""}}})
        );
        assert!(unhold
            .apply(&p)
            .unwrap()
            .contains("dnf -q versionlock delete -- halite-hello"));
        // Without the versionlock plugin, hold is a clear error, in test=True too.
        let e = plan(
            &*on("dnf", "installed", "halite-other", json!({"hold": true})),
            &dnf_probe(""),
        )
        .unwrap_err();
        assert!(e.contains("versionlock plugin"), "{e}");
        let removed = on("dnf", "purged", "halite-hello", json!({}));
        let p = plan(&*removed, &dnf_probe(lock)).unwrap();
        assert!(removed
            .apply(&p)
            .unwrap()
            .contains("dnf -y -q remove -- halite-hello"));
        assert!(on("dnf", "installed", "x", json!({}))
            .shared_probe()
            .is_none());
    }

    #[test]
    fn unknown_pkg_manager_is_a_build_error() {
        let r = crate::render::Renderer::new(
            "/nonexistent",
            "h",
            json!({"pkg_manager": "apk"}),
            json!({}),
        );
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: Some(&r),
        };
        let def = super::super::lookup("pkg", "installed").unwrap();
        let e = (def.build)(&chunk("installed", "vim", json!({})), &ctx).unwrap_err();
        assert!(
            e.ends_with(
                "package manager apk is not supported yet (apt, dnf, yum, zypper and pacman are)"
            ),
            "{e}"
        );
    }

    /// probe, plan, apply, finish, and probe again (which must plan nothing)
    /// in the container: stdout and stderr together, as the engine reads.
    fn converge(s: &dyn StateFunction) -> (Plan, Applied, Plan) {
        let sh = |script: &str| crate::testing::container_sh(&format!("(\n{script}\n) 2>&1"));
        let p = plan(s, &sh(&s.probe())).unwrap();
        let out = sh(&format!(
            "(\n{}\n)\necho \"@@exit $?\"",
            s.apply(&p).unwrap()
        ));
        let rc = out
            .lines()
            .find_map(|l| l.strip_prefix("@@exit "))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let a = s.finish(&p, Output { text: &out, rc });
        let again = plan(s, &sh(&s.probe())).unwrap();
        (p, a, again)
    }

    /// The dnf backend against real dnf 4 and rpm, in a container of the
    /// fleet image with Debian's dnf, rpm and createrepo-c and the test
    /// repository of tests/compat/gen_platform_dnf.sh (halite-hello 1.0 and
    /// 1.1, halite-other 2.0): `HALITE_TEST_CONTAINER=<it> cargo test --lib
    /// -- --ignored dnf_states`.
    #[test]
    #[ignore = "needs a podman container with dnf named in HALITE_TEST_CONTAINER"]
    fn dnf_states_converge_in_a_container() {
        crate::testing::container_sh(
            "dnf -q -y remove halite-hello halite-other >/dev/null 2>&1; dnf -q versionlock clear >/dev/null 2>&1",
        );
        let cases = [
            (
                "installed",
                "halite-hello",
                json!({"version": "1.0"}),
                json!({"halite-hello": {"old": "", "new": "1.0-1"}}),
            ),
            (
                "latest",
                "halite-hello",
                json!({}),
                json!({"halite-hello": {"old": "1.0-1", "new": "1.1-1"}}),
            ),
            (
                "installed",
                "halite-hello",
                json!({"version": "1.0-1"}),
                json!({"halite-hello": {"old": "1.1-1", "new": "1.0-1"}}),
            ),
            (
                "installed",
                "x",
                json!({"pkgs": ["halite-hello", "halite-other"], "hold": true}),
                json!({"halite-hello": {"hold": {"old": "", "new": "hold"}}, "halite-other": {"old": "", "new": "2.0-1", "hold": {"old": "", "new": "hold"}}}),
            ),
            (
                "installed",
                "halite-hello",
                json!({"hold": false}),
                json!({"halite-hello": {"hold": {"old": "hold", "new": ""}}}),
            ),
            (
                "removed",
                "halite-other",
                json!({}),
                json!({"halite-other": {"old": "2.0-1", "new": ""}}),
            ),
            (
                "purged",
                "x",
                json!({"pkgs": ["halite-hello", "nosuch"]}),
                json!({"halite-hello": {"old": "1.0-1", "new": ""}}),
            ),
        ];
        for (function, name, args, changes) in cases {
            let s = on("dnf", function, name, args.clone());
            let (p, a, again) = converge(&*s);
            assert!(!p.is_noop(), "{function} {args}: {p:?}");
            assert!(a.result, "{function} {args}: {a:?}");
            assert_eq!(Value::Object(a.changes), changes, "{function} {args}");
            assert!(again.is_noop(), "{function} {args}: {again:?}");
        }
    }
}
