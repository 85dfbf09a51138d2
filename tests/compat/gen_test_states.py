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
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent


def main():
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        etc = saltcall.minion(pathlib.Path(tmp), [HERE / "test_states" / "t.sls"])
        for test in (False, True):
            states = saltcall.call(etc, "state.sls", "t", *(["test=True"] if test else []))
            cases["test=True" if test else "run"] = {
                v["__id__"]: {k: v[k] for k in ("result", "comment", "changes", "__run_num__")}
                for v in states.values()
            }
    doc = {"salt_version": saltcall.version(), "cases": cases}
    (HERE / "test_states.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
