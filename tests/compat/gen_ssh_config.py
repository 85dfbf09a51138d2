#!/usr/bin/env python3
"""Write tests/compat/ssh_config.json: how OpenSSH reads each ssh_config case.

Every case is given to the real client as `ssh -G -F FILE [-l USER] [-p PORT]
HOST`, so the fixture is OpenSSH's answer, not ours. halite's parser and
matcher (src/transport/ssh_config.rs) are checked against it by the unit
test `transport::ssh_config::tests::agrees_with_openssh`.

    python3 tests/compat/gen_ssh_config.py

Config files are written under a scratch directory; the text and the
answers hold `{dir}` where that directory's path was, and `{home}` for the
user's home directory (OpenSSH's `~` and `%d`), so the test can put the
files anywhere. A case OpenSSH refuses records its exit status and the
"FILE line N" its message names.
"""

import json
import os
import pwd
import re
import subprocess
import tempfile

# The keywords halite reads; ssh -G prints each (list ones once per value).
FIELDS = [
    "hostname", "user", "port", "identityfile", "certificatefile",
    "identitiesonly", "proxyjump", "proxycommand", "userknownhostsfile",
    "stricthostkeychecking", "connecttimeout", "serveraliveinterval",
    "serveralivecountmax",
]
LISTS = {"identityfile", "certificatefile", "userknownhostsfile"}

