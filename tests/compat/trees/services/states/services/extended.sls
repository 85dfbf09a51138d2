include:
  - services

extend:
  services-motd:
    file.managed:
      - mode: '0644'
  services-cron:
    service.running:
      - require:
        - file: services-link

services-after:
  test.succeed_without_changes:
    - name: all done
    - require:
      - sls: services
