ROOT/dst/a.conf:
  file.copy:
    - source: ROOT/src.conf
    - makedirs: True
ROOT/kept.conf:
  file.copy:
    - source: ROOT/src.conf
ROOT/forced.conf:
  file.copy:
    - source: ROOT/src.conf
    - force: True
ROOT/mode.conf:
  file.copy:
    - source: ROOT/src.conf
    - mode: '0600'
ROOT/missing.conf:
  file.copy:
    - source: ROOT/nosuch.conf
