# Written for halite tests: a requisite that is not a list.
e:
  test.nop:
    - require:
