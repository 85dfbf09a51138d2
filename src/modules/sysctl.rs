//! `sysctl.present`: a kernel parameter set in the running kernel and
//! persisted in a sysctl configuration file, as Salt's
//! `salt.states.sysctl.present` with `salt.modules.linux_sysctl.persist`
//! does it.
//!
//! The probe reads the live value (`/proc/sys/...`, what `sysctl -n`
//! prints) and the configuration file: `config`, or Salt's default
//! (`/etc/sysctl.d/99-salt.conf` where systemd >= 207 booted the host,
//! else `/etc/sysctl.conf`). The plan is Salt's `persist` on the
//! controller: the first uncommented `name = ...` line is rewritten, or
//! the line appended (a new file starts with Salt's three-line header);
//! a file already right with a wrong live value is only applied. The
//! apply makes the same edit on the file as it then is (so the states of
//! one run editing one file compose) and runs `sysctl -w`. One deliberate difference: a line is appended after a
//! final line lacking its newline on a line of its own (Salt glues it on).

use serde::Deserialize;

use super::conffile;
use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "sysctl",
    functions: &[FnDef {
        name: "present",
        doc: "Ensure the kernel parameter `name` is `value` now and in `config` (default /etc/sysctl.d/99-salt.conf under systemd).",
        args: &["value", "config"],
        build,
    }],
    ledger: &[],
};

const TAG: &str = "halite-sysctl:";
/// What Salt writes at the top of a configuration file it creates.
const HEADER: &str = "#\n# Kernel sysctl configuration\n#\n";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    value: Value,
    config: Option<String>,
}

#[derive(Debug)]
struct Sysctl {
    name: String,
    /// The value as declared (the `changes` show it so).
    value: Value,
    /// `str(value)`, as Salt writes and assigns it.
    text: String,
    config: Option<String>,
}

/// What the apply does: the new configuration file (if it changes), in
/// `config`, and the hash of the one read (`None`: there was none).
#[derive(Debug, PartialEq)]
struct Todo {
    config: String,
    write: Option<(String, Option<String>)>,
}

/// Python's `str()` of a scalar.
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        _ => None,
    }
}

fn build(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let name = chunk.name.trim().to_string();
    let ok = !name.is_empty()
        && !name.starts_with(['-', '.', '/'])
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '*'));
    if !ok || name.contains('*') {
        return Err(err(format!("`{name}` is not a sysctl parameter name")));
    }
    let text = py_str(&a.value)
        .ok_or_else(|| err(format!("value `{}` is not a string or number", a.value)))?;
    if text.contains(['\n', '\r']) {
        return Err(err("value must be one line".into()));
    }
    if let Some(c) = &a.config {
        if !c.starts_with('/') || c.contains(['\n', '\0']) {
            return Err(err(format!("config `{c}` is not an absolute path")));
        }
    }
    Ok(Box::new(Sysctl {
        name,
        value: a.value,
        text,
        config: a.config,
    }))
}

/// Salt's `_sanitize_sysctl_value`: runs of whitespace as one tab.
fn sanitize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join("\t")
}

/// What the probe found: the configuration file's path and text, and
/// the live value.
struct Found {
    config: String,
    read: conffile::Read,
    live: String,
}

fn parse(text: &str, name: &str) -> Result<Found, String> {
    let (tags, _) = super::tagged_probe(text, TAG, "the sysctl probe")?;
    let mut config = None;
    let mut live = None;
    for t in &tags {
        if let Some(c) = t.strip_prefix("config ") {
            config = Some(c.to_string());
        } else if let Some(v) = t.strip_prefix("live ") {
            let raw = data_encoding::BASE64
                .decode(v.as_bytes())
                .map_err(|e| format!("unexpected probe output: {e}"))?;
            let v = String::from_utf8_lossy(&raw);
            live = Some(v.strip_suffix('\n').unwrap_or(&v).to_string());
        } else if t == "nokey" {
            return Err(format!("sysctl {name} does not exist"));
        }
    }
    let config = config.ok_or_else(|| format!("unexpected probe output: {}", text.trim()))?;
    let (read, _) = conffile::parse(text, &format!("{TAG}f"), &config)?;
    let live = live.ok_or_else(|| format!("cannot read sysctl {name}: {}", text.trim()))?;
    Ok(Found { config, read, live })
}

