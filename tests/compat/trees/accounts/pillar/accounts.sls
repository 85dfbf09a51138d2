accounts:
  groups:
    hc-ops: {}
    hc-dev:
      gid: 4711
  users:
    hc-alice:
      fullname: Alice Example
      admin: true
      groups: [hc-ops, hc-dev]
    hc-bob:
      groups: [hc-dev]
  absent:
    - hc-mallory
