#!/usr/bin/env python3
"""Generate tests/compat/trees.json: what Salt 3008.3 compiles from the
formula-style trees written here in tests/compat/trees/ (each a `states/`
file root with a top.sls and a `pillar/` root with its own top.sls):
`state.show_lowstate` (the highstate's low chunks), the run order of
`state.highstate test=True`, and `state.show_low_sls` of every SLS.

    /var/tmp/saltvenv/bin/python tests/compat/gen_trees.py

tests/compat_trees.rs compiles the same trees with halite's
state.show_highstate / state.show_sls and requires the same IDs, run order,
module.function, names and arguments. This machine's own grains are used by
both (the test runs on the same machine, through the local connection).
"""
import json
import pathlib
import shutil
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent
SKIP = {"__env__", "__sls__", "__sls_included_from__", "__id__", "state", "fun", "name",
        "order", "__run_num__"}


def chunks(low):
    return [{"id": c["__id__"], "function": f"{c['state']}.{c['fun']}", "name": c["name"],
             "sls": c["__sls__"], "args": {k: v for k, v in c.items() if k not in SKIP}}
            for c in sorted(low, key=lambda c: c.get("order", 0))]


def low_sls(etc, name):
    low = saltcall.call(etc, "state.show_low_sls", name)
    return chunks(low) if all(isinstance(c, dict) for c in low) else {"errors": low}


def tree(path: pathlib.Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        etc = saltcall.minion(root, [])
        shutil.rmtree(root / "srv")
        shutil.copytree(path / "states", root / "srv")
        shutil.rmtree(root / "pillar")
        shutil.copytree(path / "pillar", root / "pillar")
        low = saltcall.call(etc, "state.show_lowstate")
        if not all(isinstance(c, dict) for c in low):
            return {"errors": low}
        states = saltcall.call(etc, "state.highstate", "test=True")
        order = [v["__id__"] for v in sorted(states.values(), key=lambda v: v["__run_num__"])]
        sls = sorted({c["__sls__"] for c in low})
        return {"highstate": {"chunks": chunks(low), "run_order": order},
                "sls": {name: low_sls(etc, name) for name in sls}}


def main():
    trees = {p.name: tree(p) for p in sorted((HERE / "trees").iterdir()) if p.is_dir()}
    doc = {"salt_version": saltcall.version(), "trees": trees}
    (HERE / "trees.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
