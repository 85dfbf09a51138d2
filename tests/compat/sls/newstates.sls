# Every state function added for community formulas (issue #14 item 2):
# their names, arguments and order as Salt compiles them.
net.ipv4.ip_forward:
  sysctl.present:
    - value: 1
somaxconn:
  sysctl.present:
    - name: net.core.somaxconn
    - value: 1024
    - config: /etc/sysctl.d/60-halite-compat.conf
db.example.org:
  host.present:
    - ip:
      - 10.0.0.5
      - 10.0.0.6
    - comment: database
    - clean: True
old.example.org:
  host.absent:
    - ip: 10.0.0.7
/tmp/halite-compat/touched:
  file.touch:
    - makedirs: True
    - require:
      - host: db.example.org
/tmp/halite-compat/copy.conf:
  file.copy:
    - source: /tmp/halite-compat/touched
    - force: True
    - preserve: False
    - makedirs: True
    - mode: '0640'
/tmp/halite-compat/app.json:
  file.serialize:
    - formatter: json
    - merge_if_exists: True
    - dataset:
        port: 8080
        tags: [a, b]
/tmp/halite-compat/app.ini:
  ini.options_present:
    - separator: '='
    - strict: False
    - sections:
        main:
          port: 8080
/tmp/halite-compat/old.ini:
  ini.options_absent:
    - sections:
        main:
          - port
Europe/Paris:
  timezone.system:
    - utc: True
en_US.UTF-8:
  locale.present: []
system-locale:
  locale.system:
    - name: C.UTF-8
    - require:
      - locale: en_US.UTF-8
git-email:
  git.config_set:
    - name: user.email
    - value: ops@example.org
    - global: True
    - user: root
git-drop:
  git.config_unset:
    - name: 'foo\..+'
    - all: True
    - repo: /tmp/halite-compat/repo
