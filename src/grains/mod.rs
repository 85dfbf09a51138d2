//! Grains: facts about a host, gathered in ONE remote `sh` invocation (no
//! Python on targets), merged under the inventory's static grains, and cached
//! on the controller with a TTL.
//!
//! The split of work is deliberate: `grains.sh` only collects raw facts
//! (files, command outputs) and tolerates any of them being missing; [`parse`]
//! turns them into Salt's grain names and types. Salt's own rules (how
//! `/etc/os-release` maps to `os`/`os_family`, how `num_cpus` is counted, ...)
//! therefore live in Rust, where canned outputs from many platforms can test
//! them without those platforms.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map};

use crate::cache_file::host_file_name;

mod system;
use crate::Value;

#[derive(Debug, thiserror::Error)]
pub enum GrainsError {
    #[error("cannot parse grains from {id}: {reason}")]
    Parse { id: String, reason: String },
}

/// The Salt release halite's state and template semantics follow.
pub const SALT_VERSION: (&str, [u32; 2]) = ("3008.3", [3008, 3]);

/// The probe script; see its header for the output format.
const SCRIPT: &str = include_str!("grains.sh");

/// Output format version printed by the script; bump both together.
const FORMAT_VERSION: &str = "1";

/// The script that prints a host's grains.
pub fn gather_script() -> &'static str {
    SCRIPT
}

/// Turn the script's stdout into grains for host `id`.
pub fn parse(id: &str, stdout: &str) -> Result<Value, GrainsError> {
    let facts = Facts::read(stdout);
    match facts.one("halite_grains") {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(GrainsError::Parse {
                id: id.to_string(),
                reason: format!("probe output format {v}, expected {FORMAT_VERSION}"),
            })
        }
        None => {
            return Err(GrainsError::Parse {
                id: id.to_string(),
                reason: "the output is not from the grains probe (no header line)".into(),
            })
        }
    }
    let mut g = Map::new();
    g.insert("id".into(), json!(id));
    kernel_grains(&facts, &mut g);
    host_grains(&facts, &mut g);
    os_grains(&facts, &mut g);
    cpu_grains(&facts, &mut g);
    mem_grains(&facts, &mut g);
    net_grains(&facts, &mut g);
    g.insert("init".into(), json!(init_system(&facts)));
    let pkg = pkg_manager(
        &facts,
        g["os"].as_str().unwrap_or(""),
        g["os_family"].as_str().unwrap_or(""),
    );
    g.insert("pkg_manager".into(), json!(pkg));
    g.insert("container_engine".into(), json!(container_engine(&facts)));
    let (virt, subtype) = virtual_grains(&facts, &g);
    g.insert("virtual".into(), json!(virt));
    if let Some(s) = subtype {
        g.insert("virtual_subtype".into(), json!(s));
    }
    hardware_grains(&facts, &mut g);
    user_grains(&facts, &mut g);
    system::system_grains(&facts, &mut g);
    // The Salt release whose semantics halite follows: formulas branch on
    // it (`grains.saltversioninfo >= [3000]`) to pick today's syntax.
    g.insert("saltversion".into(), json!(SALT_VERSION.0));
    g.insert("saltversioninfo".into(), json!(SALT_VERSION.1));
    Ok(Value::Object(g))
}

/// Gathered grains with the inventory's static grains laid over them.
///
/// Like Salt's roster grains, a static key replaces the gathered one whole
/// (no deep merge): an inventory that sets `roles` means exactly those roles.
pub fn merge_static(gathered: Value, static_grains: &Value) -> Value {
    let mut g = gathered;
    if let (Value::Object(g), Value::Object(s)) = (&mut g, static_grains) {
        for (k, v) in s {
            g.insert(k.clone(), v.clone());
        }
    }
    g
}

/// Controller-side cache of gathered grains, one JSON file per host.
///
/// Each file records the host id and the time of gathering next to the
/// grains, so a file renamed or copied by hand is never served for another
/// host or as fresher than it is.
#[derive(Debug, Clone)]
pub struct GrainCache {
    pub dir: PathBuf,
    pub ttl: Duration,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    id: String,
    /// Seconds since the Unix epoch.
    gathered_at: u64,
    grains: Value,
}

impl GrainCache {
    pub fn new(dir: PathBuf, ttl: Duration) -> Self {
        GrainCache { dir, ttl }
    }

    /// Cached gathered grains for `id`, if younger than the TTL.
    pub fn get(&self, id: &str) -> Option<Value> {
        let text = std::fs::read(self.path(id)).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&text).ok()?;
        if entry.id != id {
            return None;
        }
        let now = now_secs()?;
        // A timestamp from the future (clock stepped back) is not trusted.
        let age = now.checked_sub(entry.gathered_at)?;
        (Duration::from_secs(age) < self.ttl).then_some(entry.grains)
    }

    /// Store gathered grains for `id` (atomically, owner-only: grains
    /// include serial numbers and machine ids).
    pub fn put(&self, id: &str, grains: &Value) -> std::io::Result<()> {
        let entry = CacheEntry {
            id: id.to_string(),
            gathered_at: now_secs().unwrap_or(0),
            grains: grains.clone(),
        };
        let data = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        crate::cache_file::write_private(&self.dir, &format!("{}.json", host_file_name(id)), &data)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.json", host_file_name(id)))
    }
}

fn now_secs() -> Option<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The probe's output: fact name to its lines, in order.
struct Facts {
    map: BTreeMap<String, Vec<String>>,
}

impl Facts {
    fn read(stdout: &str) -> Facts {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in stdout.lines() {
            if let Some(key) = line.strip_prefix('@') {
                map.entry(key.to_string()).or_default();
                current = Some(key.to_string());
            } else if let (Some(text), Some(key)) = (line.strip_prefix(' '), &current) {
                map.entry(key.clone()).or_default().push(text.to_string());
            }
        }
        Facts { map }
    }

    fn lines(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first line of a fact, trimmed; `None` when absent or empty.
    fn one(&self, key: &str) -> Option<&str> {
        self.lines(key)
            .first()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
}

fn kernel_grains(f: &Facts, g: &mut Map<String, Value>) {
    let kernel = f.one("kernel").unwrap_or("");
    g.insert("kernel".into(), json!(kernel));
    g.insert(
        "kernelrelease".into(),
        json!(f.one("kernelrelease").unwrap_or("")),
    );
    g.insert(
        "kernelversion".into(),
        json!(f.one("kernelversion").unwrap_or("")),
    );
    let cpuarch = f.one("cpuarch").unwrap_or("");
    g.insert("cpuarch".into(), json!(cpuarch));
    let osarch = f
        .one("dpkg_arch")
        .or_else(|| f.one("rpm_arch"))
        .unwrap_or(cpuarch);
    g.insert("osarch".into(), json!(osarch));
}

/// Salt's hostname grains: `fqdn` from the resolver, `host`/`domain` split
/// from it, `localhost` the plain host name, `nodename` uname's.
fn host_grains(f: &Facts, g: &mut Map<String, Value>) {
    let nodename = f.one("nodename").unwrap_or("");
    let localhost = f.one("hostname").unwrap_or(nodename);
    let fqdn = match f.one("hostname_f") {
        // `hostname -f` answers "localhost" when /etc/hosts maps the name
        // oddly; the plain name is the better answer then.
        Some(h)
            if !h.contains(char::is_whitespace)
                && (!h.starts_with("localhost") || localhost.starts_with("localhost")) =>
        {
            h
        }
        _ => localhost,
    };
    let fqdn = if fqdn.is_empty() {
        "localhost.localdomain"
    } else {
        fqdn
    };
    let (host, domain) = fqdn.split_once('.').unwrap_or((fqdn, ""));
    g.insert("nodename".into(), json!(nodename));
    g.insert("localhost".into(), json!(localhost));
    g.insert("fqdn".into(), json!(fqdn));
    g.insert("host".into(), json!(host));
    g.insert("domain".into(), json!(domain));
}

/// `/etc/os-release` as Salt's parser reads it: `KEY=value`, one level of
/// quotes stripped, backslash escapes of `$"'\`` undone.
fn parse_os_release(lines: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in lines {
        let line = line.trim();
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let v = v.strip_prefix(['"', '\'']).unwrap_or(v);
        let v = v.strip_suffix(['"', '\'']).unwrap_or(v);
        let mut out = String::with_capacity(v.len());
        let mut chars = v.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(&n) = chars.peek() {
                    if matches!(n, '$' | '"' | '\'' | '\\' | '`') {
                        out.push(n);
                        chars.next();
                        continue;
                    }
                }
            }
            out.push(c);
        }
        m.insert(k.to_string(), out);
    }
    m
}

/// `/etc/lsb-release`, as Salt's `_LSB_REGEX` accepts it.
fn parse_lsb_release(lines: &[String]) -> BTreeMap<String, String> {
    static RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"^(DISTRIB_(?:ID|RELEASE|CODENAME|DESCRIPTION))=(?:'|")?([\w\s.\-_]+)(?:'|")?"#,
        )
        .expect("valid regex")
    });
    let mut m = BTreeMap::new();
    for line in lines {
        if let Some(c) = RE.captures(line) {
            m.insert(
                format!("lsb_{}", c[1].to_ascii_lowercase()),
                c[2].trim_end().to_string(),
            );
        }
    }
    m
}

