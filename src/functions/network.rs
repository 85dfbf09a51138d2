//! The `network` execution module, as much of it as the mine needs most:
//! `network.ip_addrs` and `network.ip_addrs6`, a host's addresses as Salt
//! lists them (sorted, loopback left out unless asked, filtered by
//! interface glob, CIDR or public/private). One command per host: `ip -o
//! addr show` (iproute2 or BusyBox), else `ifconfig -a` (net-tools' or
//! BusyBox's two layouts); the filtering is done here, on the controller.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "network.ip_addrs",
        doc: "The host's IPv4 addresses, sorted: interface=GLOB[,..] include_loopback=False cidr=NET type=public|private.",
        parse: |args| parse("network.ip_addrs", args, Family::V4),
    },
    Spec {
        name: "network.ip_addrs6",
        doc: "The host's IPv6 addresses, sorted: interface=GLOB[,..] include_loopback=False cidr=NET.",
        parse: |args| parse("network.ip_addrs6", args, Family::V6),
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    V4,
    V6,
}

/// Salt's `type`: only for IPv4.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    Public,
    Private,
}

#[derive(Debug)]
struct IpAddrs {
    family: Family,
    /// Interface name globs; empty: every interface.
    interfaces: Vec<String>,
    include_loopback: bool,
    cidr: Option<IpNet>,
    scope: Option<Scope>,
}

/// Keyword `name`, else positional `i`.
fn arg<'a>(args: &'a Args, i: usize, name: &str) -> Option<&'a Value> {
    args.kwargs
        .get(name)
        .or_else(|| args.positional.get(i))
        .filter(|v| !v.is_null())
}

fn parse(
    function: &'static str,
    args: &Args,
    family: Family,
) -> Result<Box<dyn Function>, ArgError> {
    let names: &[&str] = match family {
        Family::V4 => &["interface", "include_loopback", "cidr", "type"],
        Family::V6 => &["interface", "include_loopback", "cidr"],
    };
    args.check(function, names, names.len())?;
    let invalid = |message: String| ArgError::Invalid { function, message };
    let interfaces = args.list(function, 0, "interface")?;
    let include_loopback = match arg(args, 1, "include_loopback") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(invalid(format!(
                "`include_loopback` must be True or False, got {v}"
            )))
        }
    };
    let cidr = match args.string(function, 2, "cidr")? {
        None => None,
        Some(text) => {
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| invalid(format!("`cidr` is not a network: `{text}`")))?;
            // Python's ip_network (strict) refuses host bits; Salt then
            // logs and lists nothing.
            if net != net.trunc() {
                return Err(invalid(format!("`cidr` `{text}` has host bits set")));
            }
            Some(net)
        }
    };
    let scope = match args.string(function, 3, "type")?.as_deref() {
        None => None,
        Some("public") => Some(Scope::Public),
        Some("private") => Some(Scope::Private),
        Some(other) => {
            return Err(invalid(format!(
                "`type` must be public or private, got `{other}`"
            )))
        }
    };
    Ok(Box::new(IpAddrs {
        family,
        interfaces,
        include_loopback,
        cidr,
        scope,
    }))
}

/// The one command: iproute2's (or BusyBox's) one-line listing, else
/// ifconfig's, announced by a first line so the parser knows which.
const SCRIPT: &str = "if command -v ip >/dev/null 2>&1; then \
echo '@@ip'; LC_ALL=C ip -o addr show; \
elif command -v ifconfig >/dev/null 2>&1; then \
echo '@@ifconfig'; LC_ALL=C ifconfig -a; \
else echo 'neither ip nor ifconfig is installed' >&2; exit 127; fi";

/// Every (interface, address) the listing shows.
fn addresses(text: &str) -> Vec<(String, IpAddr)> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("@@ip") => from_ip(lines),
        Some("@@ifconfig") => from_ifconfig(lines),
        _ => Vec::new(),
    }
}

/// An address as listed: `10.0.0.1/24`, `fe80::1%eth0/64`, `addr:10.0.0.1`.
fn address(word: &str) -> Option<IpAddr> {
    let word = word.strip_prefix("addr:").unwrap_or(word);
    let word = word.split('/').next()?;
    let word = word.split('%').next()?;
    word.parse().ok()
}

