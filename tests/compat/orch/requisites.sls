# Written for halite's tests: requisites between orchestration steps.
changed:
  test.succeed_with_changes
unchanged:
  test.succeed_without_changes
failed:
  test.fail_without_changes:
    - require:
      - test: changed
after_failed:
  test.nop:
    - require:
      - test: failed
rollback:
  test.succeed_with_changes:
    - onfail:
      - test: failed
no_rollback:
  test.succeed_without_changes:
    - onfail:
      - test: unchanged
on_changed:
  test.succeed_without_changes:
    - onchanges:
      - test: changed
on_unchanged:
  test.succeed_without_changes:
    - onchanges:
      - test: unchanged
any_ok:
  test.nop:
    - require_any:
      - test: failed
      - test: unchanged
all_failed:
  test.nop:
    - onfail_all:
      - test: failed
      - test: unchanged
watcher:
  test.succeed_without_changes:
    - watch:
      - test: changed
required_in:
  test.nop:
    - require_in:
      - test: last
last:
  test.fail_with_changes:
    - comment: custom words
