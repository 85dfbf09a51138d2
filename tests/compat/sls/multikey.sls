# Items holding more than one key (a mis-indented `- context:`), and
# extra arguments that file.managed hands to its template.
multikey-conf:
  file.managed:
    - name: /tmp/halite-compat-multikey.conf
    - source: salt://multikey.conf.jinja
    - template: jinja
    - context:
      port: 8080
    - bind_addr: 127.0.0.1
    - mode: '0644'
      makedirs: True
