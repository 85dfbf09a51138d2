# Written for halite tests: a requisite that is not a list.
b:
  test.nop
e:
  test.nop:
    - require: b
