base:
  '*':
    - services
    - services.extended
