"""Shared by the generators that ask `salt-call --local` (gen_low_sls.py,
gen_render.py, gen_test_states.py): a masterless minion in a temporary
directory whose file_roots hold files written here."""
import json
import pathlib
import subprocess
import sys

SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"


def minion(root: pathlib.Path, files: list, minion_id: str = "l1",
           grains: dict = None, pillar: dict = None) -> pathlib.Path:
    """Set up a minion under `root` serving `files` (paths) from its
    file_roots, with static `grains` and `pillar` when given; returns its
    config directory."""
    for d in ["srv", "pillar", "etc", "var/cache/salt/minion", "var/log/salt",
              "etc/salt/pki/minion"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in files:
        (root / "srv" / f.name).write_text(f.read_text())
    config = (f"root_dir: {root}\nfile_client: local\nfile_roots:\n  base:\n    - {root / 'srv'}\n"
              f"pillar_roots:\n  base:\n    - {root / 'pillar'}\n"
              f"id: {minion_id}\nuser: root\n")
    if grains:
        config += "grains: " + json.dumps(grains) + "\n"
    if pillar:
        (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - data\n")
        (root / "pillar" / "data.sls").write_text(json.dumps(pillar) + "\n")
    (root / "etc" / "minion").write_text(config)
    return root / "etc"


def call(etc: pathlib.Path, *args: str, check: bool = False):
    """`salt-call --local --out json ARGS`: the `local` part of its answer."""
    out = subprocess.run([str(SALT_CALL), "-c", str(etc), "--local", "--out", "json", *args],
                         capture_output=True, text=True, check=check)
    return json.loads(out.stdout)["local"]


def version() -> str:
    out = subprocess.run([str(SALT_CALL), "--version"], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()[1]
