{%- from tpldir ~ "/map.jinja" import accounts with context %}
{%- for group, g in accounts.groups | dictsort %}
accounts-group-{{ group }}:
  group.present:
    - name: {{ group }}
    {%- if g.get('gid') %}
    - gid: {{ g.gid }}
    {%- endif %}
{%- endfor %}
