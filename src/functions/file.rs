//! The `file` execution module: read-only questions about a path on each
//! host, for ad-hoc probing of a fleet (`halite '*' file.get_hash
//! /etc/ssl/certs/ca.pem`): `file.file_exists`, `file.directory_exists`,
//! `file.get_hash`, `file.read`, `file.stats`. Each is one `sh` command.

use serde_json::json;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::quote::quote;
use crate::transport::{Command, ExecOutput};
use crate::Value;

/// `file.read` returns at most this much (the output travels back whole).
pub const READ_LIMIT: u64 = 1024 * 1024;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "file.file_exists",
        doc: "True when `path` is a regular file (file.file_exists /etc/hosts).",
        parse: |args| test("file.file_exists", args, "-f"),
    },
    Spec {
        name: "file.directory_exists",
        doc: "True when `path` is a directory (file.directory_exists /srv/app).",
        parse: |args| test("file.directory_exists", args, "-d"),
    },
    Spec {
        name: "file.get_hash",
        doc: "The hash of a file: form=sha256 (default), sha512, sha1 or md5 (file.get_hash /etc/passwd).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            const F: &str = "file.get_hash";
            args.check(F, &["path", "form"], 2)?;
            let path = path_arg(F, args)?;
            let form = args.string(F, 1, "form")?.unwrap_or_else(|| "sha256".into());
            let tool = match form.as_str() {
                "sha256" | "sha512" | "sha1" | "md5" => format!("{form}sum"),
                other => {
                    return Err(ArgError::Invalid {
                        function: F,
                        message: format!("form `{other}` is not one of sha256, sha512, sha1, md5"),
                    })
                }
            };
            Ok(Box::new(Hash { path, tool }))
        },
    },
    Spec {
        name: "file.read",
        doc: "The contents of a text file, at most 1 MiB (file.read /etc/os-release).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("file.read", &["path"], 1)?;
            Ok(Box::new(Read {
                path: path_arg("file.read", args)?,
            }))
        },
    },
    Spec {
        name: "file.stats",
        doc: "A path's type, size, owner, group, mode and modification time (file.stats /etc/shadow).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("file.stats", &["path"], 1)?;
            Ok(Box::new(Stats {
                path: path_arg("file.stats", args)?,
            }))
        },
    },
];

fn path_arg(function: &'static str, args: &Args) -> Result<String, ArgError> {
    let path = args.required(function, 0, "path")?;
    if !path.starts_with('/') {
        return Err(ArgError::Invalid {
            function,
            message: format!("path `{path}` is not absolute"),
        });
    }
    Ok(path)
}

fn test(
    function: &'static str,
    args: &Args,
    op: &'static str,
) -> Result<Box<dyn Function>, ArgError> {
    args.check(function, &["path"], 1)?;
    Ok(Box::new(Test {
        path: path_arg(function, args)?,
        op,
    }))
}

/// A failed command's words, as the return value.
fn failed(o: &ExecOutput) -> Outcome {
    let text = format!("{}{}", o.stdout, o.stderr);
    Outcome::fail(Value::String(text.trim().to_string()), o.exit_code)
}

#[derive(Debug)]
struct Test {
    path: String,
    op: &'static str,
}

impl Function for Test {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(format!(
            "if [ {} {} ]; then echo True; else echo False; fi",
            self.op,
            quote(&self.path)
        )))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => Outcome::ok(Value::Bool(o.stdout.trim() == "True")),
            Some(o) => failed(o),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[derive(Debug)]
struct Hash {
    path: String,
    tool: String,
}

impl Function for Hash {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new(format!(
            "h=$({} < {}) || exit 1; printf '%s\\n' \"${{h%% *}}\"",
            self.tool,
            quote(&self.path)
        )))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => Outcome::ok(Value::String(o.stdout.trim().to_string())),
            Some(o) => failed(o),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[derive(Debug)]
struct Read {
    path: String,
}

