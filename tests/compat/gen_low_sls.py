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
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent
SKIP = {"__env__", "__sls__", "__id__", "state", "fun", "name", "order", "__run_num__"}


def main():
    cases = {}
    files = sorted((HERE / "sls").glob("*.sls"))
    # Templates the SLS files name as salt:// sources.
    templates = sorted((HERE / "sls").glob("*.jinja"))
    with tempfile.TemporaryDirectory() as tmp:
        etc = saltcall.minion(pathlib.Path(tmp), files + templates)
        for sls in files:
            low = saltcall.call(etc, "state.show_low_sls", sls.stem)
            if all(isinstance(c, dict) for c in low):
                states = saltcall.call(etc, "state.sls", sls.stem, "test=True")
                run_order = [v["__id__"] for v in sorted(states.values(),
                                                          key=lambda v: v["__run_num__"])]
                cases[sls.stem] = {"run_order": run_order, "chunks": [
                    {"id": c["__id__"], "function": f"{c['state']}.{c['fun']}", "name": c["name"],
                     "args": {k: v for k, v in c.items() if k not in SKIP}}
                    for c in sorted(low, key=lambda c: c.get("order", 0))
                ]}
            else:
                cases[sls.stem] = {"errors": low}
    doc = {"salt_version": saltcall.version(), "cases": cases}
    (HERE / "low_sls.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
