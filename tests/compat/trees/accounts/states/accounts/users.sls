{%- from tpldir ~ "/map.jinja" import accounts with context %}
include:
  - accounts.groups

accounts-home-base:
  file.directory:
    - name: {{ accounts.home_base }}
    - mode: '0755'
    - makedirs: True

{%- for name, user in accounts.get('users', {}) | dictsort %}
{%-   set home = user.get('home', '%s/%s' % (accounts.home_base, name)) %}
{%-   set groups = user.get('groups', []) | list %}
{%-   if user.get('admin') %}{% do groups.append(accounts.sudo_group) %}{% endif %}

accounts-user-{{ name }}:
  user.present:
    - name: {{ name }}
    - home: {{ home }}
    - shell: {{ user.get('shell', accounts.admin_shell if user.get('admin') else accounts.shell) }}
    - fullname: {{ user.get('fullname', name.capitalize()) }}
    {%- if groups %}
    - groups: {{ groups | unique | list | json }}
    {%- endif %}
    - require:
      - file: accounts-home-base
      {%- for g in groups if g in accounts.groups %}
      - group: accounts-group-{{ g }}
      {%- endfor %}

accounts-user-{{ name }}-profile:
  file.managed:
    - name: {{ home }}/.profile-halite
    - user: {{ name }}
    - mode: '0640'
    - contents: |
        # {{ "%-10s|%5s" % (name, user.get('uid', '-')) }}
        export PS1='{{ name | upper }}$ '
    - require:
      - user: accounts-user-{{ name }}
{%- endfor %}

{%- for name in accounts.absent %}

accounts-user-{{ name }}-absent:
  user.absent:
    - name: {{ name }}
{%- endfor %}
