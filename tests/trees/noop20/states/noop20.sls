# 20 states, every module; converges in one apply, then is a no-op.
{% set root = '/srv/halite-noop20' %}
sudo:
  pkg.installed: []

base-tools:
  pkg.installed:
    - pkgs: [procps, iproute2]

{{ root }}:
  file.directory:
    - mode: '0755'

{% for i in range(1, 6) %}
{{ root }}/f{{ i }}:
  file.managed:
    - contents: "file {{ i }} on {{ grains['id'] }}"
    - mode: '0644'
    - require:
      - file: {{ root }}
{% endfor %}

{{ root }}/motd:
  file.managed:
    - contents: "{{ grains['id'] }} runs {{ grains['os'] }} {{ grains['osrelease'] }}"

{{ root }}/link:
  file.symlink:
    - target: {{ root }}/f1

{{ root }}/sub:
  file.directory:
    - user: deploy
    - mode: '0750'

{{ root }}/gone:
  file.absent: []

cron:
  service.running:
    - enable: True
    - watch:
      - file: {{ root }}/f1

cron-enabled:
  service.enabled:
    - name: cron

deploy:
  user.present:
    - shell: /bin/bash

halite-noop:
  group.present: []

halite-noop-user:
  user.present:
    - name: halite-noop
    - groups: [halite-noop]
    - require:
      - group: halite-noop

say-hi:
  cmd.run:
    - name: echo hi
    - unless: 'true'

seed:
  cmd.run:
    - name: echo seeded > {{ root }}/seeded
    - creates: {{ root }}/seeded

on-f2-change:
  cmd.run:
    - name: echo f2 changed
    - onchanges:
      - file: {{ root }}/f2
