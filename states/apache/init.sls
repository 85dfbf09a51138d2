# Salt's classic: the package, its configuration from salt://, and the
# service, restarted when the configuration changes.
apache:
  pkg.installed:
    - name: apache2
  service.running:
    - name: apache2
    - enable: True
    - watch:
      - pkg: apache
      - file: /etc/apache2/conf-available/halite.conf

/etc/apache2/conf-available/halite.conf:
  file.managed:
    - source: salt://apache/halite.conf
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pkg: apache
