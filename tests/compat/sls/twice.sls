# Written for halite tests: an argument given twice.
a:
  file.managed:
    - name: /tmp/x
    - mode: '0644'
    - mode: '0600'
b:
  test.nop
c:
  test.nop
d:
  test.nop:
    - require:
      - test: b
    - require:
      - test: c
