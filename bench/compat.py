#!/usr/bin/env python3
"""Outside proof for Salt compatibility (issue #14 item 4): render every SLS
of unmodified community formulas through Salt 3008.3 and through halite, and
print how many compile identically.

    bench/compat.sh DIR [HALITE]

DIR holds formula checkouts fetched by hand (e.g. saltstack-formulas'
template-formula, ntp-formula...), each with its state folder (the one with
an init.sls) and a pillar.example. Nothing here is copied into the repository.

For each formula, one masterless Salt minion (file_roots = the checkout,
pillar = its pillar.example) answers `state.show_low_sls NAME` in-process,
and a halite project on the same machine (states/ holds a copy of the same folder, the
same pillar, one local-connection host) answers `state.show_sls NAME`.
Both see this machine's own grains. An SLS counts as identical when both
give the same chunks -- ID, module.function, name and argument keys (the
requisites compared apart, as targets) -- or both refuse it. The run order
is not compared here (Salt decides it only when running).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REQUISITES = ["require", "watch", "onchanges", "onfail", "prereq", "listen", "use"]
SKIP = {"__env__", "__sls__", "__sls_included_from__", "__id__", "state", "fun", "name", "order", "__run_num__"}


def requisite_key(k):
    base = k[:-3] if k.endswith("_in") else k
    base = base[:-4] if base.endswith("_any") or base.endswith("_all") else base
    return base in REQUISITES


def state_dir(formula):
    for d in sorted(formula.iterdir()):
        if d.is_dir() and d.name not in ("test", "docs", "bin") and (d / "init.sls").exists():
            return d
    return None


def sls_names(top):
    names = []
    for f in sorted(top.rglob("*.sls")):
        rel = f.relative_to(top.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "init":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def salt_caller(formula, tmp):
    import salt.client
    import salt.config
    root = tmp / "salt"
    for d in ["pillar", "etc", "cache", "log", "pki"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - example\n")
    shutil.copy(formula / "pillar.example", root / "pillar" / "example.sls")
    (root / "etc" / "minion").write_text(
        f"root_dir: {root}\nfile_client: local\nfile_roots:\n  base:\n    - {formula}\n"
        f"pillar_roots:\n  base:\n    - {root / 'pillar'}\nid: l1\nuser: root\n"
        f"cachedir: {root / 'cache'}\npki_dir: {root / 'pki'}\nlog_file: {root / 'log' / 'minion'}\n")
    opts = salt.config.minion_config(str(root / "etc" / "minion"))
    opts["file_client"] = "local"
    return salt.client.Caller(mopts=opts)


def salt_chunks(caller, name):
    try:
        low = caller.cmd("state.show_low_sls", name)
    except Exception as e:  # noqa: BLE001 -- Salt raising is a refusal too
        return None, f"{type(e).__name__}: {e}"
    if not isinstance(low, list) or not all(isinstance(c, dict) for c in low):
        return None, json.dumps(low)[:300]
    chunks = {}
    for c in low:
        args = sorted(k for k in c if k not in SKIP and not requisite_key(k))
        chunks[(c["__id__"], f"{c['state']}.{c['fun']}", str(c["name"]))] = args
    return chunks, None


def halite_project(formula, top, tmp):
    p = tmp / "halite"
    (p / "states").mkdir(parents=True)
    (p / "pillar").mkdir()
    (p / "inventory").mkdir()
    shutil.copytree(top, p / "states" / top.name)
    (p / "pillar" / "top.sls").write_text("base:\n  '*':\n    - example\n")
    shutil.copy(formula / "pillar.example", p / "pillar" / "example.sls")
    (p / "inventory" / "hosts.yaml").write_text("hosts:\n  l1: {connection: local}\n")
    (p / "halite.yaml").write_text("cache_dir: cache\nknown_hosts: known_hosts\n")
    return p


def halite_chunks(halite, project, name):
    env = dict(os.environ, HALITE_LEDGER_DIR=str(project / "ledger"), NO_COLOR="1")
    out = subprocess.run([halite, "--out", "json", "l1", "state.show_sls", name],
                         cwd=project, env=env, capture_output=True, text=True)
    try:
        ret = json.loads(out.stdout)["results"]["l1"]["ret"]
    except (ValueError, KeyError, TypeError):
        return None, (out.stderr or out.stdout)[-300:]
    if not isinstance(ret, dict):
        return None, json.dumps(ret)[:300]
    chunks = {}
    for c in ret.values():
        keys = list(c.get("args", {})) + list(c.get("globals", {}))
        chunks[(c["__id__"], c["function"], str(c["name"]))] = sorted(keys)
    return chunks, None


def compare(salt, halite):
    if salt == halite:
        return None
    only_salt = sorted(set(salt) - set(halite))
    only_halite = sorted(set(halite) - set(salt))
    if only_salt or only_halite:
        return f"chunks only in Salt {only_salt[:3]}, only in halite {only_halite[:3]}"
    for k in salt:
        if salt[k] != halite[k]:
            return f"{k}: args Salt {salt[k]} halite {halite[k]}"
    return "differs"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1]).resolve()
    halite = sys.argv[2] if len(sys.argv) > 2 else "halite"
    verbose = os.environ.get("COMPAT_VERBOSE") == "1"
    same = total = 0
    for formula in sorted(p for p in root.iterdir() if p.is_dir()):
        top = state_dir(formula)
        if top is None or not (formula / "pillar.example").exists():
            print(f"{formula.name}: no state folder or pillar.example, skipped")
            continue
        commit = subprocess.run(["git", "-C", str(formula), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "?"
        f_same = f_total = 0
        with tempfile.TemporaryDirectory() as t:
            tmp = pathlib.Path(t)
            caller = salt_caller(formula, tmp)
            project = halite_project(formula, top, tmp)
            for name in sls_names(top):
                s, s_err = salt_chunks(caller, name)
                h, h_err = halite_chunks(halite, project, name)
                if s is None and h is None:
                    verdict = None
                elif s is None:
                    verdict = f"Salt refuses ({s_err}), halite renders"
                elif h is None:
                    verdict = f"halite refuses: {h_err.strip()}"
                else:
                    verdict = compare(s, h)
                f_total += 1
                f_same += verdict is None
                if verdict is not None or verbose:
                    print(f"  {name}: {verdict or 'identical'}")
        print(f"{formula.name} @ {commit}: {f_same}/{f_total} identical")
        same += f_same
        total += f_total
    print(f"TOTAL: {same}/{total} identical")


if __name__ == "__main__":
    main()
