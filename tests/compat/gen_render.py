#!/usr/bin/env python3
"""Generate tests/compat/render.json: what Salt renders for each template
written here in tests/compat/render/ (`salt-call --local slsutil.renderer
salt://NAME default_renderer=jinja`).

Run with Salt 3008.3 installed (e.g. /var/tmp/saltvenv, see gen_yamlify.py):

    /var/tmp/saltvenv/bin/python tests/compat/gen_render.py

src/render/tests.rs renders the same templates through halite's renderer
and requires the same text.
"""
import json
import pathlib
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent


def main():
    templates = sorted((HERE / "render").glob("*.jinja"))
    with tempfile.TemporaryDirectory() as tmp:
        # The grains and pillar src/render/tests.rs's renderer has.
        etc = saltcall.minion(
            pathlib.Path(tmp), templates, minion_id="web1",
            grains={"os": "Debian", "os_family": "Debian", "roles": ["web", "db"],
                    "ip": {"eth0": "10.0.0.1"}},
            pillar={"snmpcom": "s3cret", "users": {"alice": {"uid": 1000}},
                    "pkgs": ["a", "b"]})
        out = {t.name: saltcall.call(etc, "slsutil.renderer", f"salt://{t.name}",
                                     "default_renderer=jinja", check=True)
               for t in templates}
    doc = {"salt_version": saltcall.version(), "rendered": out}
    (HERE / "render.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
