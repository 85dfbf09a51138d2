{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import cronjobs with context %}
{%- set sls_package_installed = tplroot ~ '.package' %}

include:
  - {{ sls_package_installed }}

cronjobs-config-dir:
  file.directory:
    - name: {{ cronjobs.dir }}
    - makedirs: True
    - mode: '0755'

cronjobs-config-file-managed:
  file.managed:
    - name: {{ cronjobs.config }}
    - source:
      - salt://{{ tplroot }}/files/{{ grains['os_family'] }}/cron.jinja
      - salt://{{ tplroot }}/files/default/cron.jinja
    - template: jinja
    - mode: '0644'
    - user: {{ cronjobs.user }}
    - context:
        cronjobs: {{ cronjobs | json }}
    - require:
      - pkg: cronjobs-package-installed
      - file: cronjobs-config-dir
