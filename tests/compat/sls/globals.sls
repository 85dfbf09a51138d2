# Global arguments: state.show_sls shows them beside the function's own.
globals-cmd:
  cmd.run:
    - name: echo hi
    - runas: root
    - unless: "true"
    - onlyif:
      - "true"
    - creates: /nonexistent/halite-compat
    - failhard: False
    - retry:
        attempts: 2
        interval: 1
globals-file:
  file.managed:
    - name: /tmp/halite-compat-globals
    - contents: x
    - check_cmd: "true"
globals-reload:
  test.succeed_without_changes:
    - reload_modules: True