/// Salt's `_OS_NAME_MAP`: first ten characters of the cleaned-up distribution
/// name (no spaces, lower case) to the traditional `os` grain.
const OS_NAME_MAP: &[(&str, &str)] = &[
    ("redhatente", "RedHat"),
    ("gentoobase", "Gentoo"),
    ("archarm", "Arch ARM"),
    ("arch", "Arch"),
    ("debian", "Debian"),
    ("raspbian", "Raspbian"),
    ("fedoraremi", "Fedora"),
    ("chapeau", "Chapeau"),
    ("korora", "Korora"),
    ("amazonami", "Amazon"),
    ("alt", "ALT"),
    ("enterprise", "OEL"),
    ("oracleserv", "OEL"),
    ("cloudserve", "CloudLinux"),
    ("cloudlinux", "CloudLinux"),
    ("almalinux", "AlmaLinux"),
    ("pidora", "Fedora"),
    ("scientific", "ScientificLinux"),
    ("synology", "Synology"),
    ("nilrt", "NILinuxRT"),
    ("poky", "Poky"),
    ("manjaro", "Manjaro"),
    ("manjarolin", "Manjaro"),
    ("univention", "Univention"),
    ("antergos", "Antergos"),
    ("sles", "SUSE"),
    ("void", "Void"),
    ("slesexpand", "RES"),
    ("linuxmint", "Mint"),
    ("neon", "KDE neon"),
    ("pop", "Pop"),
    ("rocky", "Rocky"),
    ("alibabaclo", "Alinux"),
    ("mendel", "Mendel"),
];

/// Salt's `_OS_FAMILY_MAP`: `os` grain to `os_family`.
const OS_FAMILY_MAP: &[(&str, &str)] = &[
    ("Ubuntu", "Debian"),
    ("Fedora", "RedHat"),
    ("Chapeau", "RedHat"),
    ("Korora", "RedHat"),
    ("FedBerry", "RedHat"),
    ("CentOS", "RedHat"),
    ("CentOS Stream", "RedHat"),
    ("GoOSe", "RedHat"),
    ("Scientific", "RedHat"),
    ("Amazon", "RedHat"),
    ("CloudLinux", "RedHat"),
    ("AlmaLinux", "RedHat"),
    ("OVS", "RedHat"),
    ("OEL", "RedHat"),
    ("XCP", "RedHat"),
    ("XCP-ng", "RedHat"),
    ("XenServer", "RedHat"),
    ("RES", "RedHat"),
    ("Sangoma", "RedHat"),
    ("VMware Photon OS", "RedHat"),
    ("Mandrake", "Mandriva"),
    ("Mint", "Debian"),
    ("VMwareESX", "VMware"),
    ("Bluewhite64", "Bluewhite"),
    ("Slamd64", "Slackware"),
    ("SLES", "Suse"),
    ("SUSE Enterprise Server", "Suse"),
    ("SLED", "Suse"),
    ("openSUSE", "Suse"),
    ("SUSE", "Suse"),
    ("openSUSE Leap", "Suse"),
    ("openSUSE Tumbleweed", "Suse"),
    ("SLES_SAP", "Suse"),
    ("Arch ARM", "Arch"),
    ("Manjaro", "Arch"),
    ("Manjaro ARM", "Arch"),
    ("Antergos", "Arch"),
    ("EndeavourOS", "Arch"),
    ("ALT", "RedHat"),
    ("Trisquel", "Debian"),
    ("GCEL", "Debian"),
    ("Linaro", "Debian"),
    ("elementary OS", "Debian"),
    ("elementary", "Debian"),
    ("Univention", "Debian"),
    ("ScientificLinux", "RedHat"),
    ("Raspbian", "Debian"),
    ("Devuan", "Debian"),
    ("antiX", "Debian"),
    ("Kali", "Debian"),
    ("Parrot OS", "Debian"),
    ("neon", "Debian"),
    ("Cumulus", "Debian"),
    ("Deepin", "Debian"),
    ("NILinuxRT", "NILinuxRT"),
    ("KDE neon", "Debian"),
    ("Void", "Void"),
    ("IDMS", "Debian"),
    ("Funtoo", "Gentoo"),
    ("TurnKey", "Debian"),
    ("Pop", "Debian"),
    ("Rocky", "RedHat"),
    ("AstraLinuxCE", "Debian"),
    ("AstraLinuxSE", "Debian"),
    ("Alinux", "RedHat"),
    ("Mendel", "Debian"),
    ("OSMC", "Debian"),
];

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Salt's `_derive_os_grain`: the `os` grain from os-release NAME and ID.
fn derive_os(name: &str, id: &str) -> String {
    match (id, name) {
        ("astra", "Astra Linux (Orel)") => return "AstraLinuxCE".into(),
        ("astra", "Astra Linux (Smolensk)") => return "AstraLinuxSE".into(),
        ("pop", "Pop!_OS") => return "Pop".into(),
        _ => {}
    }
    static LINUX: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?i)\W(?:gnu/)?linux").expect("valid regex"));
    let distro = LINUX.replace_all(name, "").trim().to_string();
    let short: String = distro
        .replace(' ', "")
        .to_lowercase()
        .chars()
        .take(10)
        .collect();
    lookup(OS_NAME_MAP, &short)
        .map(str::to_string)
        .unwrap_or(distro)
}

/// Salt's `_family_id`: the oldest ancestor named by ID_LIKE.
fn family_id(id: &str, id_like: &str) -> String {
    let ids: Vec<&str> = std::iter::once(id)
        .chain(id_like.split_whitespace())
        .collect();
    if id_like.trim().is_empty() {
        return id.to_string();
    }
    if ids.contains(&"debian") || ids.contains(&"ubuntu") {
        return "debian".into();
    }
    ids.last().copied().unwrap_or(id).to_string()
}

