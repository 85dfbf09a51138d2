#!/usr/bin/env python3
"""Generate tests/compat/test_states.json: what Salt's own `test` state
module returns for tests/compat/test_states/t.sls (written here), run by
`salt-call --local` with and without test=True.

Run with Salt 3008.3 installed (e.g. /var/tmp/saltvenv, see gen_yamlify.py):

    /var/tmp/saltvenv/bin/python tests/compat/gen_test_states.py

tests/states.rs applies the same file with halite's local connection and
compares every state's result, comment and changes.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"


def main():
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for d in ["srv", "etc", "var/cache/salt/minion", "var/log/salt", "etc/salt/pki/minion"]:
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "srv" / "t.sls").write_text((HERE / "test_states" / "t.sls").read_text())
        (root / "etc" / "minion").write_text(
            f"root_dir: {root}\nfile_client: local\nfile_roots:\n  base:\n    - {root / 'srv'}\n"
            "id: l1\nuser: root\n"
        )
        for test in (False, True):
            args = [str(SALT_CALL), "-c", str(root / "etc"), "--local", "--out", "json",
                    "state.sls", "t"]
            if test:
                args.append("test=True")
            out = subprocess.run(args, capture_output=True, text=True, check=False)
            states = json.loads(out.stdout)["local"]
            cases["test=True" if test else "run"] = {
                v["__id__"]: {k: v[k] for k in ("result", "comment", "changes", "__run_num__")}
                for v in states.values()
            }
    version = subprocess.run([str(SALT_CALL), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    doc = {"salt_version": version, "cases": cases}
    (HERE / "test_states.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
