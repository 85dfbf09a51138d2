{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import cronjobs with context %}
{%- set mapdata = {'values': cronjobs} %}

cronjobs-mapdata-dump:
  file.managed:
    - name: {{ cronjobs.dir }}/mapdata.yaml
    - contents: |
        {{ mapdata | yaml(False) | indent(8) }}
    - require:
      - file: cronjobs-config-dir
