base:
  '*':
    - services
