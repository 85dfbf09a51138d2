# Written for halite tests: a required state takes the place of the
# earliest state that requires it.
d:
  test.nop
a:
  test.nop:
    - order: 3
    - require:
      - test: b
e:
  test.nop:
    - order: 1
    - require:
      - test: f
b:
  test.nop
f:
  test.nop
h:
  test.nop:
    - require:
      - test: b
      - test: i
i:
  test.nop:
    - order: last
