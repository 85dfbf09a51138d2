{#- Written here: every requisite form, include/extend, conditions. #}
{%- set root = salt['pillar.get']('services:root', '/srv/halite-compat/services') %}
{%- set conf = salt['pillar.get']('services:conf', {}) %}

services-root:
  file.directory:
    - name: {{ root }}
    - makedirs: True

services-conf:
  file.managed:
    - name: {{ root }}/app.conf
    - contents: |
        {%- for k, v in conf | dictsort %}
        {{ k }} = {{ v }}
        {%- endfor %}
    - require:
      - file: services-root
    - watch_in:
      - cmd: services-reload

services-motd:
  file.managed:
    - name: {{ root }}/motd
    - contents: {{ ("welcome to %s" % grains['os']) | yaml_dquote }}
    - require_in:
      - file: services-link

services-link:
  file.symlink:
    - name: {{ root }}/motd.link
    - target: {{ root }}/motd

services-notes:
  file.managed:
    - name: {{ root }}/notes
    - contents: 'listen here'
    - replace: False
    - require:
      - file: services-root

services-line:
  file.line:
    - name: {{ root }}/notes
    - content: '# managed below'
    - mode: ensure
    - before: '^listen'
    - require:
      - file: services-notes

services-reload:
  cmd.run:
    - name: 'echo reloaded > {{ root }}/reloaded'
    - onchanges:
      - file: services-conf

services-seed:
  cmd.run:
    - name: 'echo seeded > {{ root }}/seeded'
    - creates: {{ root }}/seeded
    - require:
      - file: services-root

services-check:
  cmd.run:
    - name: 'true'
    - unless: 'test -e {{ root }}/seeded'
    - onfail:
      - cmd: services-seed

services-cron:
  service.running:
    - name: cron
    - enable: True
    - listen:
      - file: services-conf
