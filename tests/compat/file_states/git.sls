email:
  git.config_set:
    - name: user.email
    - value: ops@example.org
    - repo: ROOT/repo
changed:
  git.config_set:
    - name: halite.a
    - value: new
    - repo: ROOT/repo
same:
  git.config_set:
    - name: halite.a
    - value: new
    - repo: ROOT/repo
multi:
  git.config_set:
    - name: halite.m
    - multivar: ['3', '4']
    - repo: ROOT/repo
drop:
  git.config_unset:
    - name: 'foo\..+'
    - all: True
    - repo: ROOT/repo
none:
  git.config_unset:
    - name: nosuch.key
    - repo: ROOT/repo
