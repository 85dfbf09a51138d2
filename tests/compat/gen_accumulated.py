#!/usr/bin/env python3
"""Generate tests/compat/accumulated.json: what Salt 3008.3 does with
tests/compat/accumulated/demo.sls (file.accumulated feeding a file.managed
template and file.blockreplace states): each state's result, comment and
changes, and the files written.

    /var/tmp/saltvenv/bin/python tests/compat/gen_accumulated.py

tests/system_states.rs applies the same SLS with halite on a fleet host
and requires the same results and files.
"""
import json
import pathlib
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent
FILES = ["animals.txt", "block.txt"]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        out = root / "out"
        out.mkdir()
        sls = (HERE / "accumulated" / "demo.sls").read_text().replace("@ROOT@", str(out))
        (root / "demo.sls").write_text(sls)
        etc = saltcall.minion(root, [HERE / "accumulated" / "animals.jinja", root / "demo.sls"])
        ret = saltcall.call(etc, "state.apply", "demo")
        states = {
            s["__id__"]: {
                "result": s["result"],
                "comment": s["comment"].replace(str(out), "@ROOT@"),
                "changes": json.loads(json.dumps(s["changes"]).replace(str(out), "@ROOT@")),
            }
            for s in ret.values()
        }
        files = {f: (out / f).read_text() for f in FILES}
    doc = {"salt_version": saltcall.version(), "states": states, "files": files}
    (HERE / "accumulated.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
