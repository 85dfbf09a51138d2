base:
  '*':
    - accounts
