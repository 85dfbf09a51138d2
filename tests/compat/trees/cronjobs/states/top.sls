base:
  '*':
    - cronjobs
    - cronjobs._mapdata
