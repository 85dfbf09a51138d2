cronjobs:
  lookup:
    dir: /srv/halite-compat/cronjobs
  options:
    mailto: ops@example.com
  jobs:
    rotate:
      when: '17 3 * * *'
      cmd: /usr/bin/true rotate
    disabled:
      when: '@hourly'
      cmd: /usr/bin/true never
      enabled: false
    backup:
      when: '30 2 * * 0'
      user: nobody
      cmd: /usr/bin/true backup
