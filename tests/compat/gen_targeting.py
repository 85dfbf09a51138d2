#!/usr/bin/env python3
"""Generate tests/compat/targeting.json: which hosts Salt's own matchers
select for target expressions written here, on a small fleet written here
(ids, grains, pillar, nodegroups), and how Salt's command line splits a
`-L` list.

Run with Salt 3008.3 installed (e.g. /var/tmp/saltvenv, see
gen_yamlify.py):

    /var/tmp/saltvenv/bin/python tests/compat/gen_targeting.py

The matchers are Salt's minion-side ones (salt.matchers.*), called with each
host's id, grains and pillar, the way a minion decides whether a target is
its own. src/target's tests run every case through halite's Target and
require the same hosts.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import salt.config
import salt.loader
import salt.version

HERE = pathlib.Path(__file__).resolve().parent

HOSTS = {
    "web1": {"grains": {"os": "Debian", "roles": ["web", "lb"], "env": "prod",
                        "ipv4": ["10.0.0.11", "127.0.0.1"], "meta": {"dc": "par"}},
             "pillar": {"role": "web", "app": {"tier": "front"}}},
    "web2": {"grains": {"os": "Debian", "roles": ["web"], "env": "stage",
                        "ipv4": ["10.0.0.12"], "meta": {"dc": "ams"}},
             "pillar": {"role": "web", "app": {"tier": "front"}}},
    "db1": {"grains": {"os": "Rocky", "roles": ["db"], "env": "prod",
                       "ipv4": ["10.0.1.21"], "meta": {"dc": "par"}},
            "pillar": {"role": "db", "app": {"tier": "back"}}},
    "mail-1": {"grains": {"os": "Debian", "roles": [], "env": "prod",
                          "ipv4": ["192.168.5.3"], "meta": {"dc": "par:x"}},
               "pillar": {"role": "mail"}},
}

NODEGROUPS = {
    "webs_str": "web1,web2",
    "webs_words": "web1 web2",
    "webs_list": ["web1", "web2"],
    "webs_glob": "web*",
    "debian_webs": ["G@os:Debian", "and", "web*"],
    "web_or_db": ["web1", "or", "db1"],
    "typed": "L@web1,db1",
    "nested": ["N@debian_webs", "or", "N@typed"],
    "prod_not_web": "G@env:prod and not N@webs_glob",
    "regexish": ["web[12]"],
}

CASES = [
    # (matcher, expression, delimiter or None)
    ("compound", "N@webs_str", None),
    ("compound", "N@webs_words", None),
    ("compound", "N@webs_list", None),
    ("compound", "N@webs_glob", None),
    ("compound", "N@debian_webs", None),
    ("compound", "N@web_or_db", None),
    ("compound", "N@typed", None),
    ("compound", "N@nested", None),
    ("compound", "N@prod_not_web", None),
    ("compound", "N@regexish", None),
    ("compound", "G@os:Debian and not web2", None),
    ("compound", "( web* or db1 ) and G@env:prod", None),
    ("compound", "E@web\\d and I@app:tier:front", None),
    ("compound", "P@os:(Deb|Roc).* and not L@db1", None),
    ("compound", "S@10.0.0.0/24 or mail-1", None),
    ("pcre", "", None),
    ("pcre", "web", None),
    ("pcre", "^(?!web).*", None),
    ("pcre", "(w)eb\\1?", None),
    ("pcre", ".*-\\d$", None),
    ("glob", "web?", None),
    ("glob", "*[12]", None),
    ("glob", "mail-*", None),
    ("grain", "os:Debian", None),
    ("grain", "roles:web", None),
    ("grain", "meta:dc:par", None),
    ("grain", "meta|dc|par:x", "|"),
    ("grain", "meta;dc;p*", ";"),
    ("grain_pcre", "os:Deb.*", None),
    ("grain_pcre", "meta;dc;pa.*", ";"),
    ("pillar", "app:tier:front", None),
    ("pillar", "app/tier/back", "/"),
    ("pillar_pcre", "role:(web|db)", None),
]

CLI_LISTS = ["web1 web2", "web1, web2", "web1,web2", " web1  db1 ", "web1,web2 db1"]


def matchers_for(host_id):
    opts = salt.config.minion_config(None)
    opts["file_client"] = "local"
    opts["id"] = host_id
    opts["grains"] = dict(HOSTS[host_id]["grains"], id=host_id)
    opts["pillar"] = HOSTS[host_id]["pillar"]
    opts["nodegroups"] = NODEGROUPS
    return opts, salt.loader.matchers(opts)


def decide(host_id, kind, expr, delimiter):
    opts, m = matchers_for(host_id)
    kw = {"opts": opts}
    if delimiter is not None:
        kw["delimiter"] = delimiter
    fn = {"compound": "compound_match.match", "pcre": "pcre_match.match",
          "glob": "glob_match.match", "grain": "grain_match.match",
          "grain_pcre": "grain_pcre_match.match", "pillar": "pillar_match.match",
          "pillar_pcre": "pillar_pcre_match.match"}[kind]
    return bool(m[fn](expr, **kw))


def cli_list(arg):
    """How `salt -L ARG` splits ARG (salt.utils.parsers)."""
    with tempfile.TemporaryDirectory() as tmp:
        etc = pathlib.Path(tmp)
        (etc / "master").write_text(f"root_dir: {tmp}\n")
        code = ("import json, sys, salt.utils.parsers as p\n"
                "o = p.SaltCMDOptionParser()\n"
                f"o.parse_args(['-c', {str(etc)!r}, '-L', sys.argv[1], 'test.ping'])\n"
                "print(json.dumps(o.config['tgt']))\n")
        out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    cases = []
    for kind, expr, delimiter in CASES:
        chosen = sorted(h for h in HOSTS if decide(h, kind, expr, delimiter))
        case = {"type": kind, "expr": expr, "matches": chosen}
        if delimiter is not None:
            case["delimiter"] = delimiter
        cases.append(case)
    doc = {
        "salt_version": salt.version.__version__,
        "hosts": HOSTS,
        "nodegroups": NODEGROUPS,
        "cases": cases,
        "cli_list": [{"arg": a, "tgt": cli_list(a)} for a in CLI_LISTS],
    }
    (HERE / "targeting.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
