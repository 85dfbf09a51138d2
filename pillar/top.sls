# Which pillar each host receives. A host only ever receives its own pillar.
base:
  '*':
    - common
  'roles:controller':
    - match: grain
    - snmp