impl Sysctl {
    /// Salt's `persist` without its effects: `None` when all is set,
    /// else the new file (`None`: the file stays, the value is assigned).
    fn persist(&self, old: Option<&str>, live: &str) -> Option<Option<String>> {
        let want = sanitize(&self.text);
        let old = old.unwrap_or(HEADER);
        let mut out = String::new();
        let mut edited = false;
        for line in old.split_inclusive('\n') {
            let Some((k, v)) = line.split_once('=') else {
                out.push_str(line);
                continue;
            };
            let k = k.trim();
            if k.starts_with('#') || k != self.name {
                out.push_str(line);
                continue;
            }
            if sanitize(v) == want {
                return (sanitize(live) != want).then_some(None);
            }
            out.push_str(&format!("{} = {}\n", self.name, self.text));
            edited = true;
        }
        if !edited {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{} = {}\n", self.name, self.text));
        }
        Some(Some(out))
    }

    /// Shell lines making [`Sysctl::persist`]'s edit on the file as it is
    /// when the apply runs (so that several states of one run editing one
    /// file compose, as Salt's one-after-the-other writes do): every
    /// uncommented `name = ...` line replaced, else the line appended, a
    /// missing file started with Salt's header; written atomically, keeping
    /// the file's owner and mode. On the file the probe read, the result is
    /// the plan's text exactly (tested).
    fn edit_snippet(&self, config: &str) -> String {
        format!(
            r##"c={c}
d=$(dirname -- "$c"); [ -d "$d" ] || mkdir -p -- "$d" || exit 1
tmp=$(mktemp "$d/.halite.XXXXXX") || exit 1
fail() {{ rm -f -- "$tmp"; exit 1; }}
{{ if [ -f "$c" ]; then cat -- "$c"; else printf '{header}'; fi; }} | HALITE_N={n} HALITE_L={l} awk '
{{ i = index($0, "=")
  if (i > 0) {{ k = substr($0, 1, i - 1); gsub(/^[ \t\r\f\v]+|[ \t\r\f\v]+$/, "", k)
    if (substr(k, 1, 1) != "#" && k == ENVIRON["HALITE_N"]) {{ print ENVIRON["HALITE_L"]; done = 1; next }} }}
  print }}
END {{ if (!done) print ENVIRON["HALITE_L"] }}' > "$tmp" || fail
if [ -e "$c" ]; then o=$(stat -c '%u:%g' -- "$c") && chown -- "$o" "$tmp" && m=$(stat -c '%a' -- "$c") && chmod -- "$m" "$tmp" || fail
else u=$(umask); chmod -- "$(printf %o $((0666 & ~0$u)))" "$tmp" || fail; fi
mv -f -- "$tmp" "$c" || fail
"##,
            c = quote(config),
            header = HEADER.replace('\n', "\\n"),
            n = quote(&self.name),
            l = quote(&format!("{} = {}", self.name, self.text)),
        )
    }

