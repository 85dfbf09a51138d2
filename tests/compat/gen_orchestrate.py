#!/usr/bin/env python3
"""Generate tests/compat/orchestrate.json: what Salt's orchestrate runner
itself returns for the orchestration files in tests/compat/orch/ (test.*
steps only, so no minion is needed), in a normal run and with test=True.

Run with Salt 3008.3 installed (e.g. `python3 -m venv /var/tmp/saltvenv &&
/var/tmp/saltvenv/bin/pip install salt==3008.3`):

    /var/tmp/saltvenv/bin/python tests/compat/gen_orchestrate.py

halite's tests/orchestrate.rs runs the same files through `halite
orchestrate` and compares every step's result, comment and changes.
Timing fields (start_time, duration) are dropped: they differ every run.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SALT_RUN = pathlib.Path(sys.executable).parent / "salt-run"


def master_config(root: pathlib.Path) -> pathlib.Path:
    states = root / "srv"
    (states / "orch").mkdir(parents=True)
    for sls in sorted((HERE / "orch").glob("*.sls")):
        (states / "orch" / sls.name).write_text(sls.read_text())
    for d in ["var/cache/salt/master/proc", "var/cache/salt/master/jobs",
              "var/log/salt", "etc/salt/pki/master"]:
        (root / d).mkdir(parents=True)
    etc = root / "etc"
    (etc / "master").write_text(
        f"root_dir: {root}\nfile_roots:\n  base:\n    - {states}\n"
        f"pillar_roots:\n  base:\n    - {root / 'pillar'}\nuser: root\n"
    )
    return etc


def orchestrate(etc: pathlib.Path, name: str, test: bool) -> dict:
    args = [str(SALT_RUN), "-c", str(etc), "--out", "json", "state.orchestrate", name]
    if test:
        args.append("test=True")
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    doc = json.loads(out.stdout)
    (minion, states), = doc["data"].items()
    for s in states.values():
        s.pop("start_time", None)
        s.pop("duration", None)
    return {"retcode": doc["retcode"], "outputter": doc["outputter"], "states": states}


def main() -> None:
    version = subprocess.run([str(SALT_RUN), "--version"], capture_output=True,
                             text=True, check=True).stdout.split()[1]
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        etc = master_config(pathlib.Path(tmp))
        for sls in sorted((HERE / "orch").glob("*.sls")):
            name = f"orch.{sls.stem}"
            for test in (False, True):
                key = f"{name}{' test=True' if test else ''}"
                cases[key] = orchestrate(etc, name, test)
    doc = {"salt_version": version, "cases": cases}
    (HERE / "orchestrate.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
