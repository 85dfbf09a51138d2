#!/bin/sh
# A dynamic inventory in Ansible's script protocol: `--list` prints every
# group (a list of hosts, or hosts/vars/children) and `_meta.hostvars`.
# Read by tests/compat/gen_ansible_inventory.py (Ansible's answer) and by
# halite's unit test inventory::ansible::tests::script_reads_like_ansible.
case $1 in
--list)
	cat <<'JSON'
{
  "web": {"hosts": ["w1", "w2"], "vars": {"http_port": 80, "ansible_user": "www"}},
  "db": ["d1"],
  "prod": {"children": ["web", "db"], "vars": {"dc": "paris"}},
  "all": {"vars": {"dc": "lyon", "ansible_port": 2200}},
  "_meta": {"hostvars": {
    "w1": {"ansible_host": "192.0.2.1", "ansible_become": true},
    "d1": {"ansible_port": 5022, "tags": ["a", "b"]}
  }}
}
JSON
	;;
--host) echo '{}' ;;
*) echo "usage: $0 --list | --host HOST" >&2; exit 2 ;;
esac