/// `2: eth0    inet 10.0.0.2/24 brd ... scope global eth0\ ...`
fn from_ip<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    for line in lines {
        let w: Vec<&str> = line.split_whitespace().collect();
        let [_, name, kind, addr, ..] = w.as_slice() else {
            continue;
        };
        if *kind != "inet" && *kind != "inet6" {
            continue;
        }
        let name = name.split('@').next().unwrap_or(name);
        if let Some(a) = address(addr) {
            out.push((name.to_string(), a));
        }
    }
    out
}

/// net-tools (`eth0: flags=...` then `inet 10.0.0.2  netmask ...`) or
/// BusyBox (`eth0      Link encap:...` then `inet addr:10.0.0.2  Bcast:...`
/// and `inet6 addr: fe80::1/64 Scope:Link`).
fn from_ifconfig<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            current = line
                .split_whitespace()
                .next()
                .map(|n| n.trim_end_matches(':').to_string());
            continue;
        }
        let Some(name) = &current else { continue };
        let w: Vec<&str> = line.split_whitespace().collect();
        let addr = match w.as_slice() {
            ["inet6", "addr:", a, ..] => address(a),
            ["inet" | "inet6", a, ..] => address(a),
            _ => None,
        };
        if let Some(a) = addr {
            out.push((name.clone(), a));
        }
    }
    out
}

/// Python's `ipaddress.IPv4Address.is_private` (3.11's list).
fn is_private_v4(a: std::net::Ipv4Addr) -> bool {
    const NETS: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/29",
        "192.0.0.170/31",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
    ];
    NETS.iter().any(|n| {
        n.parse::<ipnet::Ipv4Net>()
            .is_ok_and(|net| net.contains(&a))
    })
}

fn glob(name: &str, pattern: &str) -> bool {
    crate::target::Target::parse(
        crate::target::TargetType::Glob,
        pattern,
        &Default::default(),
    )
    .map(|t| t.matches(&crate::target::MatchCtx::new(name, &Value::Null)))
    .unwrap_or(false)
}

