services:
  conf:
    listen: 127.0.0.1
    port: 8080
    workers: 4
