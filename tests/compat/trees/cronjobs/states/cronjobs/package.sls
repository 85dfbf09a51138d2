{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import cronjobs with context %}

cronjobs-package-installed:
  pkg.installed:
    - name: {{ cronjobs.pkg }}
