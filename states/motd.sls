# A file rendered from grains and pillar.
/etc/motd:
  file.managed:
    - contents: |
        {{ grains['id'] }} ({{ grains['os'] }} {{ grains['osrelease'] }}) is managed by halite.
        Contact: {{ pillar.get('admin_contact', 'root@localhost') }}
    - mode: '0644'