impl Function for Read {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        let p = quote(&self.path);
        Some(Command::new(format!(
            "[ -f {p} ] || {{ printf '%s: not a regular file\\n' {p} >&2; exit 1; }}\ns=$(wc -c < {p}) || exit 1\n[ \"$s\" -le {READ_LIMIT} ] || {{ printf '%s: %s bytes, over the {READ_LIMIT}-byte limit of file.read\\n' {p} \"$s\" >&2; exit 1; }}\ncat {p}"
        )))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => Outcome::ok(Value::String(o.stdout.clone())),
            Some(o) => failed(o),
            None => Outcome::fail(Value::Null, None),
        }
    }
}

#[derive(Debug)]
struct Stats {
    path: String,
}

impl Function for Stats {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        // One line: type|size|uid|gid|user|group|mode|mtime.
        Some(Command::new(format!(
            "stat -c '%F|%s|%u|%g|%U|%G|%a|%Y' -- {}",
            quote(&self.path)
        )))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        let Some(o) = out else {
            return Outcome::fail(Value::Null, None);
        };
        if !o.success() {
            return failed(o);
        }
        let f: Vec<&str> = o.stdout.trim().split('|').collect();
        let [kind, size, uid, gid, user, group, mode, mtime] = f.as_slice() else {
            return Outcome::fail(Value::String(o.stdout.trim().to_string()), o.exit_code);
        };
        let num = |s: &str| s.parse::<u64>().map(Value::from).unwrap_or(Value::Null);
        let kind = match *kind {
            "regular file" | "regular empty file" => "file",
            "directory" => "dir",
            "symbolic link" => "link",
            "character special file" => "char",
            "block special file" => "block",
            "fifo" => "pipe",
            "socket" => "socket",
            other => other,
        };
        Outcome::ok(json!({
            "type": kind,
            "size": num(size),
            "uid": num(uid),
            "gid": num(gid),
            "user": user,
            "group": group,
            "mode": format!("0{mode}"),
            "mtime": num(mtime),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_local(f: &dyn Function) -> Outcome {
        let ctx = HostCtx {
            id: "h",
            grains: &Value::Null,
        };
        let cmd = f.command(&ctx).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd.script)
            .output()
            .unwrap();
        let o = ExecOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            exit_code: out.status.code(),
        };
        f.interpret(&ctx, Some(&o))
    }

    fn call(words: &[&str]) -> Result<Box<dyn Function>, ArgError> {
        let spec = super::super::lookup(words[0]).unwrap();
        (spec.parse)(&Args::from_words(&words[1..]))
    }

    /// Each function through the real `sh` and tools, on a temp dir.
    #[test]
    fn answers_about_real_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's a file");
        std::fs::write(&f, "hello\n").unwrap();
        let p = f.display().to_string();
        let d = dir.path().display().to_string();
        let ok = |words: &[&str]| run_local(call(words).unwrap().as_ref());
        assert_eq!(ok(&["file.file_exists", &p]).ret, json!(true));
        assert_eq!(ok(&["file.file_exists", &d]).ret, json!(false));
        assert_eq!(ok(&["file.directory_exists", &d]).ret, json!(true));
        assert_eq!(
            ok(&["file.get_hash", &p]).ret,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(
            ok(&["file.get_hash", &p, "form=md5"]).ret,
            "b1946ac92492d2347c6235b4d2611184"
        );
        assert_eq!(ok(&["file.read", &p]).ret, "hello\n");
        let s = ok(&["file.stats", &p]).ret;
        assert_eq!(s["type"], "file");
        assert_eq!(s["size"], 6);
        let missing = ok(&["file.read", &format!("{d}/nope")]);
        assert!(!missing.success);
        assert!(missing.ret.as_str().unwrap().contains("not a regular file"));
        assert!(!ok(&["file.get_hash", &format!("{d}/nope")]).success);
        assert!(!ok(&["file.stats", &format!("{d}/nope")]).success);
        assert!(call(&["file.read", "relative"]).is_err());
        assert!(call(&["file.get_hash", &p, "form=crc"]).is_err());
        assert!(call(&["file.read"]).is_err());
    }
}
