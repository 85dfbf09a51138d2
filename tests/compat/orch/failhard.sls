# Written for halite's tests: failhard stops the rest.
first:
  test.succeed_without_changes
stopper:
  test.fail_without_changes:
    - failhard: True
never:
  test.succeed_with_changes
