# Written for halite tests: definition order, `order`, and requisites.
first:
  test.nop
needs_later:
  test.nop:
    - require:
      - test: later
later:
  test.nop
pinned_last:
  test.nop:
    - order: last
pinned_first:
  test.nop:
    - order: 1