fn prettify_family(family_id: &str) -> String {
    if family_id == "fedora" {
        return "RedHat".into();
    }
    let mut c = family_id.chars();
    match c.next() {
        Some(first) => first
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The text inside the first `(...)`, e.g. the codename in `9.3 (Plow)`.
fn in_parens(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once('(')?;
    let (inner, _) = rest.split_once(')')?;
    Some(inner)
}

/// Distribution grains, following Salt's legacy path (the one Salt's onedir
/// packages take, as they lack the `lsb_release` Python module): os-release
/// gives `os` and `osfullname`; `/etc/lsb-release` (or os-release again)
/// gives the release and codename; `os_family` comes from Salt's map.
///
/// On Debian this makes `osrelease` "12" (VERSION_ID), not the point
/// release in /etc/debian_version, exactly as Salt 3006/3007 report it.
fn os_grains(f: &Facts, g: &mut Map<String, Value>) {
    let kernel = f.one("kernel").unwrap_or("");
    let has_os_release = f.has("os_release");
    let mut osr = parse_os_release(f.lines("os_release"));
    for (k, v) in [("NAME", "Linux"), ("ID", "linux"), ("PRETTY_NAME", "Linux")] {
        osr.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    let get = |k: &str| osr.get(k).map(String::as_str).unwrap_or("");

    let mut lsb = parse_lsb_release(f.lines("lsb_release"));
    let lsb_from_file = lsb.contains_key("lsb_distrib_id");
    let mut os = derive_os(get("NAME"), get("ID"));
    let mut osfullname = get("NAME").trim().to_string();
    if !lsb_from_file && has_os_release {
        lsb.insert("lsb_distrib_id".into(), get("NAME").trim().to_string());
        if let Some(v) = osr.get("VERSION_ID") {
            lsb.insert("lsb_distrib_release".into(), v.clone());
        }
        if let Some(v) = osr.get("VERSION_CODENAME") {
            lsb.insert("lsb_distrib_codename".into(), v.clone());
        } else if let Some(v) = osr.get("PRETTY_NAME") {
            lsb.insert("lsb_distrib_codename".into(), v.clone());
        }
        // SUSE is recognised by the vendor in CPE_NAME.
        let cpe: Vec<&str> = get("CPE_NAME").split(':').collect();
        let vendor = match cpe.as_slice() {
            ["cpe", part, vendor, ..] if part.starts_with('/') => *vendor,
            ["cpe", "2.3", _, vendor, ..] => *vendor,
            _ => "",
        };
        if matches!(vendor.to_ascii_lowercase().as_str(), "suse" | "opensuse") {
            os = "SUSE".into();
            if get("NAME") == "openSUSE Leap" {
                osfullname = "Leap".into();
            } else if get("VERSION") == "Tumbleweed" {
                osfullname = "Tumbleweed".into();
            }
        }
    }

    let mut osrelease = lsb
        .get("lsb_distrib_release")
        .cloned()
        .or_else(|| osr.get("VERSION_ID").cloned())
        .unwrap_or_default();
    // CentOS's os-release has no minor release; its own file does.
    if get("ID") == "centos" && !osrelease.contains('.') {
        static REL: LazyLock<regex::Regex> =
            LazyLock::new(|| regex::Regex::new(r"\d+\.\d+(?:\.\d+)?").expect("valid regex"));
        if let Some(m) = f.one("redhat_release").and_then(|l| REL.find(l)) {
            osrelease = m.as_str().to_string();
        }
    }

    // Hosts without os-release: old releases and minimal images.
    if !has_os_release {
        if let Some(v) = f.one("debian_version") {
            os = "Debian".into();
            osfullname = "Debian".into();
            osrelease = v.to_string();
        } else if let Some(v) = f.one("alpine_release") {
            os = "Alpine".into();
            osfullname = "Alpine Linux".into();
            osrelease = v.to_string();
        } else if let Some(line) = f.one("redhat_release") {
            if let Some((name, rest)) = line.split_once(" release ") {
                os = derive_os(name, "");
                osfullname = name.trim().to_string();
                osrelease = rest.split_whitespace().next().unwrap_or("").to_string();
            }
        } else if !kernel.is_empty() && kernel != "Linux" {
            os = kernel.to_string();
            osfullname = kernel.to_string();
        }
    }

    let mut codename = lsb
        .get("lsb_distrib_codename")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if matches!(os.as_str(), "Rocky" | "AlmaLinux") {
        if let Some(inner) = in_parens(&codename) {
            codename = inner.to_string();
        }
    }
    if codename.is_empty() || codename.contains("Red Hat") {
        // The `distro` library's codename: VERSION_CODENAME, UBUNTU_CODENAME,
        // or VERSION's parentheses, the first key present (Fedora's empty
        // VERSION_CODENAME wins over "39 (Container Image)").
        codename = match osr.get("VERSION_CODENAME").or(osr.get("UBUNTU_CODENAME")) {
            Some(c) => c.trim().to_string(),
            None => in_parens(get("VERSION")).unwrap_or("").to_string(),
        };
    }

    let os_family = if !has_os_release && !kernel.is_empty() && kernel != "Linux" && os == kernel {
        match kernel {
            "FreeBSD" | "OpenBSD" | "NetBSD" => kernel.to_string(),
            "Darwin" => "MacOS".into(),
            _ => "Unknown".into(),
        }
    } else if let Some(fam) = lookup(OS_FAMILY_MAP, &os) {
        fam.to_string()
    } else if !get("ID_LIKE").trim().is_empty() {
        // Not in Salt's map (Salt would answer `os` itself): the ancestor the
        // distribution declares is the more useful family.
        prettify_family(&family_id(get("ID"), get("ID_LIKE")))
    } else {
        os.clone()
    };

    g.insert("os".into(), json!(os));
    g.insert("os_family".into(), json!(os_family));
    g.insert("osfullname".into(), json!(osfullname));
    g.insert("oscodename".into(), json!(codename));
    g.insert("osrelease".into(), json!(osrelease));
    for (k, v) in lsb {
        g.insert(k, json!(v));
    }
    if !osrelease.is_empty() {
        let info: Vec<Value> = osrelease
            .split('.')
            .map(|p| match p.parse::<u64>() {
                Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => json!(n),
                _ => json!(p),
            })
            .collect();
        if let Some(major) = info.first().and_then(Value::as_u64) {
            g.insert("osmajorrelease".into(), json!(major));
        }
        let name = if matches!(
            os.as_str(),
            "Debian" | "FreeBSD" | "OpenBSD" | "NetBSD" | "Mac" | "Raspbian"
        ) {
            os.clone()
        } else {
            osfullname.clone()
        };
        let version = if matches!(os.as_str(), "Ubuntu" | "Pop") {
            osrelease.clone()
        } else {
            match &info[0] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            }
        };
        g.insert("osfinger".into(), json!(format!("{name}-{version}")));
        g.insert("osrelease_info".into(), Value::Array(info));
    }
}

/// `num_cpus`, `cpu_model`, `cpu_flags` from /proc/cpuinfo, walking the lines
/// in order exactly as Salt's `_linux_cpudata` does (ARM and s390 included).
fn cpu_grains(f: &Facts, g: &mut Map<String, Value>) {
    let mut num: u64 = 0;
    let mut model: Option<String> = None;
    let mut flags: Vec<String> = Vec::new();
    for line in f.lines("cpuinfo") {
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let (key, val) = (key.trim(), val.trim());
        match key {
            "processor" => num += 1,
            "# processors" => num = val.parse().unwrap_or(num),
            "vendor_id" | "model name" | "cpu" => model = Some(val.to_string()),
            "flags" | "Features" => flags = val.split_whitespace().map(String::from).collect(),
            "Processor" => {
                model = Some(val.split('-').next().unwrap_or(val).to_string());
                num = 1;
            }
            _ => {}
        }
    }
    g.insert("num_cpus".into(), json!(num));
    g.insert(
        "cpu_model".into(),
        json!(model.unwrap_or_else(|| "Unknown".into())),
    );
    g.insert("cpu_flags".into(), json!(flags));
}

/// `mem_total` and `swap_total` in MiB, floored, as Salt does.
fn mem_grains(f: &Facts, g: &mut Map<String, Value>) {
    let mut mem = 0u64;
    let mut swap = 0u64;
    for line in f.lines("meminfo") {
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let kib: u64 = val
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match key.trim() {
            "MemTotal" => mem = kib / 1024,
            "SwapTotal" => swap = kib / 1024,
            _ => {}
        }
    }
    g.insert("mem_total".into(), json!(mem));
    g.insert("swap_total".into(), json!(swap));
}

/// Addresses per interface, from `ip -o addr`, multi-line `ip addr`, either
/// `ifconfig` format, or the kernel's fib_trie and if_inet6 tables.
#[derive(Default)]
struct Addrs {
    v4: BTreeMap<String, Vec<IpAddr>>,
    v6: BTreeMap<String, Vec<IpAddr>>,
    loose_v4: Vec<IpAddr>,
}

impl Addrs {
    fn add(&mut self, iface: Option<&str>, addr: IpAddr) {
        let Some(iface) = iface else {
            self.loose_v4.push(addr);
            return;
        };
        let list = if addr.is_ipv4() {
            self.v4.entry(iface.to_string()).or_default()
        } else {
            self.v6.entry(iface.to_string()).or_default()
        };
        if !list.contains(&addr) {
            list.push(addr);
        }
    }
}

fn parse_ip_lines(lines: &[String], addrs: &mut Addrs) {
    let mut iface: Option<String> = None;
    for line in lines {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            // `2: eth0@if3: <...>` / `1: lo    inet ...` / `eth0: flags=` / `eth0  Link encap`
            let name = if tokens[0].ends_with(':')
                && tokens[0]
                    .trim_end_matches(':')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                tokens.get(1).copied().unwrap_or("")
            } else {
                tokens[0]
            };
            let name = name.trim_end_matches(':');
            let name = name.split('@').next().unwrap_or(name);
            iface = (!name.is_empty()).then(|| name.to_string());
        }
        for (i, t) in tokens.iter().enumerate() {
            let v6 = match *t {
                "inet" => false,
                "inet6" => true,
                _ => continue,
            };
            let mut raw = tokens.get(i + 1).copied().unwrap_or("");
            if raw == "addr:" {
                raw = tokens.get(i + 2).copied().unwrap_or("");
            }
            let raw = raw.strip_prefix("addr:").unwrap_or(raw);
            let raw = raw.split('/').next().unwrap_or(raw);
            let raw = raw.split('%').next().unwrap_or(raw);
            match raw.parse::<IpAddr>() {
                Ok(a) if a.is_ipv6() == v6 => addrs.add(iface.as_deref(), a),
                _ => {}
            }
        }
    }
}

fn parse_fib_trie(lines: &[String], addrs: &mut Addrs) {
    let mut last: Option<IpAddr> = None;
    for line in lines {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ").or_else(|| t.strip_prefix("+-- ")) {
            last = a.split('/').next().and_then(|a| a.parse().ok());
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                if !addrs.loose_v4.contains(&a) {
                    addrs.loose_v4.push(a);
                }
            }
        }
    }
}

fn parse_if_inet6(lines: &[String], addrs: &mut Addrs) {
    for line in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(iface)) = (cols.first(), cols.last()) else {
            continue;
        };
        if hex.len() != 32 || cols.len() < 6 {
            continue;
        }
        if let Ok(n) = u128::from_str_radix(hex, 16) {
            addrs.add(Some(iface), IpAddr::V6(Ipv6Addr::from(n)));
        }
    }
}

