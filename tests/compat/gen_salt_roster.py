#!/usr/bin/env python3
"""Write tests/compat/salt_roster.json: how salt-ssh reads the test roster
tests/compat/salt/roster (Salt's flat roster module: every target with the
keys Salt resolved, an address-only entry included), and salt-ssh's defaults
for what a target leaves out. halite's roster reader is checked against it
by the unit test inventory::roster::tests::reads_like_salt.

Run with the Salt release the fixture names (PyPI has it):

    python3 -m venv /var/tmp/saltvenv
    /var/tmp/saltvenv/bin/pip install salt==3008.3
    /var/tmp/saltvenv/bin/python tests/compat/gen_salt_roster.py
"""

import json
import os
import tempfile

import salt.config
import salt.roster
import salt.version

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    opts = salt.config.master_config(os.devnull)
    opts["roster_file"] = os.path.join(HERE, "salt", "roster")
    with tempfile.TemporaryDirectory() as cache:
        opts["cachedir"] = cache
        targets = salt.roster.Roster(opts, "flat").targets("*", "glob")
    defaults = salt.config.DEFAULT_MASTER_OPTS
    result = {
        "salt": salt.version.__version__,
        "targets": targets,
        "defaults": {
            "user": defaults["ssh_user"],
            "port": int(defaults["ssh_port"]),
            "sudo": defaults["ssh_sudo"],
        },
    }
    with open(os.path.join(HERE, "salt_roster.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