impl IpAddrs {
    /// Salt's answer from the listing: this family, the interfaces asked
    /// for, loopback only when asked, then the CIDR (else the scope);
    /// sorted as addresses, without repeats.
    fn select(&self, listed: &[(String, IpAddr)]) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = listed
            .iter()
            .filter(|(name, _)| {
                self.interfaces.is_empty() || self.interfaces.iter().any(|p| glob(name, p))
            })
            .map(|(_, a)| *a)
            .filter(|a| match self.family {
                Family::V4 => a.is_ipv4(),
                Family::V6 => a.is_ipv6(),
            })
            .filter(|a| self.include_loopback || !a.is_loopback())
            .filter(|a| match (&self.cidr, self.scope, a) {
                (Some(net), _, a) => net.contains(a),
                (None, Some(Scope::Private), IpAddr::V4(a)) => is_private_v4(*a),
                (None, Some(Scope::Public), IpAddr::V4(a)) => !is_private_v4(*a),
                _ => true,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Function for IpAddrs {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(SCRIPT))
    }

    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => Outcome::ok(Value::Array(
                self.select(&addresses(&o.stdout))
                    .into_iter()
                    .map(|a| Value::String(a.to_string()))
                    .collect(),
            )),
            Some(o) => Outcome::fail(Value::String(o.stderr.trim().to_string()), o.exit_code),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &str = "@@ip
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0@if7    inet 10.88.0.5/16 brd 10.88.255.255 scope global eth0\\       valid_lft forever
2: eth0    inet 8.8.4.4/32 scope global eth0:1\\       valid_lft forever
2: eth0    inet6 fe80::1c2b:3ff:fe4d:5e6f/64 scope link \\       valid_lft forever
3: wg0    inet 10.9.0.1/24 scope global wg0\\       valid_lft forever
";

    fn ips(words: &[&str], family: Family, text: &str) -> Vec<String> {
        let name = match family {
            Family::V4 => "network.ip_addrs",
            Family::V6 => "network.ip_addrs6",
        };
        let f = parse(name, &Args::from_words(words), family).unwrap();
        let out = ExecOutput {
            stdout: text.to_string(),
            stderr: String::new(),
            exit_code: Some(0),
        };
        let ctx = HostCtx {
            id: "h",
            grains: &Value::Null,
        };
        let o = f.interpret(&ctx, Some(&out));
        assert!(o.success);
        o.ret
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn ip_addrs_as_salt_lists_them() {
        assert_eq!(
            ips(&[], Family::V4, IP),
            ["8.8.4.4", "10.9.0.1", "10.88.0.5"]
        );
        assert_eq!(ips(&["eth0"], Family::V4, IP), ["8.8.4.4", "10.88.0.5"]);
        assert_eq!(ips(&["interface=e*,wg0"], Family::V4, IP).len(), 3);
        assert_eq!(
            ips(&["interface=[lo]", "include_loopback=True"], Family::V4, IP),
            ["127.0.0.1"]
        );
        assert_eq!(
            ips(&["cidr=10.0.0.0/8"], Family::V4, IP),
            ["10.9.0.1", "10.88.0.5"]
        );
        assert_eq!(ips(&["type=public"], Family::V4, IP), ["8.8.4.4"]);
        assert_eq!(
            ips(&["type=private"], Family::V4, IP),
            ["10.9.0.1", "10.88.0.5"]
        );
        assert_eq!(ips(&[], Family::V6, IP), ["fe80::1c2b:3ff:fe4d:5e6f"]);
        assert_eq!(
            ips(&["include_loopback=True"], Family::V6, IP),
            ["::1", "fe80::1c2b:3ff:fe4d:5e6f"]
        );
    }

    #[test]
    fn both_ifconfig_layouts_are_read() {
        let busybox = "@@ifconfig
eth0      Link encap:Ethernet  HWaddr 02:42:AC:11:00:02
          inet addr:172.17.0.2  Bcast:172.17.255.255  Mask:255.255.0.0
          inet6 addr: fe80::42:acff:fe11:2/64 Scope:Link
          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1

lo        Link encap:Local Loopback
          inet addr:127.0.0.1  Mask:255.0.0.0
";
        let nettools = "@@ifconfig
eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet 172.17.0.2  netmask 255.255.0.0  broadcast 172.17.255.255
        inet6 fe80::42:acff:fe11:2  prefixlen 64  scopeid 0x20<link>

lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
";
        for text in [busybox, nettools] {
            assert_eq!(ips(&[], Family::V4, text), ["172.17.0.2"]);
            assert_eq!(ips(&[], Family::V6, text), ["fe80::42:acff:fe11:2"]);
            assert_eq!(
                ips(&["include_loopback=True"], Family::V4, text),
                ["127.0.0.1", "172.17.0.2"]
            );
        }
    }

    /// BusyBox's `ip` and `ifconfig` list the same addresses, read alike.
    #[test]
    fn busybox_ip_and_ifconfig_agree() {
        let run = |args: &[&str]| {
            std::process::Command::new("busybox")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let (Some(ip), Some(ifconfig)) =
            (run(&["ip", "-o", "addr", "show"]), run(&["ifconfig", "-a"]))
        else {
            crate::testing::missing_tool("busybox ip / ifconfig cannot run");
            return;
        };
        let mut a = addresses(&format!("@@ip\n{ip}"));
        let mut b = addresses(&format!("@@ifconfig\n{ifconfig}"));
        a.sort();
        b.sort();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for words in [
            &["cidr=10.0.0.0/99"][..],
            &["cidr=10.0.0.1/8"],
            &["type=global"],
            &["include_loopback=maybe"],
            &["bogus=1"],
        ] {
            assert!(
                parse("network.ip_addrs", &Args::from_words(words), Family::V4).is_err(),
                "{words:?}"
            );
        }
        assert!(parse(
            "network.ip_addrs6",
            &Args::from_words(&["type=public"]),
            Family::V6
        )
        .is_err());
    }

    #[test]
    fn the_script_runs_in_each_shell() {
        let have = |tool: &str| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !have("ip") && !have("ifconfig") {
            crate::testing::missing_tool("neither ip nor ifconfig is installed");
            return;
        }
        for (shell, out) in crate::testing::in_each_shell(SCRIPT) {
            let first = out.lines().next().unwrap_or("");
            assert!(first == "@@ip" || first == "@@ifconfig", "{shell:?}: {out}");
            assert!(
                addresses(&out).iter().any(|(_, a)| a.is_loopback()),
                "{shell:?}: {out}"
            );
        }
    }
}
