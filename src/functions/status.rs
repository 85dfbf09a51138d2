//! The `status` execution module: how a host is doing, read from `/proc`
//! in one command, in Salt's shapes: `status.uptime`, `status.loadavg`,
//! `status.meminfo`. For the quick look across a fleet before and after a
//! rollout (`halite --out grouped '*' status.loadavg`).

use serde_json::{json, Map};

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "status.uptime",
        doc: "Seconds and days since boot, and the boot time (since_t, since_iso).",
        parse: |args| proc("status.uptime", args, Kind::Uptime),
    },
    Spec {
        name: "status.loadavg",
        doc: "The 1-, 5- and 15-minute load averages.",
        parse: |args| proc("status.loadavg", args, Kind::Loadavg),
    },
    Spec {
        name: "status.meminfo",
        doc: "/proc/meminfo as a dict: {MemTotal: {value, unit}, ...}.",
        parse: |args| proc("status.meminfo", args, Kind::Meminfo),
    },
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Uptime,
    Loadavg,
    Meminfo,
}

#[derive(Debug)]
struct Proc {
    kind: Kind,
}

fn proc(function: &'static str, args: &Args, kind: Kind) -> Result<Box<dyn Function>, ArgError> {
    args.check(function, &[], 0)?;
    Ok(Box::new(Proc { kind }))
}

fn parse(kind: Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::Uptime => {
            // `UPTIME IDLE` from /proc/uptime, then the host's `date +%s`.
            let mut lines = text.lines();
            let up: f64 = lines.next()?.split_whitespace().next()?.parse().ok()?;
            let now: i64 = lines.next()?.trim().parse().ok()?;
            let since = now - up as i64;
            let iso = chrono::DateTime::from_timestamp(since, 0)?
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            Some(json!({
                "seconds": up as u64, "days": (up / 86400.0) as u64,
                "since_t": since, "since_iso": iso,
            }))
        }
        Kind::Loadavg => {
            let f: Vec<f64> = text
                .split_whitespace()
                .take(3)
                .map(|w| w.parse().ok())
                .collect::<Option<_>>()?;
            let [a, b, c] = f.as_slice() else { return None };
            Some(json!({"1-min": a, "5-min": b, "15-min": c}))
        }
        Kind::Meminfo => {
            let mut m = Map::new();
            for line in text.lines() {
                let (k, v) = line.split_once(':')?;
                let mut w = v.split_whitespace();
                let mut e = Map::new();
                e.insert("value".into(), json!(w.next()?));
                if let Some(u) = w.next() {
                    e.insert("unit".into(), json!(u));
                }
                m.insert(k.trim().to_string(), Value::Object(e));
            }
            (!m.is_empty()).then_some(Value::Object(m))
        }
    }
}

impl Function for Proc {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(match self.kind {
            Kind::Uptime => "cat /proc/uptime && date +%s",
            Kind::Loadavg => "cat /proc/loadavg",
            Kind::Meminfo => "cat /proc/meminfo",
        }))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => match parse(self.kind, &o.stdout) {
                Some(v) => Outcome::ok(v),
                None => Outcome::fail(
                    Value::String(format!("unexpected output: {}", o.stdout.trim())),
                    o.exit_code,
                ),
            },
            Some(o) => Outcome::fail(Value::String(o.stderr.trim().to_string()), o.exit_code),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_like_salt() {
        let u = parse(Kind::Uptime, "90061.5 1000.0\n1700000000\n").unwrap();
        assert_eq!(u["seconds"], 90061);
        assert_eq!(u["days"], 1);
        assert_eq!(u["since_t"], 1700000000 - 90061);
        assert_eq!(u["since_iso"], "2023-11-13T21:12:19Z");
        let l = parse(Kind::Loadavg, "0.50 0.25 0.10 1/123 4567\n").unwrap();
        assert_eq!(l, json!({"1-min": 0.5, "5-min": 0.25, "15-min": 0.1}));
        let m = parse(
            Kind::Meminfo,
            "MemTotal:       16318468 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(m["MemTotal"], json!({"value": "16318468", "unit": "kB"}));
        assert_eq!(m["HugePages_Total"], json!({"value": "0"}));
        assert!(parse(Kind::Loadavg, "garbage").is_none());
        assert!(parse(Kind::Uptime, "").is_none());
    }
}
