#!/usr/bin/env python3
"""Generate tests/compat/managed_vars.json: the file Salt 3008.3's
file.managed writes from a source template (tests/compat/managed/vars.jinja)
that prints the variables file.managed hands every template (source, name,
user, group, mode, attrs, saltenv), an extra argument (Salt's **kwargs),
`defaults` and `context`.

    /var/tmp/saltvenv/bin/python tests/compat/gen_managed_vars.py

tests/test_states.rs applies the same state with halite (local connection)
and requires the same text.
"""
import json
import pathlib
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent

# The state, as state.single arguments (halite's test gives the same).
ARGS = ['source=["salt://nope.jinja", "salt://vars.jinja"]', "template=jinja", "mode=0640",
        "extra=7", 'defaults={"ctx": "d", "port": 1}', 'context={"ctx": "c"}']


def main():
    with tempfile.TemporaryDirectory() as tmp:
        etc = saltcall.minion(pathlib.Path(tmp), [HERE / "managed" / "vars.jinja"])
        target = pathlib.Path(tmp) / "halite-compat-vars"
        ret = saltcall.call(etc, "state.single", "file.managed", f"name={target}", *ARGS)
        assert all(r["result"] for r in ret.values()), ret
        content = target.read_text()
    doc = {"salt_version": saltcall.version(), "args": ARGS, "content": content}
    (HERE / "managed_vars.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
