# file.directory clean: kept are what the file states it requires manage
# (require, and require_in of a file state), their parents, a required
# directory's whole tree; exclude_pat keeps its matches.
ROOT/d:
  file.directory:
    - clean: True
    - exclude_pat: '*.log'
    - require:
      - file: ROOT/d/sub/kept.conf
      - file: keepdir
ROOT/d/sub/kept.conf:
  file.managed:
    - contents: kept
    - makedirs: True
keepdir:
  file.directory:
    - name: ROOT/d/keepdir
ROOT/d/new.conf:
  file.managed:
    - contents: new
    - require_in:
      - file: ROOT/d
# No requisite: everything but the excluded goes.
ROOT/e:
  file.directory:
    - clean: True
    - exclude_pat: 'E@^keep'
