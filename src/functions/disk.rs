//! The `disk` execution module: `disk.usage`, every mounted filesystem's
//! size and use, as Salt returns it, for "which hosts are filling up?"
//! (`halite --out grouped '*' disk.usage`). One `df -P -k` per host.

use serde_json::json;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[Spec {
    name: "disk.usage",
    doc: "Every mounted filesystem's 1K-blocks, used, available and capacity, by mount point.",
    parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
        args.check("disk.usage", &[], 0)?;
        Ok(Box::new(Usage))
    },
}];

#[derive(Debug)]
struct Usage;

/// `df -P -k`'s lines as Salt's `disk.usage` dict (the mount point may
/// hold spaces: it is everything after the fifth field).
fn parse(text: &str) -> Value {
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(1) {
        let mut rest = line.trim();
        let mut f = Vec::new();
        for _ in 0..5 {
            let Some((w, r)) = rest.split_once(char::is_whitespace) else {
                break;
            };
            f.push(w);
            rest = r.trim_start();
        }
        let ([fs, blocks, used, avail, cap], false) = (f.as_slice(), rest.is_empty()) else {
            continue;
        };
        out.insert(
            rest.to_string(),
            json!({
                "filesystem": fs, "1K-blocks": blocks, "used": used,
                "available": avail, "capacity": cap,
            }),
        );
    }
    Value::Object(out)
}

impl Function for Usage {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new("LC_ALL=C df -P -k"))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            // df exits 1 when one filesystem cannot be read, and still
            // reports the others: keep them, as Salt does.
            Some(o) if o.success() || o.stdout.lines().count() > 1 => Outcome::ok(parse(&o.stdout)),
            Some(o) => Outcome::fail(Value::String(o.stderr.trim().to_string()), o.exit_code),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_df_like_salt() {
        let v = parse(
            "Filesystem     1024-blocks    Used Available Capacity Mounted on\n\
             /dev/sda1         10218772 5212820   4465444      54% /\n\
             tmpfs               819200       0    819200       0% /mnt/with space\n",
        );
        assert_eq!(v["/"]["capacity"], "54%");
        assert_eq!(v["/"]["filesystem"], "/dev/sda1");
        assert_eq!(v["/mnt/with space"]["available"], "819200");
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