    /// The comment Salt's test mode gives for a change (it reads the
    /// file's keys as `sysctl.show` does).
    fn test_comment(&self, old: Option<&str>, live: &str) -> String {
        let (name, value) = (&self.name, &self.text);
        let configured = old.unwrap_or("").lines().any(|l| {
            let l = l.trim();
            !l.starts_with('#') && l.split_once('=').is_some_and(|(k, _)| k.trim_end() == name)
        });
        let squash = |s: &str| {
            s.split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        match (live.is_empty(), configured) {
            (false, false) if squash(live) == squash(value) => format!(
                "Sysctl value is currently set on the running system but not in a config file. Sysctl option {name} set to be changed to {value} in config file."
            ),
            (false, false) => format!("Sysctl option {name} set to be changed to {value}"),
            (true, true) => format!(
                "Sysctl value {name} is present in configuration file but is not present in the running config. The value {name} is set to be changed to {value}"
            ),
            _ => format!("Sysctl option {name} would be changed to {value}"),
        }
    }
}

impl StateFunction for Sysctl {
    fn probe(&self) -> String {
        let config = match &self.config {
            Some(c) => format!("c={}\n", quote(c)),
            // Salt's sysctl.default_config.
            None => "c=/etc/sysctl.conf\n\
                     if [ -d /run/systemd/system ]; then\n\
                     v=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \\([0-9]*\\).*/\\1/p')\n\
                     [ \"${v:-0}\" -ge 207 ] && c=/etc/sysctl.d/99-salt.conf\n\
                     fi\n"
                .to_string(),
        };
        format!(
            "{config}echo \"{TAG} config $c\"\n{}k=/proc/sys/$(printf '%s' {} | tr './' '/.')\n\
             if [ -f \"$k\" ]; then printf '%s live %s\\n' '{TAG}' \"$(base64 < \"$k\" | tr -d '\\n')\"\n\
             else echo '{TAG} nokey'; fi\n",
            conffile::probe("\"$c\"", &format!("{TAG}f")),
            quote(&self.name)
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse(out.text, &self.name)
            .map_err(|e| format!("Failed to set {} to {}: {e}", self.name, self.text))?;
        let old = f.read.text.as_deref();
        let Some(write) = self.persist(old, &f.live) else {
            return Ok(Plan::noop(format!(
                "Sysctl value {} = {} is already set",
                self.name, self.text
            )));
        };
        let mut changes = serde_json::Map::new();
        changes.insert(self.name.clone(), self.value.clone());
        Ok(
            Plan::change(Value::Object(changes), self.test_comment(old, &f.live)).with_data(Todo {
                config: f.config,
                write: write.map(|w| (w, f.read.sha256())),
            }),
        )
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Todo>()?;
        let mut s = String::new();
        if todo.write.is_some() {
            s.push_str(&self.edit_snippet(&todo.config));
        }
        s.push_str(&format!(
            "sysctl -w {} || exit 1\n",
            quote(&format!("{}={}", self.name, self.text))
        ));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Todo>() {
            return e.into();
        }
        let mut done = super::finish_with(
            plan,
            out,
            format!("Updated sysctl value {} = {}", self.name, self.text),
        );
        if !done.result {
            done.comment = format!(
                "Failed to set {} to {}: {}",
                self.name,
                self.text,
                out.text.trim()
            );
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("sysctl", "present", name, args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("sysctl", "present").unwrap().build)(&chunk, &ctx)
    }

    fn facts(config: Option<&str>, live: Option<&str>) -> String {
        let mut s = format!("{TAG} config /etc/sysctl.d/99-salt.conf\n");
        match config {
            None => s.push_str(&format!("{TAG}f missing\n")),
            Some(c) => s.push_str(&format!(
                "{TAG}f content\n{}\n{TAG}f end\n",
                data_encoding::BASE64.encode(c.as_bytes())
            )),
        }
        match live {
            None => s.push_str(&format!("{TAG} nokey\n")),
            Some(v) => s.push_str(&format!(
                "{TAG} live {}\n",
                data_encoding::BASE64.encode(format!("{v}\n").as_bytes())
            )),
        }
        s
    }

    fn plan(
        f: &dyn StateFunction,
        config: Option<&str>,
        live: Option<&str>,
    ) -> Result<Plan, String> {
        f.plan(Output {
            text: &facts(config, live),
            rc: 0,
        })
    }

    #[test]
    fn persist_appends_rewrites_or_only_assigns_as_salt_does() {
        let f = state("net.ipv4.ip_forward", json!({"value": 1})).unwrap();
        // No file: Salt's header, then the line.
        let p = plan(f.as_ref(), None, Some("0")).unwrap();
        assert_eq!(p.changes["net.ipv4.ip_forward"], json!(1));
        assert_eq!(
            p.comment,
            "Sysctl option net.ipv4.ip_forward set to be changed to 1"
        );
        let todo = p.data::<Todo>().unwrap();
        assert_eq!(
            todo.write,
            Some((format!("{HEADER}net.ipv4.ip_forward = 1\n"), None))
        );
        // A different value in the file: that line rewritten in place.
        let old = "# x\nnet.ipv4.ip_forward=0\nvm.swappiness = 10\n";
        let p = plan(f.as_ref(), Some(old), Some("1")).unwrap();
        let (new, sha) = p.data::<Todo>().unwrap().write.clone().unwrap();
        assert_eq!(new, "# x\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n");
        assert_eq!(sha, Some(conffile::sha256(old)));
        // Right in the file, wrong live: assigned only.
        let p = plan(f.as_ref(), Some("net.ipv4.ip_forward = 1\n"), Some("0")).unwrap();
        assert_eq!(p.data::<Todo>().unwrap().write, None);
        assert_eq!(
            p.comment,
            "Sysctl option net.ipv4.ip_forward would be changed to 1"
        );
        // Both right: nothing to do.
        let p = plan(f.as_ref(), Some("net.ipv4.ip_forward = 1\n"), Some("1")).unwrap();
        assert!(p.is_noop());
        assert_eq!(
            p.comment,
            "Sysctl value net.ipv4.ip_forward = 1 is already set"
        );
    }

    #[test]
    fn whitespace_in_values_compares_as_the_kernel_prints_it() {
        let f = state(
            "net.ipv4.tcp_rmem",
            json!({"value": "4096 87380   16777216"}),
        )
        .unwrap();
        let line = "net.ipv4.tcp_rmem = 4096 87380 16777216\n";
        assert!(plan(f.as_ref(), Some(line), Some("4096\t87380\t16777216"))
            .unwrap()
            .is_noop());
        // Set live but not in the file: Salt's own test-mode wording.
        let p = plan(f.as_ref(), Some(""), Some("4096\t87380\t16777216")).unwrap();
        assert!(
            p.comment.starts_with("Sysctl value is currently set"),
            "{}",
            p.comment
        );
        // A final line without its newline gets one before the new line.
        let p = plan(f.as_ref(), Some("a = b"), Some("1")).unwrap();
        assert_eq!(
            p.data::<Todo>().unwrap().write.as_ref().unwrap().0,
            "a = b\nnet.ipv4.tcp_rmem = 4096 87380   16777216\n"
        );
    }

    /// The apply's edit, run by `sh` on the file the probe read, gives the
    /// plan's text; on a file another state edited since, both edits stay.
    #[test]
    fn the_apply_edit_is_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("sysctl.d/99-salt.conf");
        let c = conf.display().to_string();
        let f = Sysctl {
            name: "net.ipv4.tcp_rmem".into(),
            value: json!("4096 87380"),
            text: "4096 87380".into(),
            config: Some(c.clone()),
        };
        let run = |script: String| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for old in [
            None,
            Some("# x = 1\nnet.ipv4.tcp_rmem=1 2\na = b\nnet.ipv4.tcp_rmem = 3\n"),
            Some("a = b"),
        ] {
            let _ = std::fs::remove_file(&conf);
            if let Some(o) = old {
                std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
                std::fs::write(&conf, o).unwrap();
            }
            let want = f.persist(old, "1").unwrap().unwrap();
            run(f.edit_snippet(&c));
            assert_eq!(std::fs::read_to_string(&conf).unwrap(), want, "{old:?}");
        }
        let g = Sysctl {
            name: "net.core.somaxconn".into(),
            value: json!(1024),
            text: "1024".into(),
            config: Some(c.clone()),
        };
        run(g.edit_snippet(&c));
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "a = b\nnet.ipv4.tcp_rmem = 4096 87380\nnet.core.somaxconn = 1024\n"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(state("x", json!({})).unwrap_err().contains("value"));
        assert!(state("-a", json!({"value": 1}))
            .unwrap_err()
            .contains("not a sysctl"));
        assert!(state("a b", json!({"value": 1}))
            .unwrap_err()
            .contains("not a sysctl"));
        assert!(state("a", json!({"value": [1]}))
            .unwrap_err()
            .contains("not a string"));
        assert!(state("a", json!({"value": 1, "config": "x.conf"}))
            .unwrap_err()
            .contains("absolute"));
        let f = state("net.nope", json!({"value": 1})).unwrap();
        assert_eq!(
            plan(f.as_ref(), None, None).unwrap_err(),
            "Failed to set net.nope to 1: sysctl net.nope does not exist"
        );
    }
}