fn net_grains(f: &Facts, g: &mut Map<String, Value>) {
    let mut addrs = Addrs::default();
    parse_ip_lines(f.lines("ipaddr"), &mut addrs);
    parse_fib_trie(f.lines("fib_trie"), &mut addrs);
    parse_if_inet6(f.lines("if_inet6"), &mut addrs);

    let mut v4: Vec<IpAddr> = addrs.v4.values().flatten().copied().collect();
    v4.extend(addrs.loose_v4.iter().copied());
    let mut v6: Vec<IpAddr> = addrs.v6.values().flatten().copied().collect();
    for list in [&mut v4, &mut v6] {
        list.sort();
        list.dedup();
    }
    let strs =
        |l: &[IpAddr]| -> Value { json!(l.iter().map(|a| a.to_string()).collect::<Vec<_>>()) };
    g.insert("ipv4".into(), strs(&v4));
    g.insert("ipv6".into(), strs(&v6));

    let ifaces: Vec<&String> = {
        let mut n: Vec<&String> = addrs.v4.keys().chain(addrs.v6.keys()).collect();
        n.sort();
        n.dedup();
        n
    };
    let mut ip4 = Map::new();
    let mut ip6 = Map::new();
    let mut all = Map::new();
    for name in ifaces {
        let a4 = addrs.v4.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let a6 = addrs.v6.get(name).map(Vec::as_slice).unwrap_or(&[]);
        ip4.insert(name.clone(), strs(a4));
        ip6.insert(name.clone(), strs(a6));
        let both: Vec<IpAddr> = a4.iter().chain(a6).copied().collect();
        all.insert(name.clone(), strs(&both));
    }
    g.insert("ip4_interfaces".into(), Value::Object(ip4));
    g.insert("ip6_interfaces".into(), Value::Object(ip6));
    g.insert("ip_interfaces".into(), Value::Object(all));
}

/// `init`: Salt's `_linux_init_system`, and `openrc` where OpenRC runs the
/// services (booted by `openrc-init`, or by another init with OpenRC's state
/// in /run/openrc): Salt has no name for it (it says `sysvinit` or `unknown`
/// there), and halite's service backends must tell it from sysvinit.
fn init_system(f: &Facts) -> &'static str {
    if f.has("run_systemd") {
        return "systemd";
    }
    let salt = if f.has("init_cmdline") {
        salt_init(f)
    } else {
        pid1_init(f)
    };
    let openrc = f.has("openrc") || f.one("pid1_comm") == Some("openrc-init");
    match salt {
        "sysvinit" | "unknown" if openrc => "openrc",
        other => other,
    }
}

/// Salt's `_linux_init_system` past its systemd check: a `.../bin/init` is
/// named by the first of `upstart`, `sysvinit`, `systemd` its binary
/// contains; otherwise PID 1's command line names the init.
fn salt_init(f: &Facts) -> &'static str {
    let words: Vec<&str> = f
        .one("init_cmdline")
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if f.one("init_bin").is_some_and(|b| b.ends_with("bin/init")) {
        return match f.one("init_mark") {
            Some("upstart") => "upstart",
            Some("sysvinit") => "sysvinit",
            Some("systemd") => "systemd",
            _ => "unknown",
        };
    }
    let runs = |name: &str| {
        f.one(&format!("which_{name}"))
            .is_some_and(|path| words.contains(&path))
    };
    if runs("supervisord") {
        "supervisord"
    } else if runs("dumb-init") {
        "dumb-init"
    } else if runs("tini") {
        "tini"
    } else if words == ["runit"] || words.contains(&"/sbin/my_init") {
        "runit"
    } else {
        "unknown"
    }
}

/// Where PID 1's command line could not be read (no `tr`): its name alone.
fn pid1_init(f: &Facts) -> &'static str {
    match f.one("pid1_comm").unwrap_or("") {
        "systemd" => "systemd",
        "runit" | "runit-init" => "runit",
        "s6-svscan" => "s6",
        "tini" => "tini",
        "dumb-init" => "dumb-init",
        "supervisord" => "supervisord",
        "upstart" => "upstart",
        "init" if f.has("inittab") => "sysvinit",
        _ => "unknown",
    }
}

/// The `os` names Salt's yumpkg takes outside the RedHat family.
const YUM_OS: &[&str] = &[
    "amazon",
    "xcp",
    "xenserver",
    "virtuozzolinux",
    "virtuozzo",
    "issabel pbx",
    "openeuler",
    "vmware photon os",
];

/// `pkg_manager` (halite's; Salt has no such grain): the backend Salt's loader
/// would pick for `pkg`, decided as its modules' `__virtual__` do, from
/// `os_family` (aptpkg: Debian; yumpkg: RedHat and the `os` names above, with
/// dnf5/dnf, tdnf or yum by which exists; zypperpkg: Suse with zypper; pacman:
/// Arch; apk: Alpine). Never from the tools alone: a RHEL-like host may
/// carry apt-get too. dnf5 counts as `dnf`: it answers dnf's command line.
fn pkg_manager(f: &Facts, os: &str, os_family: &str) -> &'static str {
    let tools = f.lines("pkg_tools");
    let has = |t: &str| tools.iter().any(|l| l == t);
    match os_family {
        "Debian" => "apt",
        "Suse" if has("zypper") => "zypper",
        "Arch" => "pacman",
        "Alpine" => "apk",
        _ if os_family == "RedHat" || YUM_OS.contains(&os.to_lowercase().as_str()) => {
            if has("dnf5") || has("dnf") {
                "dnf"
            } else if has("tdnf") {
                "tdnf"
            } else if has("yum") {
                "yum"
            } else {
                "unknown"
            }
        }
        _ => "unknown",
    }
}

/// `container_engine`: the CLI the `docker_*` states and `docker.*` functions
/// drive (`podman` or `docker`), or `absent`. Not a Salt grain: Salt's docker
/// modules talk to dockerd's API; halite drives either engine's CLI.
fn container_engine(f: &Facts) -> &'static str {
    match f.one("container_tool").unwrap_or("") {
        "podman" => "podman",
        "docker" => "docker",
        _ => "absent",
    }
}

/// `virtual` and `virtual_subtype`. Containers are looked for first: a
/// container on a VM is described as the container, as systemd-detect-virt
/// does. Salt itself reports Podman and Docker hosts poorly (cgroup v2 hides
/// its markers); the explicit marker files are reliable.
fn virtual_grains(f: &Facts, g: &Map<String, Value>) -> (String, Option<String>) {
    let env = f.one("container_env").unwrap_or("");
    let detect = f.one("detect_virt").unwrap_or("none");
    let cgroup = f.lines("cgroup").join("\n");
    let container = |sub: &str| ("container".to_string(), Some(sub.to_string()));
    if f.has("containerenv")
        || env == "podman"
        || detect == "podman"
        || cgroup.contains(":/libpod_parent/")
    {
        return container("Podman");
    }
    if f.has("dockerenv")
        || env == "docker"
        || detect == "docker"
        || [":/docker/", ":/system.slice/docker", ":/docker-ce/"]
            .iter()
            .any(|m| cgroup.contains(m))
    {
        return container("Docker");
    }
    if env.starts_with("lxc") || detect.starts_with("lxc") || cgroup.contains(":/lxc/") {
        return container("LXC");
    }
    if env == "systemd-nspawn" || detect == "systemd-nspawn" {
        return ("systemd-nspawn".into(), None);
    }
    if cgroup.contains(":/kubepods") {
        return container("kubernetes");
    }
    if !env.is_empty() {
        return ("container".into(), None);
    }
    match f.one("openvz") {
        Some("ve") => return ("openvzve".into(), None),
        Some("hn") => return ("openvzhn".into(), None),
        _ => {}
    }
    match detect {
        "none" | "" => {}
        "qemu" | "kvm" | "oracle" | "xen" | "bochs" | "uml" | "bhyve" => {
            return (detect.into(), None)
        }
        "vmware" => return ("VMware".into(), None),
        "microsoft" => return ("VirtualPC".into(), None),
        "amazon" => return ("Nitro".into(), Some("Amazon EC2".into())),
        "parallels" => return ("Parallels".into(), None),
        "wsl" => return ("container".into(), Some("WSL".into())),
        other => return (other.into(), None),
    }
    let product = f.one("dmi_product_name").unwrap_or("");
    let vendor = f.one("dmi_sys_vendor").unwrap_or("");
    let both = format!("{vendor} {product}");
    if both.contains("VirtualBox") {
        return ("VirtualBox".into(), None);
    }
    if both.contains("VMware") {
        return ("VMware".into(), None);
    }
    if vendor.starts_with("Amazon EC2") {
        return ("Nitro".into(), Some("Amazon EC2".into()));
    }
    if vendor.starts_with("Google") || product.contains("Google") {
        return ("gce".into(), None);
    }
    if both.contains("BHYVE") {
        return ("bhyve".into(), None);
    }
    if vendor.contains("Microsoft") && product.contains("Virtual Machine") {
        return ("VirtualPC".into(), None);
    }
    if vendor.contains("Xen") {
        return ("xen".into(), None);
    }
    if ["QEMU", "KVM", "Bochs", "oVirt", "RHEV"]
        .iter()
        .any(|m| both.contains(m))
    {
        return ("kvm".into(), None);
    }
    if g.get("cpu_model")
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains("QEMU Virtual CPU"))
    {
        return ("kvm".into(), None);
    }
    ("physical".into(), None)
}

