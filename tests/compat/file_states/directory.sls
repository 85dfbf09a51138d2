# file.directory's recurse (user, group, mode with file_mode/dir_mode,
# max_depth, ignore_files, silent, children_only) and what stands where
# the directory goes (allow_symlink, follow_symlinks, force, backupname).
# Refused (first: a state after others that change something waits for
# them in halite's test=True).
ROOT/nl:
  file.directory:
    - allow_symlink: False
ROOT/pf:
  file.directory: []
ROOT/r:
  file.directory:
    - user: nobody
    - group: nogroup
    - dir_mode: 750
    - file_mode: '0600'
    - recurse:
      - user
      - group
      - mode
ROOT/m:
  file.directory:
    - mode: 700
    - max_depth: 1
    - recurse: [mode]
ROOT/c:
  file.directory:
    - dir_mode: '0711'
    - file_mode: '0640'
    - children_only: True
    - recurse: [mode]
ROOT/i:
  file.directory:
    - dir_mode: '0750'
    - recurse: [mode, ignore_files]
ROOT/s:
  file.directory:
    - user: nobody
    - recurse: [user, silent]
ROOT/new/deeper:
  file.directory:
    - makedirs: True
    - user: nobody
    - dir_mode: 701
# A link to a directory is the directory (allow_symlink), its own owner
# and not its mode checked unless follow_symlinks.
ROOT/lnk:
  file.directory:
    - mode: 700
    - group: nogroup
ROOT/lnk2:
  file.directory:
    - mode: 700
    - follow_symlinks: True
ROOT/fl:
  file.directory:
    - allow_symlink: False
    - force: True
ROOT/ff:
  file.directory:
    - force: True
ROOT/bf:
  file.directory:
    - backupname: ROOT/bf.bak
ROOT/j:
  file.directory:
    - dir_mode: '0750'
    - file_mode: '0640'
    - recurse: [mode, ignore_dirs]
ROOT/bb:
  file.directory:
    - backupname: ROOT/bb.bak
    - force: True
