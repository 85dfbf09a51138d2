# Written for halite's tests: Salt's test state module, with requisites.
nop:
  test.nop
plain:
  test.succeed_without_changes:
    - comment: all good
changed:
  test.succeed_with_changes
failed:
  test.fail_without_changes:
    - comment: nope
failed_changed:
  test.fail_with_changes
configured_changed:
  test.configurable_test_state:
    - changes: True
    - result: True
    - comment: configured
configured_quiet:
  test.configurable_test_state:
    - changes: False
    - result: True
configured_failing:
  test.configurable_test_state:
    - changes: True
    - result: False
notified:
  test.show_notification:
    - text: hello there
after_changed:
  test.succeed_without_changes:
    - onchanges:
      - test: changed
after_plain:
  test.succeed_without_changes:
    - onchanges:
      - test: plain
rollback:
  test.succeed_with_changes:
    - onfail:
      - test: failed
needs_failed:
  test.nop:
    - require:
      - test: failed