fn hardware_grains(f: &Facts, g: &mut Map<String, Value>) {
    for (grain, fact) in [
        ("manufacturer", "dmi_sys_vendor"),
        ("productname", "dmi_product_name"),
        ("boardname", "dmi_board_name"),
        ("biosvendor", "dmi_bios_vendor"),
        ("biosversion", "dmi_bios_version"),
        ("biosreleasedate", "dmi_bios_date"),
        ("serialnumber", "dmi_product_serial"),
    ] {
        if let Some(v) = f.one(fact) {
            g.insert(grain.into(), json!(v));
        }
    }
    if let Some(v) = f.one("dmi_product_uuid") {
        g.insert("uuid".into(), json!(v.to_lowercase()));
    }
    if let Some(v) = f.one("machine_id") {
        g.insert("machine_id".into(), json!(v));
    }
    let sd = f.lines("systemd_version");
    if let (Some(first), Some(features)) = (sd.first(), sd.get(1)) {
        if let Some(version) = first.split_whitespace().nth(1) {
            g.insert(
                "systemd".into(),
                json!({"version": version, "features": features.trim()}),
            );
        }
    }
}

fn user_grains(f: &Facts, g: &mut Map<String, Value>) {
    let from_status = |prefix: &str| -> Option<u64> {
        f.lines("proc_status")
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let uid = f
        .one("uid")
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| from_status("Uid:"));
    let gid = f
        .one("gid")
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| from_status("Gid:"));
    if let Some(uid) = uid {
        g.insert("uid".into(), json!(uid));
    }
    if let Some(gid) = gid {
        g.insert("gid".into(), json!(gid));
    }
    let username = f
        .one("username")
        .map(str::to_string)
        .or_else(|| (uid == Some(0)).then(|| "root".to_string()));
    if let Some(u) = username {
        g.insert("username".into(), json!(u));
    }
    if let Some(v) = f.one("groupname") {
        g.insert("groupname".into(), json!(v));
    }
    if let Some(v) = f.one("sudo_user") {
        g.insert("sudo_user".into(), json!(v));
    }
    g.insert("shell".into(), json!(f.one("shell").unwrap_or("/bin/sh")));
    let path = f.lines("path").first().cloned().unwrap_or_default();
    let systempath: Vec<&str> = path.split(':').filter(|p| !p.is_empty()).collect();
    g.insert("systempath".into(), json!(systempath));
    g.insert("path".into(), json!(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12 booted with systemd in a rootful podman container.
    const DEBIAN_PODMAN: &str = "@halite_grains
 1
@kernel
 Linux
@kernelrelease
 6.1.0-26-amd64
@kernelversion
 #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)
@cpuarch
 x86_64
@nodename
 node001
@hostname
 node001
@hostname_f
 node001.lab.example
@os_release
 PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
 NAME=\"Debian GNU/Linux\"
 VERSION_ID=\"12\"
 VERSION=\"12 (bookworm)\"
 VERSION_CODENAME=bookworm
 ID=debian
 HOME_URL=\"https://www.debian.org/\"
@debian_version
 12.7
@dpkg_arch
 amd64
@pkg_tools
 apt-get
@cpuinfo
 processor\t: 0
 vendor_id\t: GenuineIntel
 model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
 flags\t\t: fpu vme de sse sse2 avx
 processor\t: 1
 vendor_id\t: GenuineIntel
 model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
@meminfo
 MemTotal:        4026532 kB
 SwapTotal:       1048572 kB
@ipaddr
 1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
 1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
 2: eth0    inet 10.88.0.5/16 brd 10.88.255.255 scope global eth0\\       valid_lft forever preferred_lft forever
 2: eth0    inet6 fe80::a8b1:2ff:fe3c:4d5e/64 scope link \\       valid_lft forever preferred_lft forever
@if_inet6
 00000000000000000000000000000001 01 80 10 80       lo
 fe80000000000000a8b102fffe3c4d5e 02 40 20 80     eth0
@run_systemd
 1
@pid1_comm
 systemd
@systemd_version
 systemd 252 (252.30-1~deb12u2)
 +PAM +AUDIT +SELINUX -GNUTLS +OPENSSL
@containerenv
 1
@container_env
 podman
@detect_virt
 podman
@cgroup
 0::/
@machine_id
 5c2a6fb0d5a34e4f9e1c0b3b8d7a2e11
@uid
 0
@gid
 0
@username
 root
@groupname
 root
@shell
 /bin/bash
@path
 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
@end
";

    /// Ubuntu 22.04 on a KVM guest, reached as a sudo user.
    const UBUNTU_KVM: &str = "@halite_grains
 1
@kernel
 Linux
@kernelrelease
 5.15.0-91-generic
@kernelversion
 #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023
@cpuarch
 x86_64
@nodename
 web1
@hostname
 web1
@hostname_f
 web1.example.org
@os_release
 PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"
 NAME=\"Ubuntu\"
 VERSION_ID=\"22.04\"
 VERSION=\"22.04.3 LTS (Jammy Jellyfish)\"
 VERSION_CODENAME=jammy
 ID=ubuntu
 ID_LIKE=debian
 UBUNTU_CODENAME=jammy
@lsb_release
 DISTRIB_ID=Ubuntu
 DISTRIB_RELEASE=22.04
 DISTRIB_CODENAME=jammy
 DISTRIB_DESCRIPTION=\"Ubuntu 22.04.3 LTS\"
@debian_version
 bookworm/sid
@dpkg_arch
 amd64
@pkg_tools
 apt-get
@cpuinfo
 processor\t: 0
 vendor_id\t: AuthenticAMD
 model name\t: AMD EPYC 7763 64-Core Processor
 flags\t\t: fpu sse2 hypervisor
 processor\t: 1
 processor\t: 2
 processor\t: 3
@meminfo
 MemTotal:        8141088 kB
 SwapTotal:             0 kB
@ipaddr
 1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
 2: ens3    inet 192.168.122.10/24 metric 100 brd 192.168.122.255 scope global dynamic ens3\\       valid_lft 3423sec preferred_lft 3423sec
 2: ens3    inet 192.168.122.11/24 scope global secondary ens3\\       valid_lft forever preferred_lft forever
 1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
 2: ens3    inet6 2001:db8::10/64 scope global \\       valid_lft forever preferred_lft forever
@run_systemd
 1
@pid1_comm
 systemd
@detect_virt
 kvm
@dmi_sys_vendor
 QEMU
@dmi_product_name
 Standard PC (Q35 + ICH9, 2009)
@dmi_product_uuid
 4C4C4544-0042-3510-8048-B4C04F4D4C31
@machine_id
 0123456789abcdef0123456789abcdef
@uid
 0
@username
 root
@sudo_user
 deploy
@shell
 /bin/bash
@path
 /usr/sbin:/usr/bin:/sbin:/bin
@end
";

    /// Alpine 3.19 VM with OpenRC and busybox's ifconfig only.
    const ALPINE: &str = "@halite_grains
 1
@kernel
 Linux
@kernelrelease
 6.6.7-0-lts
@kernelversion
 #1-Alpine SMP PREEMPT_DYNAMIC 2023-12-13 11:21:04
@cpuarch
 aarch64
@nodename
 alp
@hostname
 alp
@hostname_f
 alp
@os_release
 NAME=\"Alpine Linux\"
 ID=alpine
 VERSION_ID=3.19.0
 PRETTY_NAME=\"Alpine Linux v3.19\"
@alpine_release
 3.19.0
@pkg_tools
 apk
@cpuinfo
 processor\t: 0
 Features\t: fp asimd evtstrm crc32
 processor\t: 1
@meminfo
 MemTotal:        1012345 kB
 SwapTotal:        524284 kB
@ipaddr
 eth0      Link encap:Ethernet  HWaddr 52:54:00:12:34:56
           inet addr:192.168.122.50  Bcast:192.168.122.255  Mask:255.255.255.0
           inet6 addr: fe80::5054:ff:fe12:3456/64 Scope:Link
           UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1
 
 lo        Link encap:Local Loopback
           inet addr:127.0.0.1  Mask:255.0.0.0
           inet6 addr: ::1/128 Scope:Host
@pid1_comm
 init
@openrc
 1
@inittab
 1
@dmi_sys_vendor
 innotek GmbH
@dmi_product_name
 VirtualBox
@uid
 1000
@gid
 1000
@username
 alice
@groupname
 alice
@shell
 /bin/ash
@path
 /usr/bin:/bin
@end
";

    /// A stripped-down host: no os-release, no ip, ifconfig, uname, id or
    /// hostname; only the kernel's own files.
    const MINIMAL: &str = "@halite_grains
 1
@kernel
 Linux
@kernelrelease
 4.19.0
@kernelversion
 #1 SMP
@nodename
 tiny
@cpuinfo
 processor\t: 0
@meminfo
 MemTotal:         262144 kB
@fib_trie
 Main:
   +-- 0.0.0.0/0 3 0 5
      |-- 10.0.0.0
         /8 link UNICAST
      |-- 10.0.0.7
         /32 host LOCAL
      |-- 127.0.0.1
         /32 host LOCAL
 Local:
   +-- 0.0.0.0/0 3 0 5
      |-- 10.0.0.7
         /32 host LOCAL
@pid1_comm
 sh
@username
 
@proc_status
 Uid:\t0\t0\t0\t0
 Gid:\t0\t0\t0\t0
@path
 /bin
@end
";

    #[test]
    fn debian_in_podman() {
        let g = parse("node001", DEBIAN_PODMAN).unwrap();
        assert_eq!(g["id"], "node001");
        assert_eq!(g["os"], "Debian");
        assert_eq!(g["os_family"], "Debian");
        assert_eq!(g["osfullname"], "Debian GNU/Linux");
        // Salt 3006/3007 report VERSION_ID on Debian, not /etc/debian_version.
        assert_eq!(g["osrelease"], "12");
        assert_eq!(g["osrelease_info"], json!([12]));
        assert_eq!(g["osmajorrelease"], 12);
        assert_eq!(g["osfinger"], "Debian-12");
        assert_eq!(g["oscodename"], "bookworm");
        assert_eq!(g["lsb_distrib_id"], "Debian GNU/Linux");
        assert_eq!(g["kernel"], "Linux");
        assert_eq!(g["kernelrelease"], "6.1.0-26-amd64");
        assert_eq!(g["cpuarch"], "x86_64");
        assert_eq!(g["osarch"], "amd64");
        assert_eq!(g["fqdn"], "node001.lab.example");
        assert_eq!(g["saltversioninfo"], json!([3008, 3]));
        assert_eq!(g["host"], "node001");
        assert_eq!(g["domain"], "lab.example");
        assert_eq!(g["nodename"], "node001");
        assert_eq!(g["num_cpus"], 2);
        assert_eq!(g["cpu_model"], "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz");
        assert_eq!(
            g["cpu_flags"],
            json!(["fpu", "vme", "de", "sse", "sse2", "avx"])
        );
        assert_eq!(g["mem_total"], 3932);
        assert_eq!(g["swap_total"], 1023);
        assert_eq!(g["ipv4"], json!(["10.88.0.5", "127.0.0.1"]));
        assert_eq!(g["ipv6"], json!(["::1", "fe80::a8b1:2ff:fe3c:4d5e"]));
        assert_eq!(g["ip4_interfaces"]["eth0"], json!(["10.88.0.5"]));
        assert_eq!(g["ip_interfaces"]["lo"], json!(["127.0.0.1", "::1"]));
        assert_eq!(g["init"], "systemd");
        assert_eq!(g["pkg_manager"], "apt");
        assert_eq!(g["virtual"], "container");
        assert_eq!(g["virtual_subtype"], "Podman");
        assert_eq!(g["machine_id"], "5c2a6fb0d5a34e4f9e1c0b3b8d7a2e11");
        assert_eq!(g["systemd"]["version"], "252");
        assert_eq!(g["uid"], 0);
        assert_eq!(g["username"], "root");
        assert_eq!(g["shell"], "/bin/bash");
        assert_eq!(g["systempath"][0], "/usr/local/sbin");
    }

    #[test]
    fn ubuntu_on_kvm() {
        let g = parse("web1", UBUNTU_KVM).unwrap();
        assert_eq!(g["os"], "Ubuntu");
        assert_eq!(g["os_family"], "Debian");
        assert_eq!(g["osrelease"], "22.04");
        assert_eq!(g["osrelease_info"], json!([22, 4]));
        assert_eq!(g["osmajorrelease"], 22);
        assert_eq!(g["osfinger"], "Ubuntu-22.04");
        assert_eq!(g["oscodename"], "jammy");
        assert_eq!(g["lsb_distrib_description"], "Ubuntu 22.04.3 LTS");
        assert_eq!(g["num_cpus"], 4);
        assert_eq!(g["swap_total"], 0);
        assert_eq!(
            g["ipv4"],
            json!(["127.0.0.1", "192.168.122.10", "192.168.122.11"])
        );
        assert_eq!(g["ipv6"], json!(["::1", "2001:db8::10"]));
        assert_eq!(g["virtual"], "kvm");
        assert!(g.get("virtual_subtype").is_none());
        assert_eq!(g["manufacturer"], "QEMU");
        assert_eq!(g["uuid"], "4c4c4544-0042-3510-8048-b4c04f4d4c31");
        assert_eq!(g["sudo_user"], "deploy");
        assert_eq!(g["username"], "root");
    }

    #[test]
    fn alpine_with_busybox_ifconfig() {
        let g = parse("alp", ALPINE).unwrap();
        assert_eq!(g["os"], "Alpine");
        assert_eq!(g["os_family"], "Alpine");
        assert_eq!(g["osfullname"], "Alpine Linux");
        assert_eq!(g["osrelease"], "3.19.0");
        assert_eq!(g["osmajorrelease"], 3);
        assert_eq!(g["osfinger"], "Alpine Linux-3");
        // Salt falls back to PRETTY_NAME when there is no codename.
        assert_eq!(g["oscodename"], "Alpine Linux v3.19");
        assert_eq!(g["osarch"], "aarch64");
        assert_eq!(g["num_cpus"], 2);
        assert_eq!(g["cpu_model"], "Unknown");
        assert_eq!(g["cpu_flags"], json!(["fp", "asimd", "evtstrm", "crc32"]));
        assert_eq!(g["ipv4"], json!(["127.0.0.1", "192.168.122.50"]));
        assert_eq!(g["ipv6"], json!(["::1", "fe80::5054:ff:fe12:3456"]));
        assert_eq!(g["ip4_interfaces"]["eth0"], json!(["192.168.122.50"]));
        assert_eq!(g["init"], "openrc");
        assert_eq!(g["pkg_manager"], "apk");
        assert_eq!(g["virtual"], "VirtualBox");
        assert_eq!(g["uid"], 1000);
        assert_eq!(g["username"], "alice");
        assert_eq!(g["fqdn"], "alp");
        assert_eq!(g["domain"], "");
    }

    #[test]
    fn minimal_host_missing_most_tools() {
        let g = parse("tiny", MINIMAL).unwrap();
        assert_eq!(g["kernel"], "Linux");
        assert_eq!(g["os"], "Linux");
        assert_eq!(g["os_family"], "Linux");
        assert_eq!(g["osrelease"], "");
        assert!(g.get("osmajorrelease").is_none());
        assert_eq!(g["host"], "tiny");
        assert_eq!(g["fqdn"], "tiny");
        assert_eq!(g["cpuarch"], "");
        assert_eq!(g["num_cpus"], 1);
        assert_eq!(g["mem_total"], 256);
        assert_eq!(g["swap_total"], 0);
        assert_eq!(g["ipv4"], json!(["10.0.0.7", "127.0.0.1"]));
        assert_eq!(g["ipv6"], json!([]));
        assert_eq!(g["init"], "unknown");
        assert_eq!(g["pkg_manager"], "unknown");
        assert_eq!(g["virtual"], "physical");
        assert_eq!(g["uid"], 0);
        assert_eq!(g["username"], "root");
        assert_eq!(g["shell"], "/bin/sh");
    }

    #[test]
    fn container_engine_is_podman_docker_or_absent() {
        let with = |tool: &str| {
            parse(
                "x",
                &format!("@halite_grains\n 1\n@container_tool\n {tool}\n"),
            )
            .unwrap()
        };
        assert_eq!(with("podman")["container_engine"], "podman");
        assert_eq!(with("docker")["container_engine"], "docker");
        assert_eq!(with("nerdctl")["container_engine"], "absent");
        assert_eq!(
            parse("node001", DEBIAN_PODMAN).unwrap()["container_engine"],
            "absent"
        );
        assert_eq!(
            parse("tiny", MINIMAL).unwrap()["container_engine"],
            "absent"
        );
    }

    fn os_of(os_release: &str) -> Value {
        let lines: String = os_release.lines().map(|l| format!(" {l}\n")).collect();
        parse("x", &format!("@halite_grains\n 1\n@os_release\n{lines}")).unwrap()
    }

    #[test]
    fn os_and_family_follow_salts_maps() {
        for (text, os, family, release, finger) in [
            (
                "NAME=\"CentOS Stream\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"",
                "CentOS Stream",
                "RedHat",
                "9",
                "CentOS Stream-9",
            ),
            (
                "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\nVERSION=\"9.3 (Plow)\"",
                "RedHat",
                "RedHat",
                "9.3",
                "Red Hat Enterprise Linux-9",
            ),
            (
                "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=39",
                "Fedora",
                "RedHat",
                "39",
                "Fedora Linux-39",
            ),
            (
                "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"",
                "Rocky",
                "RedHat",
                "9.3",
                "Rocky Linux-9",
            ),
            (
                "NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nCPE_NAME=\"cpe:/o:opensuse:leap:15.5\"",
                "SUSE",
                "Suse",
                "15.5",
                "Leap-15",
            ),
            (
                "NAME=\"Arch Linux\"\nID=arch\nPRETTY_NAME=\"Arch Linux\"",
                "Arch",
                "Arch",
                "",
                "",
            ),
            (
                "NAME=\"Linux Mint\"\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"21.2\"",
                "Mint",
                "Debian",
                "21.2",
                "Linux Mint-21",
            ),
            (
                "NAME=\"Kali GNU/Linux\"\nID=kali\nID_LIKE=debian\nVERSION_ID=\"2024.1\"",
                "Kali",
                "Debian",
                "2024.1",
                "Kali GNU/Linux-2024",
            ),
            (
                // Not in Salt's maps: the declared ancestor names the family.
                "NAME=\"Frobnix\"\nID=frobnix\nID_LIKE=\"rhel fedora\"\nVERSION_ID=1",
                "Frobnix",
                "RedHat",
                "1",
                "Frobnix-1",
            ),
        ] {
            let g = os_of(text);
            assert_eq!(g["os"], os, "{text}");
            assert_eq!(g["os_family"], family, "{text}");
            assert_eq!(g["osrelease"], release, "{text}");
            if finger.is_empty() {
                assert!(g.get("osfinger").is_none(), "{text}");
            } else {
                assert_eq!(g["osfinger"], finger, "{text}");
            }
        }
        assert_eq!(os_of("NAME=\"Red Hat Enterprise Linux\"\nID=rhel\nVERSION=\"9.3 (Plow)\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"")["oscodename"], "Plow");
        assert_eq!(
            os_of("NAME=\"Rocky Linux\"\nID=rocky\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"")
                ["oscodename"],
            "Blue Onyx"
        );
    }

    /// Salt's own grains for the platform test hosts' release files (and a
    /// few more), from tests/compat/gen_os_grains.py: each key Salt gives is
    /// equal here, and a key Salt leaves out is left out here.
    #[test]
    fn os_grains_match_salt() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/compat/os_grains.json")).unwrap();
        let facts = [
            ("os-release", "os_release"),
            ("redhat-release", "redhat_release"),
            ("debian_version", "debian_version"),
            ("alpine-release", "alpine_release"),
        ];
        for (name, case) in fixture["cases"].as_object().unwrap() {
            let mut out = String::from("@halite_grains\n 1\n@kernel\n Linux\n");
            for (file, fact) in facts {
                if let Some(text) = case["files"][file].as_str() {
                    out.push_str(&format!("@{fact}\n"));
                    for l in text.lines() {
                        out.push_str(&format!(" {l}\n"));
                    }
                }
            }
            let g = parse(name, &out).unwrap();
            for key in [
                "os",
                "os_family",
                "osfullname",
                "oscodename",
                "osrelease",
                "osrelease_info",
                "osmajorrelease",
                "osfinger",
            ] {
                assert_eq!(g.get(key), case["salt"].get(key), "{name}: {key}");
            }
        }
    }

    /// `pkg_manager` follows the family, never the tools alone: a RHEL-like
    /// host with apt-get is dnf's (yum's without dnf), a SUSE host needs zypper.
    #[test]
    fn pkg_manager_follows_the_family() {
        let host = |os_release: &str, tools: &str| {
            let mut out = String::from("@halite_grains\n 1\n@os_release\n");
            for l in os_release.lines() {
                out.push_str(&format!(" {l}\n"));
            }
            out.push_str("@pkg_tools\n");
            for t in tools.split_whitespace() {
                out.push_str(&format!(" {t}\n"));
            }
            parse("x", &out).unwrap()["pkg_manager"].clone()
        };
        let rocky = "NAME=\"Rocky Linux\"\nID=rocky\nVERSION_ID=9.3\n";
        assert_eq!(host(rocky, "apt-get dnf"), "dnf");
        assert_eq!(host(rocky, "apt-get dnf5"), "dnf");
        assert_eq!(host(rocky, "apt-get yum"), "yum");
        assert_eq!(host(rocky, "apt-get"), "unknown");
        let amazon = "NAME=\"Amazon Linux\"\nID=amzn\nVERSION_ID=2\n";
        assert_eq!(host(amazon, "yum"), "yum");
        let leap = "NAME=\"openSUSE Leap\"\nID=opensuse-leap\nVERSION_ID=15.5\n\
                    CPE_NAME=\"cpe:/o:opensuse:leap:15.5\"\n";
        assert_eq!(host(leap, "apt-get zypper"), "zypper");
        assert_eq!(host(leap, "apt-get"), "unknown");
        assert_eq!(
            host("NAME=\"Arch Linux\"\nID=arch\n", "apt-get pacman"),
            "pacman"
        );
        let debian = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=12\n";
        assert_eq!(host(debian, "apt-get dnf zypper pacman"), "apt");
        assert_eq!(host("NAME=Gentoo\nID=gentoo\n", "apt-get"), "unknown");
    }

    /// `init` as Salt reads PID 1 (its command line, the `.../bin/init`
    /// binary's contents), with `openrc` where OpenRC runs the services.
    #[test]
    fn init_as_salt_reads_pid_1() {
        let init = |facts: &str| {
            let out = format!("@halite_grains\n 1\n{facts}");
            parse("x", &out).unwrap()["init"].clone()
        };
        assert_eq!(init("@run_systemd\n 1\n@pid1_comm\n systemd\n"), "systemd");
        let sysv = "@pid1_comm\n init\n@init_cmdline\n init [2]   \n@init_bin\n /usr/sbin/init\n";
        assert_eq!(
            init(&format!("{sysv}@init_mark\n sysvinit\n@inittab\n 1\n")),
            "sysvinit"
        );
        assert_eq!(init(&format!("{sysv}@init_mark\n upstart\n")), "upstart");
        // A `.../bin/init` naming none of Salt's three is unknown to Salt.
        assert_eq!(init(&format!("{sysv}@inittab\n 1\n")), "unknown");
        // sysvinit's init running OpenRC, and OpenRC's own init.
        assert_eq!(
            init(&format!("{sysv}@init_mark\n sysvinit\n@openrc\n 1\n")),
            "openrc"
        );
        let openrc_init = "@pid1_comm\n openrc-init\n@init_cmdline\n /sbin/openrc-init \n\
                           @init_bin\n /sbin/openrc-init\n@openrc\n 1\n";
        assert_eq!(init(openrc_init), "openrc");
        let tini = "@pid1_comm\n tini\n@init_cmdline\n /usr/bin/tini -- app\n\
                    @init_bin\n /usr/bin/tini\n@which_tini\n /usr/bin/tini\n";
        assert_eq!(init(tini), "tini");
        assert_eq!(init("@pid1_comm\n runit\n@init_cmdline\n runit\n"), "runit");
        assert_eq!(
            init("@pid1_comm\n bash\n@init_cmdline\n /bin/bash\n@init_bin\n /bin/bash\n"),
            "unknown"
        );
        // Without PID 1's command line (no `tr`): its name.
        assert_eq!(init("@pid1_comm\n init\n@inittab\n 1\n"), "sysvinit");
    }

    #[test]
    fn os_release_quoting_and_escapes() {
        let m = parse_os_release(&[
            "NAME='Single'".to_string(),
            r#"PRETTY_NAME="A \"quoted\" \$name""#.to_string(),
            "# comment".to_string(),
            "BAD KEY=x".to_string(),
        ]);
        assert_eq!(m["NAME"], "Single");
        assert_eq!(m["PRETTY_NAME"], r#"A "quoted" $name"#);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn values_keep_equals_signs_at_signs_and_lines() {
        let out = "@halite_grains\n 1\n@path\n /a=b:/@c\n@systemd_version\n systemd 255 (255)\n +PAM =x\n";
        let g = parse("h", out).unwrap();
        assert_eq!(g["path"], "/a=b:/@c");
        assert_eq!(g["systemd"]["features"], "+PAM =x");
    }

    #[test]
    fn foreign_output_is_an_error() {
        assert!(parse("h", "Linux\n").is_err());
        assert!(parse("h", "@halite_grains\n 99\n").is_err());
    }

    #[test]
    fn containers_and_vms_are_told_apart() {
        let v = |facts: &str| {
            let g = parse("h", &format!("@halite_grains\n 1\n{facts}")).unwrap();
            (
                g["virtual"].as_str().unwrap().to_string(),
                g.get("virtual_subtype")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        };
        let c = |s: &str| ("container".to_string(), Some(s.to_string()));
        assert_eq!(v("@dockerenv\n 1\n"), c("Docker"));
        assert_eq!(v("@container_env\n lxc\n"), c("LXC"));
        assert_eq!(v("@cgroup\n 12:pids:/docker/abc\n"), c("Docker"));
        assert_eq!(
            v("@detect_virt\n podman\n@dmi_sys_vendor\n QEMU\n"),
            c("Podman")
        );
        assert_eq!(v("@detect_virt\n vmware\n"), ("VMware".into(), None));
        assert_eq!(
            v("@dmi_sys_vendor\n VMware, Inc.\n"),
            ("VMware".into(), None)
        );
        assert_eq!(v("@detect_virt\n none\n"), ("physical".into(), None));
    }

    #[test]
    fn ip_parser_reads_multiline_ip_addr() {
        let lines: Vec<String> = [
            "2: eth0@if5: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP",
            "    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff",
            "    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0",
            "    inet6 fe80::42:acff:fe11:2%eth0/64 scope link",
            "eth1: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500",
            "        inet 10.1.2.3  netmask 255.255.255.0  broadcast 10.1.2.255",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut a = Addrs::default();
        parse_ip_lines(&lines, &mut a);
        assert_eq!(a.v4["eth0"], vec!["172.17.0.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            a.v6["eth0"],
            vec!["fe80::42:acff:fe11:2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(a.v4["eth1"], vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn static_grains_win_at_the_top_level() {
        let merged = merge_static(
            json!({"os": "Debian", "roles": ["db"], "ipv4": ["10.0.0.1"]}),
            &json!({"roles": ["web"], "dc": "paris"}),
        );
        assert_eq!(
            merged,
            json!({"os": "Debian", "roles": ["web"], "ipv4": ["10.0.0.1"], "dc": "paris"})
        );
    }

    fn run_script(shell: &str, env_path: Option<&str>) -> String {
        let mut cmd = std::process::Command::new(shell);
        cmd.arg("-c").arg(gather_script());
        if let Some(p) = env_path {
            cmd.env_clear().env("PATH", p);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            out.stderr.is_empty(),
            "the probe must be quiet: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn script_is_valid_posix_sh() {
        for sh in ["sh", "dash", "busybox"] {
            let mut cmd = std::process::Command::new(sh);
            if sh == "busybox" {
                cmd.arg("sh");
            }
            let Ok(out) = cmd.arg("-n").arg("-c").arg(gather_script()).output() else {
                // tests/all.sh installs dash and busybox.
                crate::testing::missing_tool(&format!("{sh} is not installed"));
                continue;
            };
            assert!(out.status.success(), "{sh}: {out:?}");
        }
    }

    #[test]
    fn real_script_on_this_machine() {
        let g = parse("me", &run_script("sh", None)).unwrap();
        assert_eq!(g["id"], "me");
        if cfg!(target_os = "linux") {
            assert_eq!(g["kernel"], "Linux");
        }
        assert!(!g["os"].as_str().unwrap().is_empty());
        if std::path::Path::new("/etc/debian_version").exists() {
            assert_eq!(g["os_family"], "Debian");
            assert_eq!(g["pkg_manager"], "apt");
            assert!(g["osmajorrelease"].as_u64().unwrap() >= 10);
        }
        assert!(g["num_cpus"].as_u64().unwrap() >= 1);
        assert!(g["mem_total"].as_u64().unwrap() > 0);
        assert!(g["ipv4"].as_array().unwrap().contains(&json!("127.0.0.1")));
        assert!(!g["host"].as_str().unwrap().is_empty());
        assert!(!g["cpuarch"].as_str().unwrap().is_empty());
        assert_eq!(g["uid"].as_u64(), Some(u64::from(current_uid())));
        assert!(g["virtual"].is_string());
        let has = |tool: &str| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        };
        let engine = if has("podman") {
            "podman"
        } else if has("docker") {
            "docker"
        } else {
            "absent"
        };
        assert_eq!(g["container_engine"], engine);
    }

    /// The current uid without `unsafe`: the owner of a file we just made.
    fn current_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().metadata().unwrap().uid()
    }

    #[test]
    fn real_script_with_no_tools_at_all() {
        // Only shell builtins work: every probe must fall back quietly.
        let out = run_script("/bin/sh", Some("/nonexistent"));
        let g = parse("bare", &out).unwrap();
        assert_eq!(g["kernel"], "Linux");
        assert!(!g["nodename"].as_str().unwrap().is_empty());
        assert!(g["num_cpus"].as_u64().unwrap() >= 1);
        assert!(g["ipv4"].as_array().unwrap().contains(&json!("127.0.0.1")));
        // The os-release family decides, as Salt's loader does, tools or not.
        assert_eq!(g["pkg_manager"], "apt");
        assert!(g["uid"].is_u64());
    }

    /// The probe on a real Debian host in a throwaway podman container, with
    /// its own tools and with busybox's only (`/tmp/bb`, set up by
    /// [`busybox_in`]):
    /// `HALITE_TEST_CONTAINER=<running container> cargo test --lib -- --ignored`
    /// (tests/all.sh runs it on a fleet host).
    #[test]
    #[ignore = "needs a Debian podman container named in HALITE_TEST_CONTAINER"]
    fn probe_in_a_container() {
        let container = std::env::var("HALITE_TEST_CONTAINER")
            .expect("set HALITE_TEST_CONTAINER to a running fleet container (tests/all.sh does)");
        let exec = |prefix: &[&str]| {
            let out = std::process::Command::new("podman")
                .args(["--runtime", "runc", "exec", &container])
                .args(prefix)
                .args(["-c", gather_script()])
                .output()
                .unwrap();
            assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
            parse(&container, &String::from_utf8(out.stdout).unwrap()).unwrap()
        };
        let mut runs = vec![(exec(&["sh"]), true)];
        if busybox_in(&container) {
            runs.push((exec(&["env", "-i", "PATH=/tmp/bb", "/tmp/bb/sh"]), false));
        }
        for (g, full_path) in runs {
            assert_eq!(g["os"], "Debian");
            assert_eq!(g["os_family"], "Debian");
            assert_eq!(g["osrelease"], "12");
            assert_eq!(g["osfinger"], "Debian-12");
            assert_eq!(g["virtual"], "container");
            assert_eq!(g["virtual_subtype"], "Podman");
            assert_eq!(g["init"], "systemd");
            assert!(g["ipv4"].as_array().unwrap().len() >= 2, "{}", g["ipv4"]);
            assert!(!g["host"].as_str().unwrap().is_empty());
            assert_eq!(g["uid"], 0);
            assert_eq!(g["username"], "root");
            assert!(g["num_cpus"].as_u64().unwrap() >= 1);
            if full_path {
                assert_eq!(g["pkg_manager"], "apt");
                assert_eq!(g["osarch"], "amd64");
            }
        }
    }

    /// Whether the container has busybox's tools alone in /tmp/bb: the
    /// container's own busybox, else this machine's copied in (the fleet
    /// image has none; `fleet.sh deps` installs it on this machine).
    fn busybox_in(container: &str) -> bool {
        let podman_sh = |script: &str| {
            std::process::Command::new("podman")
                .args(["--runtime", "runc", "exec", container, "sh", "-c", script])
                .status()
                .unwrap()
                .success()
        };
        if podman_sh("test -x /tmp/bb/sh") {
            return true;
        }
        assert!(
            podman_sh("mkdir -p /tmp/bb"),
            "{container}: cannot mkdir /tmp/bb"
        );
        // Named busybox: it takes the applet to run from its own name.
        let own = podman_sh(
            "command -v busybox >/dev/null && ln -sf \"$(command -v busybox)\" /tmp/bb/busybox",
        );
        let ours = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("busybox"))
            .find(|p| p.is_file());
        let copied = !own
            && match &ours {
                Some(path) => std::process::Command::new("podman")
                    .arg("cp")
                    .arg(path)
                    .arg(format!("{container}:/tmp/bb/busybox"))
                    .status()
                    .unwrap()
                    .success(),
                None => false,
            };
        if !own && !copied {
            crate::testing::missing_tool("busybox is neither in the container nor on this machine");
            return false;
        }
        assert!(
            podman_sh("/tmp/bb/busybox --install -s /tmp/bb && test -x /tmp/bb/sh"),
            "cannot install busybox's applets in {container}:/tmp/bb"
        );
        true
    }

    #[test]
    fn cache_round_trip_and_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GrainCache::new(dir.path().join("grains"), Duration::from_secs(60));
        assert_eq!(cache.get("web1"), None);
        let g = json!({"os": "Debian"});
        cache.put("web1", &g).unwrap();
        assert_eq!(cache.get("web1"), Some(g.clone()));
        assert_eq!(cache.get("web2"), None);

        let expired = GrainCache::new(cache.dir.clone(), Duration::ZERO);
        assert_eq!(expired.get("web1"), None);

        // Unreadable content is a miss, not an error.
        std::fs::write(cache.dir.join("web1.json"), "{not json").unwrap();
        assert_eq!(cache.get("web1"), None);

        // No temp files are left behind.
        let names: Vec<String> = std::fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["web1.json".to_string()]);
    }

    #[test]
    fn cache_file_names_are_safe_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GrainCache::new(dir.path().to_path_buf(), Duration::from_secs(60));
        let ids = [
            "../etc/passwd",
            "..",
            ".",
            "a/b",
            "a_2Fb",
            "a%2Fb",
            "",
            "ü",
            &"x".repeat(400),
        ];
        for (i, id) in ids.iter().enumerate() {
            cache.put(id, &json!(i)).unwrap();
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(cache.get(id), Some(json!(i)), "{id}");
        }
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
            assert!(name.len() < 255);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), ids.len());
    }
}
