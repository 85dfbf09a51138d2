# file.accumulated feeding a file.managed template and two blockreplace
# states of one file; @ROOT@ is the test's own directory.
animals:
  file.accumulated:
    - filename: @ROOT@/animals.txt
    - text:
      - ' jumps over'
      - ' the lazy dog.'
    - require_in:
      - file: animals-file

animals-again:
  file.accumulated:
    - name: animals
    - filename: @ROOT@/animals.txt
    - text: ' the lazy dog.'
    - require_in:
      - file: animals-file

colours:
  file.accumulated:
    - filename: @ROOT@/animals.txt
    - text: red
    - watch_in:
      - file: animals-file

animals-file:
  file.managed:
    - name: @ROOT@/animals.txt
    - source: salt://animals.jinja
    - template: jinja
    - context:
        colour: blue

hosts-a:
  file.accumulated:
    - filename: @ROOT@/block.txt
    - text:
      - 10.0.0.1 a
      - 10.0.0.2 b
    - require_in:
      - file: block-a

hosts-b:
  file.accumulated:
    - filename: @ROOT@/block.txt
    - text: 10.0.0.3 c
    - require_in:
      - file: block-b

block-base:
  file.managed:
    - name: @ROOT@/block.txt
    - replace: False
    - contents: |
        top
        # A start
        # A end
        # B start
        # B end

block-a:
  file.blockreplace:
    - name: @ROOT@/block.txt
    - marker_start: '# A start'
    - marker_end: '# A end'
    - content: first
    - require:
      - file: block-base

block-b:
  file.blockreplace:
    - name: @ROOT@/block.txt
    - marker_start: '# B start'
    - marker_end: '# B end'
    - require:
      - file: block-base

orphan:
  file.accumulated:
    - filename: @ROOT@/animals.txt
    - text: nobody reads this
