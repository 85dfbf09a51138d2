# Written for halite's tests: order and requisites decide the run order.
z_first:
  test.nop:
    - order: 1
b_second:
  test.succeed_with_changes:
    - require:
      - test: c_needed
c_needed:
  test.succeed_without_changes
a_last:
  test.nop:
    - order: last
