//! The grains Salt derives from the resolver, the routing table, the links,
//! the kernel command line, the block devices, the firmware and the locale:
//! `dns`, `ip4_gw`/`ip6_gw`/`ip_gw`, `hwaddr_interfaces`, `kernelparams`,
//! `disks`/`ssds`, `efi`/`efi-secure-boot`, `transactional`, `locale_info`
//! and `fqdn_ip4`/`fqdn_ip6`, with Salt 3008's rules (salt/grains/core.py,
//! extra.py, disks.py; salt/utils/dns.py). Formulas read them: hostsfile's
//! uses `fqdn_ip4`, others branch on `efi` or the locale.

use std::net::IpAddr;

use serde_json::{json, Map};

use super::Facts;
use crate::Value;

pub(super) fn system_grains(f: &Facts, g: &mut Map<String, Value>) {
    if f.has("resolv") {
        g.insert("dns".into(), dns(f.lines("resolv")));
    }
    if f.has("has_ip") {
        let v4 = gateway(f.lines("ip4_routes"));
        let v6 = gateway(f.lines("ip6_routes"));
        g.insert(
            "ip_gw".into(),
            json!(v4 != json!(false) || v6 != json!(false)),
        );
        g.insert("ip4_gw".into(), v4);
        g.insert("ip6_gw".into(), v6);
    }
    let hw: Map<String, Value> = pairs(f.lines("hwaddr"))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    g.insert("hwaddr_interfaces".into(), Value::Object(hw));
    if let Some(line) = f.one("cmdline") {
        g.insert("kernelparams".into(), kernelparams(line));
    }
    let (mut disks, mut ssds) = (Vec::new(), Vec::new());
    for (dev, flag) in pairs(f.lines("blockdev")) {
        match flag {
            "0" => ssds.push(dev),
            "1" => disks.push(dev),
            _ => {}
        }
    }
    g.insert("disks".into(), json!(disks));
    g.insert("ssds".into(), json!(ssds));
    let efi = f.has("efi");
    // The last byte of the SecureBoot variable is 1 when it is on.
    let secure = efi
        && f.one("secure_boot")
            .and_then(|b| b.split_whitespace().last())
            .is_some_and(|b| b == "1");
    g.insert("efi".into(), json!(efi));
    g.insert("efi-secure-boot".into(), json!(secure));
    g.insert("transactional".into(), json!(f.has("transactional")));
    g.insert(
        "locale_info".into(),
        locale_info(f.one("locale").unwrap_or(""), f.one("timezone")),
    );
    g.insert(
        "fqdn_ip4".into(),
        json!(resolved(f.lines("fqdn_ip4"), false)),
    );
    g.insert(
        "fqdn_ip6".into(),
        json!(resolved(f.lines("fqdn_ip6"), true)),
    );
}

/// "NAME VALUE" lines.
fn pairs(lines: &[String]) -> impl Iterator<Item = (&str, &str)> {
    lines.iter().filter_map(|l| l.split_once(' '))
}

/// salt.utils.dns.parse_resolv: nameservers (v4 and v6 apart, each once),
/// the last `domain`, the last `search`, `sortlist`, `options` (each once);
/// `#`/`;` start a comment inside a line.
fn dns(lines: &[String]) -> Value {
    let (mut ns, mut ns4, mut ns6) = (Vec::new(), Vec::new(), Vec::new());
    let (mut search, mut sortlist, mut options) = (Vec::new(), Vec::new(), Vec::new());
    let mut domain = String::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else {
            continue;
        };
        let args: Vec<&str> = words
            .take_while(|w| !w.starts_with('#') && !w.starts_with(';'))
            .collect();
        let Some(first) = args.first() else { continue };
        match directive.to_ascii_lowercase().as_str() {
            "nameserver" => {
                if let Ok(ip) = first.parse::<IpAddr>() {
                    let s = ip.to_string();
                    let list = if ip.is_ipv4() { &mut ns4 } else { &mut ns6 };
                    if !list.contains(&s) {
                        list.push(s.clone());
                    }
                    if !ns.contains(&s) {
                        ns.push(s);
                    }
                }
            }
            "domain" => domain = first.to_string(),
            "search" => search = args.iter().map(|s| s.to_string()).collect(),
            "sortlist" => {
                for a in &args {
                    if let Some(n) = sort_net(a) {
                        if !sortlist.contains(&n) {
                            sortlist.push(n);
                        }
                    }
                }
            }
            "options" if !options.contains(first) => options.push(*first),
            _ => {}
        }
    }
    json!({"nameservers": ns, "ip4_nameservers": ns4, "ip6_nameservers": ns6,
           "sortlist": sortlist, "domain": domain, "search": search, "options": options})
}

/// A sortlist entry as Python's `ip_network(..).with_netmask` prints it:
/// `ADDR/MASK` (v4 without a mask takes its class's natural mask).
fn sort_net(entry: &str) -> Option<String> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, m)) => {
            let a: std::net::Ipv4Addr = a.parse().ok()?;
            let bits = match m.parse::<u32>() {
                Ok(b) if b <= 32 => b,
                _ => u32::from(m.parse::<std::net::Ipv4Addr>().ok()?).count_ones(),
            };
            (a, bits)
        }
        None => {
            let a: std::net::Ipv4Addr = entry.parse().ok()?;
            let bits = match a.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            };
            (a, bits)
        }
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    let net = std::net::Ipv4Addr::from(u32::from(addr) & mask);
    Some(format!("{net}/{}", std::net::Ipv4Addr::from(mask)))
}

