base:
  '*':
    - noop20
