# file.comment / file.uncomment (tests/file_states.rs, gen_file_states.py).
# The states that fail come first: halite's test=True decides a failing
# plan after the changes planned before it (they might make it pass).
missing match:
  file.comment:
    - name: ROOT/plain.conf
    - regex: ^nothing here$
uncomment missing match:
  file.uncomment:
    - name: ROOT/plain.conf
    - regex: ^absent
missing file:
  file.comment:
    - name: ROOT/nosuch.conf
    - regex: ^x
indented line:
  file.comment:
    - name: ROOT/indented.conf
    - regex: indented
    - backup: False
ignore missing:
  file.comment:
    - name: ROOT/plain.conf
    - regex: ^nothing here
    - ignore_missing: True
comment a line:
  file.comment:
    - name: ROOT/redis.conf
    - regex: ^bind 127.0.0.1
already commented:
  file.comment:
    - name: ROOT/nginx.conf
    - regex: ^listen 80$
    - backup: False
anchored both ends:
  file.comment:
    - name: ROOT/anchors.conf
    - regex: ^foo = 1$
several lines:
  file.comment:
    - name: ROOT/several.conf
    - regex: ^opt
    - backup: .orig
semicolon:
  file.comment:
    - name: ROOT/php.ini
    - regex: ^extension=gd
    - char: ';'
uncomment a line:
  file.uncomment:
    - name: ROOT/adduser.conf
    - regex: EXTRA_GROUPS
uncomment with a space:
  file.uncomment:
    - name: ROOT/space.conf
    - regex: ^EXTRA_USERS
    - backup: False
uncomment slashes:
  file.uncomment:
    - name: ROOT/app.js
    - regex: debug = true;$
    - char: //
no final newline:
  file.comment:
    - name: ROOT/nonl.conf
    - regex: ^foo