# name, {file: text} (the first file is -F), host, -l user, -p port
CASES = [
    ("plain", {"config": "Host web1\n  HostName 192.0.2.10\n  User deploy\n  Port 2222\n"}, "web1", None, None),
    ("no_match", {"config": "Host web1\n  HostName 192.0.2.10\n"}, "db1", None, None),
    ("first_value_wins", {"config": "Host web*\n  User first\n  Port 2001\nHost *\n  User second\n  Port 2002\n  HostName fallback\n"}, "web7", None, None),
    ("explicit_flags_win", {"config": "Host a\n  User cfg\n  Port 2001\n"}, "a", "cli", 2222),
    ("star_question", {"config": "Host db?.example\n  User q\nHost *.example\n  Port 2200\n"}, "db1.example", None, None),
    ("question_no_match", {"config": "Host db?.example\n  User q\n"}, "db12.example", None, None),
    ("negation", {"config": "Host *.example !bastion.example\n  ProxyJump bastion.example\nHost *\n  User all\n"}, "web.example", None, None),
    ("negation_excludes", {"config": "Host *.example !bastion.example\n  ProxyJump bastion.example\n"}, "bastion.example", None, None),
    ("negation_alone", {"config": "Host !foo\n  User neg\n"}, "bar", None, None),
    ("host_case", {"config": "Host WEB1\n  User upper\n"}, "web1", None, None),
    ("comma_in_host", {"config": "Host a,b\n  User commas\n"}, "a", None, None),
    ("equals_and_quotes", {"config": "Host=web1\n  User = \"dep loy\"\n  Port=2022\n  IdentityFile \"/k/with space\"\n"}, "web1", None, None),
    ("keyword_case", {"config": "host web1\n  HOSTNAME h.example\n  pOrT 2023\n"}, "web1", None, None),
    ("comments", {"config": "# top\nHost web1 # trailing\n  User c # note\n\n  Port 2024\n"}, "web1", None, None),
    ("global_before_host", {"config": "User global\nHost web1\n  User late\n"}, "web1", None, None),
    ("identity_lists", {"config": "Host a\n  IdentityFile ~/.ssh/one\n  CertificateFile ~/.ssh/one-cert.pub\nHost *\n  IdentityFile /keys/two_%h_%r\n  IdentitiesOnly yes\n"}, "a", None, None),
    ("identities_only_no", {"config": "Host a\n  IdentitiesOnly no\nHost *\n  IdentitiesOnly yes\n"}, "a", None, None),
    ("proxyjump_hops", {"config": "Host t\n  ProxyJump jump@b1.example:2200,b2.example\n"}, "t", None, None),
    ("proxyjump_none", {"config": "Host t\n  ProxyJump none\nHost *\n  ProxyJump never\n"}, "t", None, None),
    ("proxyjump_url", {"config": "Host t\n  ProxyJump ssh://u@b:2201\n"}, "t", None, None),
    ("proxycommand_first", {"config": "Host t\n  ProxyCommand nc %h %p\n  ProxyJump b\n"}, "t", None, None),
    ("proxyjump_then_command", {"config": "Host t\n  ProxyJump b\n  ProxyCommand nc %h %p\n"}, "t", None, None),
    ("known_hosts_tokens", {"config": "Host t\n  HostName %h.example\n  UserKnownHostsFile ~/kh_%h_%p_%r_%n %d/second /abs/%%\n"}, "t", "bob", 2200),
    ("known_hosts_none", {"config": "Host t\n  UserKnownHostsFile none\n"}, "t", None, None),
    ("strict_values", {"config": "Host a\n  StrictHostKeyChecking accept-new\nHost b\n  StrictHostKeyChecking no\nHost c\n  StrictHostKeyChecking yes\nHost d\n  StrictHostKeyChecking off\n"}, "a", None, None),
    ("strict_no", {"config": "Host b\n  StrictHostKeyChecking no\n"}, "b", None, None),
    ("strict_yes", {"config": "Host c\n  StrictHostKeyChecking yes\n"}, "c", None, None),
    ("timeouts", {"config": "Host a\n  ConnectTimeout 7\n  ServerAliveInterval 1m\n  ServerAliveCountMax 5\n"}, "a", None, None),
    ("hostname_tokens", {"config": "Host a\n  HostName %h.internal.example\n"}, "a", None, None),
    ("match_host", {"config": "Host a\n  HostName real.example\nMatch host real.example\n  User matched\n"}, "a", None, None),
    ("match_originalhost", {"config": "Host a\n  HostName real.example\nMatch originalhost a\n  User orig\n"}, "a", None, None),
    ("match_host_list_negated", {"config": "Match host *.example,!bad.example\n  Port 2100\n"}, "good.example", None, None),
    ("match_host_list_negated_out", {"config": "Match host *.example,!bad.example\n  Port 2100\n"}, "bad.example", None, None),
    ("match_user_config", {"config": "Host a\n  User alice\nMatch user alice\n  Port 2201\n"}, "a", None, None),
    ("match_user_flag", {"config": "Match user bob\n  Port 2202\n"}, "a", "bob", None),
    ("match_not_user", {"config": "Match !user bob\n  Port 2203\n"}, "a", "bob", None),
    ("match_all", {"config": "Host a\n  User x\nMatch all\n  Port 2204\n"}, "b", None, None),
    ("match_two_criteria", {"config": "Match host a user bob\n  Port 2205\n"}, "a", "bob", None),
    ("match_two_criteria_miss", {"config": "Match host a user bob\n  Port 2205\n"}, "a", "eve", None),
    ("match_localuser", {"config": "Match localuser root\n  Port 2206\n"}, "a", None, None),
    ("match_exec_true", {"config": "Host a\n  HostName real.example\nMatch exec \"test %h = real.example -a %n = a -a %p = 22\"\n  Port 2207\n"}, "a", None, None),
    ("match_exec_false", {"config": "Match exec \"test %h = elsewhere\"\n  Port 2208\n"}, "a", None, None),
    ("match_not_exec", {"config": "Match !exec false host a\n  Port 2209\n"}, "a", None, None),
    ("include_glob", {"config": "Include {dir}/conf.d/*.conf\nHost *\n  User late\n", "conf.d/10-a.conf": "Host a\n  User from_a\n", "conf.d/20-b.conf": "Host a\n  Port 2300\n  User from_b\n"}, "a", None, None),
    ("include_in_host", {"config": "Host a\n  Include {dir}/inc\nHost b\n  Port 2301\n", "inc": "Port 2302\nHost b\n  User from_inc\n"}, "a", None, None),
    ("include_in_host_inactive", {"config": "Host a\n  Include {dir}/inc\nHost b\n  Port 2301\n", "inc": "Port 2302\nHost b\n  User from_inc\n"}, "b", None, None),
    ("include_missing_ok", {"config": "Include {dir}/nothing/*.conf\nHost a\n  Port 2303\n"}, "a", None, None),
    ("deprecated_ignored", {"config": "Host a\n  UseRoaming no\n  RSAAuthentication yes\n  Port 2304\n"}, "a", None, None),
    ("known_unused_ignored", {"config": "Host a\n  ForwardAgent yes\n  ControlMaster auto\n  LogLevel ERROR\n  Port 2305\n"}, "a", None, None),
    ("ignore_unknown", {"config": "IgnoreUnknown Foo*,Bar\nHost a\n  FooThing 1\n  Bar 2\n  Port 2306\n"}, "a", None, None),
    # refused
    ("bad_port", {"config": "Host a\n  User u\n  Port abc\n"}, "a", None, None),
    ("bad_port_inactive", {"config": "Host b\n  Port abc\n"}, "a", None, None),
    ("missing_argument", {"config": "Host a\n  Port\n"}, "a", None, None),
    ("unknown_keyword", {"config": "Host a\n\n  Frobnicate yes\n"}, "a", None, None),
    ("unknown_keyword_inactive", {"config": "Host b\n  Frobnicate yes\n"}, "a", None, None),
    ("bad_match", {"config": "Match foo\n  Port 5\n"}, "a", None, None),
    ("match_missing_arg", {"config": "Match host\n  Port 5\n"}, "a", None, None),
    ("bad_flag", {"config": "Host a\n  IdentitiesOnly maybe\n"}, "a", None, None),
    ("bad_strict", {"config": "Host a\n  StrictHostKeyChecking perhaps\n"}, "a", None, None),
    ("bad_timeout", {"config": "Host a\n  ConnectTimeout soon\n"}, "a", None, None),
    ("bad_proxyjump", {"config": "Host a\n  ProxyJump b:notaport\n"}, "a", None, None),
    ("extra_argument", {"config": "Host a\n  User one two\n"}, "a", None, None),
    ("include_error_names_included", {"config": "Host a\n  User u\nInclude {dir}/bad\n", "bad": "Host *\n  Port 99999\n"}, "a", None, None),
    ("host_without_pattern", {"config": "Host\n  Port 2\n"}, "a", None, None),
]


