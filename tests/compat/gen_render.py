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
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"


def main():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for d in ["srv", "etc", "var/cache/salt/minion", "var/log/salt", "etc/salt/pki/minion"]:
            (root / d).mkdir(parents=True, exist_ok=True)
        for t in sorted((HERE / "render").glob("*.jinja")):
            (root / "srv" / t.name).write_text(t.read_text())
        (root / "etc" / "minion").write_text(
            f"root_dir: {root}\nfile_client: local\nfile_roots:\n  base:\n    - {root / 'srv'}\n"
            "id: web1\nuser: root\n"
        )
        for t in sorted((HERE / "render").glob("*.jinja")):
            r = subprocess.run(
                [str(SALT_CALL), "-c", str(root / "etc"), "--local", "--out", "json",
                 "slsutil.renderer", f"salt://{t.name}", "default_renderer=jinja"],
                capture_output=True, text=True, check=True)
            out[t.name] = json.loads(r.stdout)["local"]
    version = subprocess.run([str(SALT_CALL), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    doc = {"salt_version": version, "rendered": out}
    (HERE / "render.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
