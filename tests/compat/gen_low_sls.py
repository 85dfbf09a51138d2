#!/usr/bin/env python3
"""Generate tests/compat/low_sls.json: Salt's own compiled low chunks
(`salt-call --local state.show_low_sls NAME`) for each SLS file written here
in tests/compat/sls/, or the errors Salt gives for it.

Run with Salt 3008.3 installed (e.g. /var/tmp/saltvenv, see gen_yamlify.py):

    /var/tmp/saltvenv/bin/python tests/compat/gen_low_sls.py

With test=True, `state.sls NAME` also gives the order Salt runs them in.
tests/test_states.rs compiles the same files with `halite state.show_sls`
and requires the same IDs, run order, module.function, names and
arguments, or an error where Salt gives one.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"
SKIP = {"__env__", "__sls__", "__id__", "state", "fun", "name", "order", "__run_num__"}


def main():
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for d in ["srv", "etc", "var/cache/salt/minion", "var/log/salt", "etc/salt/pki/minion"]:
            (root / d).mkdir(parents=True, exist_ok=True)
        for sls in sorted((HERE / "sls").glob("*.sls")):
            (root / "srv" / sls.name).write_text(sls.read_text())
        (root / "etc" / "minion").write_text(
            f"root_dir: {root}\nfile_client: local\nfile_roots:\n  base:\n    - {root / 'srv'}\n"
            "id: l1\nuser: root\n"
        )
        for sls in sorted((HERE / "sls").glob("*.sls")):
            out = subprocess.run(
                [str(SALT_CALL), "-c", str(root / "etc"), "--local", "--out", "json",
                 "state.show_low_sls", sls.stem],
                capture_output=True, text=True, check=False)
            low = json.loads(out.stdout)["local"]
            if all(isinstance(c, dict) for c in low):
                ran = subprocess.run(
                    [str(SALT_CALL), "-c", str(root / "etc"), "--local", "--out", "json",
                     "state.sls", sls.stem, "test=True"],
                    capture_output=True, text=True, check=False)
                states = json.loads(ran.stdout)["local"]
                run_order = [v["__id__"] for v in sorted(states.values(),
                                                          key=lambda v: v["__run_num__"])]
                cases[sls.stem] = {"run_order": run_order, "chunks": [
                    {"id": c["__id__"], "function": f"{c['state']}.{c['fun']}", "name": c["name"],
                     "args": {k: v for k, v in c.items() if k not in SKIP}}
                    for c in sorted(low, key=lambda c: c.get("order", 0))
                ]}
            else:
                cases[sls.stem] = {"errors": low}
    version = subprocess.run([str(SALT_CALL), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    doc = {"salt_version": version, "cases": cases}
    (HERE / "low_sls.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
