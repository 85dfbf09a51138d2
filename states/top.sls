# The example tree (Salt's tutorial states, as in the talks halite grew from).
# `halite '*' state.apply test=True` shows what it would do on every host.
base:
  '*':
    - motd
  # apache and snmp need apt and systemd.
  'G@os_family:Debian and G@init:systemd':
    - match: compound
    - apache
    - snmp
