#!/usr/bin/env python3
"""Generate tests/compat/file_states.json: what Salt's own apply returns for
the state functions whose work is paths (file.touch, file.copy,
file.serialize, ini.options_present/absent, file.directory (clean,
recurse, symlinks and files in the way),
file.managed's contents_pillar, file.comment and file.uncomment (the
`comment` case: the NAME.bak copies they leave are among the files)), run
against a temporary directory only.

Each case is tests/compat/file_states/NAME.sls, in which ROOT stands for
the case's temporary directory; NAME.setup.json (optional) lists the files
made there first ({relative path: content}), NAME.links.json (optional)
the symbolic links made after them ({relative path: target}),
NAME.pillar.json (optional) the pillar. The generator runs `state.sls NAME test=True`, then
`state.sls NAME` twice, and records each run's states (ID -> result,
changes, comment; ROOT put back for the directory) and the files left
(relative path -> content, mode), and every path's type, mode and owner.

    /var/tmp/saltvenv/bin/python tests/compat/gen_file_states.py

tests/file_states.rs runs the same cases through halite with a local
host and requires the same results, or the difference the README lists.
"""
import grp
import json
import os
import pathlib
import pwd
import tempfile

import saltcall

HERE = pathlib.Path(__file__).resolve().parent
CASES = HERE / "file_states"


def states(ret, root):
    """ID -> {result, changes, comment}, the temporary path put back; the
    list of paths `clean` removed sorted (Salt builds it from a set)."""
    out = {}
    for v in ret.values():
        changes = dict(v["changes"])
        if isinstance(changes.get("removed"), list):
            changes["removed"] = sorted(changes["removed"])
        text = json.dumps({"result": v["result"], "changes": changes,
                           "comment": v["comment"]})
        out[v["__id__"].replace(root, "ROOT")] = json.loads(text.replace(root, "ROOT"))
    return out


def files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = pathlib.Path(dirpath) / n
            out[str(p.relative_to(root))] = {
                "content": p.read_text(),
                "mode": oct(p.stat().st_mode & 0o7777),
            }
    return out


def tree(root):
    """Every path under root (a link not followed) -> "TYPE MODE USER:GROUP"."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:
            p = pathlib.Path(dirpath) / n
            st = p.lstat()
            kind = "link" if p.is_symlink() else "dir" if p.is_dir() else "file"
            mode = "-" if kind == "link" else oct(st.st_mode & 0o7777)
            out[str(p.relative_to(root))] = (
                f"{kind} {mode} {pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}")
    return out


def run_case(sls: pathlib.Path):
    setup = sls.with_suffix(".setup.json")
    links = sls.with_suffix(".links.json")
    pillar = sls.with_suffix(".pillar.json")
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as salt_dir:
        root = os.path.realpath(tmp)
        if setup.exists():
            for rel, content in json.loads(setup.read_text()).items():
                (pathlib.Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
                (pathlib.Path(root) / rel).write_text(content)
        if links.exists():
            for rel, target in json.loads(links.read_text()).items():
                (pathlib.Path(root) / rel).symlink_to(target)
        src = pathlib.Path(salt_dir) / "in"
        src.mkdir()
        (src / sls.name).write_text(sls.read_text().replace("ROOT", root))
        etc = saltcall.minion(pathlib.Path(salt_dir) / "minion", [src / sls.name],
                              pillar=json.loads(pillar.read_text()) if pillar.exists() else None)
        runs = [states(saltcall.call(etc, "state.sls", sls.stem, *args), root)
                for args in (["test=True"], [], [])]
        return {"runs": runs, "files": files(root), "tree": tree(root)}


def main():
    cases = {sls.stem: run_case(sls) for sls in sorted(CASES.glob("*.sls"))}
    doc = {"salt_version": saltcall.version(), "cases": cases}
    (HERE / "file_states.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
