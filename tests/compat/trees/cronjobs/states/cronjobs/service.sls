{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import cronjobs with context %}

include:
  - {{ tplroot }}.config

cronjobs-service-running:
  service.running:
    - name: {{ cronjobs.service }}
    - enable: True
    - watch:
      - file: cronjobs-config-file-managed
