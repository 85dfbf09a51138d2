# file.managed contents_pillar: the value at a colon-separated key, a
# list of keys joined by newlines, contents_newline, contents_delimiter.
ROOT/key.pem:
  file.managed:
    - contents_pillar: app:key
ROOT/joined:
  file.managed:
    - contents_pillar:
      - app:first
      - app:second
ROOT/nonewline:
  file.managed:
    - contents_pillar: app:first
    - contents_newline: False
ROOT/deep:
  file.managed:
    - contents_pillar: app|nested|0|v
    - contents_delimiter: '|'
ROOT/lines:
  file.managed:
    - contents_pillar: app:lines
ROOT/changed:
  file.managed:
    - contents_pillar: app:first