def main():
    home = pwd.getpwuid(os.getuid()).pw_dir
    out = []
    with tempfile.TemporaryDirectory(prefix="halite-sshcfg-") as scratch:
        for name, files, host, user, port in CASES:
            d = os.path.join(scratch, name)
            for rel, text in files.items():
                path = os.path.join(d, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text.replace("{dir}", d))
            main_file = os.path.join(d, next(iter(files)))
            cmd = ["ssh", "-G", "-F", main_file]
            if user:
                cmd += ["-l", user]
            if port:
                cmd += ["-p", str(port)]
            cmd.append(host)
            p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            case = {
                "name": name, "files": files, "host": host,
                "user": user, "port": port, "exit": p.returncode,
            }
            if p.returncode != 0:
                m = re.search(r"^(\S+?):? line (\d+):", p.stderr, re.M)
                assert m, (name, p.stderr)
                case["error_file"] = os.path.relpath(m.group(1), d)
                case["error_line"] = int(m.group(2))
                case["error"] = p.stderr.strip().splitlines()[0].replace(d, "{dir}")
            else:
                got = {}
                for line in p.stdout.splitlines():
                    key, _, value = line.partition(" ")
                    if key in FIELDS:
                        value = value.replace(d, "{dir}").replace(home, "{home}")
                        if key in LISTS:
                            got.setdefault(key, []).append(value)
                        else:
                            got[key] = value
                case["expect"] = got
            out.append(case)
    version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    local_user = pwd.getpwuid(os.getuid()).pw_name
    doc = {"openssh": version, "local_user": local_user, "cases": out}
    dest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ssh_config.json")
    with open(dest, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main()
