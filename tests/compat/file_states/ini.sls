ROOT/app.ini:
  ini.options_present:
    - sections:
        loglevel: debug
        main:
          port: 8080
          host: example.org
          enabled: true
        extra:
          a: 1
ROOT/strict.ini:
  ini.options_present:
    - strict: True
    - sections:
        main:
          keep: 'yes'
ROOT/colon.ini:
  ini.options_present:
    - separator: ':'
    - no_spaces: True
    - sections:
        s:
          k: v
ROOT/absent.ini:
  ini.options_absent:
    - sections:
        main:
          - drop
          - missing
ROOT/none.ini:
  ini.options_present:
    - sections:
        main:
          same: '1'
