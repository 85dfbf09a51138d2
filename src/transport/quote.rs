//! The one shell-quoting function. Every value that reaches a remote shell
//! goes through [`quote`]; nothing else builds shell words from user input.

/// Quote `s` as one POSIX `sh` word.
///
/// Safe words (letters, digits and `@%+=:,./_-`) are returned as they are,
/// for readable command lines; anything else is wrapped in single quotes,
/// inside which the shell interprets nothing, and each `'` becomes `'\''`.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote each word and join them with spaces: a ready command line.
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `printf %s WORD` through a real sh and check it prints the input back.
    fn round_trip(s: &str) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(s)))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            s,
            "quoted as {}",
            quote(s)
        );
    }

    #[test]
    fn hostile_values_survive_a_real_shell() {
        for s in [
            "plain",
            "with space",
            "it's",
            "'",
            "''",
            "\"double\"",
            "$(touch /tmp/halite-pwned)",
            "`id`",
            "$HOME",
            "a\nb",
            "*",
            "?[a-z]",
            "~root",
            ";rm -rf /;",
            "a|b&c>d<e",
            "\\",
            "tab\there",
            "-n",
            "ünïcödé",
            "!event",
            "{a,b}",
            "#comment",
        ] {
            round_trip(s);
        }
        assert!(!std::path::Path::new("/tmp/halite-pwned").exists());
    }

    #[test]
    fn empty_string_is_an_empty_word() {
        assert_eq!(quote(""), "''");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {}; echo $#", quote("")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }

    #[test]
    fn safe_words_stay_readable() {
        assert_eq!(quote("apt-get"), "apt-get");
        assert_eq!(quote("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(join(["echo", "a b"]), "echo 'a b'");
    }
}