/// Salt's default_gateway: the first line starting `default`; its `via`
/// address, or `true` when it has none; `false` without one.
fn gateway(lines: &[String]) -> Value {
    for line in lines {
        if line.starts_with("default") {
            let w: Vec<&str> = line.split_whitespace().collect();
            return match (w.get(1), w.get(2)) {
                (Some(&"via"), Some(ip)) => json!(ip),
                _ => json!(true),
            };
        }
    }
    json!(false)
}

/// Salt's kernelparams: the command line split as a shell would, each word
/// `KEY=VALUE` (quotes around the value dropped) or a bare `KEY` (`null`);
/// a word with two `=` is a bare key too, as in Salt.
fn kernelparams(line: &str) -> Value {
    let words = shlex::split(line).unwrap_or_else(|| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let params: Vec<Value> = words
        .iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('=').collect();
            let value = if parts.len() == 2 {
                json!(parts[1].trim_matches('"'))
            } else {
                Value::Null
            };
            json!([parts[0], value])
        })
        .collect();
    json!(params)
}

/// Python's `locale.getlocale()` for the host's LC_ALL/LC_CTYPE/LANG, with
/// its C-locale coercion (PEP 538: C and POSIX become C.UTF-8, which
/// Python's alias table reads as en_US.UTF-8), and the time zone's name.
fn locale_info(locale: &str, timezone: Option<&str>) -> Value {
    let locale = match locale {
        "" | "C" | "POSIX" => "C.UTF-8",
        l => l,
    };
    let base = locale.split('@').next().unwrap_or(locale);
    let (lang, enc) = base.split_once('.').unwrap_or((base, ""));
    let utf8 = matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8");
    let lang = if lang == "C" { "en_US" } else { lang };
    let encoding = if utf8 {
        "UTF-8".to_string()
    } else {
        enc.to_string()
    };
    let detected = if utf8 || enc.is_empty() {
        "utf-8".to_string()
    } else {
        enc.to_ascii_lowercase()
    };
    json!({
        "defaultlanguage": lang,
        "defaultencoding": if encoding.is_empty() { Value::Null } else { json!(encoding) },
        "detectedencoding": detected,
        "timezone": timezone.unwrap_or("unknown"),
    })
}

/// The distinct addresses `getent ahostsv4/ahostsv6` printed (first column),
/// in order; v4-mapped v6 addresses are left out, as getaddrinfo without
/// AI_V4MAPPED (Python's) does.
fn resolved(lines: &[String], v6: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        let Some(Ok(ip)) = l.split_whitespace().next().map(str::parse::<IpAddr>) else {
            continue;
        };
        let keep = match ip {
            IpAddr::V4(_) => !v6,
            IpAddr::V6(a) => v6 && a.to_ipv4_mapped().is_none(),
        };
        let s = ip.to_string();
        if keep && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn resolver_file_as_salt_parses_it() {
        let d = dns(&lines(
            "# generated\nnameserver 10.0.0.1\nnameserver fd00::53 # v6\nnameserver 10.0.0.1\n\
             nameserver bogus\nsearch a.example b.example\ndomain lab.example\n\
             options ndots:2\noptions ndots:2\noptions rotate\nsortlist 130.155.160.0/255.255.240.0 130.155.0.0\n",
        ));
        assert_eq!(
            d,
            json!({"nameservers": ["10.0.0.1", "fd00::53"], "ip4_nameservers": ["10.0.0.1"],
                   "ip6_nameservers": ["fd00::53"], "domain": "lab.example",
                   "search": ["a.example", "b.example"], "options": ["ndots:2", "rotate"],
                   "sortlist": ["130.155.160.0/255.255.240.0", "130.155.0.0/255.255.0.0"]})
        );
    }

    #[test]
    fn default_gateways() {
        assert_eq!(
            gateway(&lines(
                "10.0.0.0/8 dev eth0\ndefault via 192.0.2.1 dev eth0 \n"
            )),
            json!("192.0.2.1")
        );
        assert_eq!(
            gateway(&lines("default dev ppp0 scope link\n")),
            json!(true)
        );
        assert_eq!(gateway(&lines("fe80::/64 dev eth0\n")), json!(false));
    }

    #[test]
    fn kernel_command_line() {
        assert_eq!(
            kernelparams("root=/dev/vda1 quiet init=\"/sbin/x y\" a=b=c --"),
            json!([
                ["root", "/dev/vda1"],
                ["quiet", null],
                ["init", "/sbin/x y"],
                ["a", null],
                ["--", null]
            ])
        );
    }

    #[test]
    fn locale_as_python_reads_it() {
        let l = locale_info("C.UTF-8", Some("UTC"));
        assert_eq!(l["defaultlanguage"], "en_US");
        assert_eq!(l["defaultencoding"], "UTF-8");
        assert_eq!(l["detectedencoding"], "utf-8");
        assert_eq!(l["timezone"], "UTC");
        assert_eq!(
            locale_info("de_DE.utf8@euro", None)["defaultlanguage"],
            "de_DE"
        );
        assert_eq!(locale_info("", None)["timezone"], "unknown");
    }

    #[test]
    fn resolved_addresses_skip_v4_mapped() {
        let out =
            lines("127.0.1.1 STREAM vm\n127.0.1.1 DGRAM\n::ffff:127.0.1.1 STREAM vm\n::1 RAW\n");
        assert_eq!(resolved(&out, false), vec!["127.0.1.1"]);
        assert_eq!(resolved(&out, true), vec!["::1"]);
    }
}
