#!/usr/bin/env python3
"""Write tests/compat/ansible_inventory.json: how Ansible reads the test
inventories in tests/compat/ansible/ (INI, YAML, a dynamic-inventory
script, and an INI with group_vars/ and host_vars/ beside it), and which
small INI texts it refuses.

Every answer is `ansible-inventory -i SOURCE --list` from ansible-core, so
the fixture is Ansible's answer, not ours: the groups it forms and each
host's variables after its own precedence (all < parent group < child group
< host). halite's readers are checked against it by the unit tests in
src/inventory/ansible/ (`*_reads_like_ansible`, `refuses_what_ansible_refuses`).

Run with the ansible-core release the fixture names (PyPI has it):

    python3 -m venv /var/tmp/ansiblevenv
    /var/tmp/ansiblevenv/bin/pip install ansible-core
    /var/tmp/ansiblevenv/bin/python tests/compat/gen_ansible_inventory.py
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)

SOURCES = ["hosts.ini", "inventory.yml", "dynamic.sh", "layered/hosts", "tricky.ini", "tricky.yml"]

# INI texts Ansible refuses (halite must refuse them too, naming the line).
REFUSED_INI = {
    "semicolon_after_host": "web1 a=1 ; comment\n",
    "bare_word_after_host": "web1 ansible_port\n",
    "vars_of_undefined_group": "[ghost:vars]\na=1\n",
    "child_never_defined": "[parent:children]\nghost\n",
    "unknown_section_type": "[web:hostz]\nweb1\n",
    "vars_line_without_equals": "[web]\nweb1\n[web:vars]\njustaword\n",
    "port_colon_without_port": "web1:\n",
}


def inventory(path):
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
               ANSIBLE_DEPRECATION_WARNINGS="False")
    out = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, "--list"],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    data = json.loads(out.stdout)
    data["_meta"].pop("profile", None)
    return data


def version():
    out = subprocess.run([os.path.join(BIN, "ansible-inventory"), "--version"],
                         capture_output=True, text=True, check=True)
    return out.stdout.split("\n")[0]


def main():
    result = {"ansible": version(), "inventories": {}, "refused_ini": {}}
    for name in SOURCES:
        data = inventory(os.path.join(HERE, "ansible", name))
        if data is None:
            sys.exit(f"Ansible refused {name}")
        result["inventories"][name] = data
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in REFUSED_INI.items():
            path = os.path.join(tmp, name + ".ini")
            with open(path, "w") as f:
                f.write(text)
            if inventory(path) is not None:
                sys.exit(f"Ansible accepted {name}: {text!r}")
            result["refused_ini"][name] = text
    with open(os.path.join(HERE, "ansible_inventory.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
