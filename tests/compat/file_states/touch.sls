ROOT/new/empty:
  file.touch:
    - makedirs: True
ROOT/exists:
  file.touch: []
ROOT/times:
  file.touch:
    - atime: 1700000000
    - mtime: 1700000000
