#!/usr/bin/env python3
"""Generate tests/compat/render.json: what Salt renders for each template
written here in tests/compat/render/ (`salt-call --local slsutil.renderer
salt://NAME default_renderer=jinja`).

Run with Salt 3008.3 installed (e.g. /var/tmp/saltvenv, see gen_yamlify.py):

    /var/tmp/saltvenv/bin/python tests/compat/gen_render.py

src/render/tests.rs renders the same templates through halite's renderer
and requires the same text. Other files in render/ (`*.yaml`, `*.json`,
`*.txt`) are served next to the templates, for `import_yaml` and friends.

A template named `error_*.jinja` must fail in Salt: its line and Salt's
message are recorded under `errors`, and halite must fail on that line.
"""
import json
import pathlib
import re
import shutil
import subprocess
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent


def main():
    files = sorted(p for p in (HERE / "render").iterdir() if p.is_file())
    # Formula directories (defaults.get reads NS/defaults.yaml) are served too.
    dirs = sorted(p for p in (HERE / "render").iterdir() if p.is_dir())
    templates = [t for t in files if t.suffix == ".jinja" and not t.name.startswith("error_")]
    failing = [t for t in files if t.suffix == ".jinja" and t.name.startswith("error_")]
    with tempfile.TemporaryDirectory() as tmp:
        # The grains and pillar src/render/tests.rs's renderer has.
        etc = saltcall.minion(
            pathlib.Path(tmp), files, minion_id="web1",
            grains={"os": "Debian", "os_family": "Debian", "roles": ["web", "db"],
                    "ip": {"eth0": "10.0.0.1"}},
            pillar={"snmpcom": "s3cret", "users": {"alice": {"uid": 1000}},
                    "pkgs": ["a", "b"]})
        for d in dirs:
            shutil.copytree(d, pathlib.Path(tmp) / "srv" / d.name)
        out = {t.name: saltcall.call(etc, "slsutil.renderer", f"salt://{t.name}",
                                     "default_renderer=jinja", check=True)
               for t in templates}
        errors = {t.name: failure(etc, t.name) for t in failing}
    doc = {"salt_version": saltcall.version(), "rendered": out, "errors": errors}
    (HERE / "render.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def failure(etc: pathlib.Path, name: str) -> dict:
    """Salt's error for a template that must fail: its line and message."""
    out = subprocess.run([str(saltcall.SALT_CALL), "-c", str(etc), "--local", "--out", "json",
                          "slsutil.renderer", f"salt://{name}", "default_renderer=jinja"],
                         capture_output=True, text=True)
    if out.returncode == 0:
        raise SystemExit(f"{name}: Salt rendered it, but error_ templates must fail")
    message = re.search(r"SaltRenderError: (.*)", out.stderr)
    line = re.search(r"; line (\d+)", out.stderr)
    return {"salt": message.group(1) if message else out.stderr.strip().splitlines()[-1],
            "line": int(line.group(1)) if line else None}


if __name__ == "__main__":
    main()
