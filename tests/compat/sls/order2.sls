# Written for halite tests: order and requisites together.
a:
  test.nop
b:
  test.nop:
    - require:
      - test: d
c:
  test.nop:
    - order: 5
d:
  test.nop
e:
  test.nop:
    - require_in:
      - test: a
f:
  test.nop:
    - order: 2
    - require:
      - test: g
g:
  test.nop
