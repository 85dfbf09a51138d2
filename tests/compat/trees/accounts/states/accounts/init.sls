include:
  - accounts.groups
  - accounts.users
