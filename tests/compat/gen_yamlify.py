#!/usr/bin/env python3
"""Write tests/compat/yamlify.json: how Salt reads each command-line word.

Every word goes through Salt's own `salt.utils.args.parse_input` (the
`key=value` split by KWARG_REGEX, then `yamlify_arg` on the value), so the
fixture is Salt's answer, not ours. halite's `Args::from_words` is checked
against it by the unit test `functions::tests::words_parse_like_salt`.

Run with the Salt release the fixture names (PyPI has it):

    python3 -m venv /var/tmp/saltvenv
    /var/tmp/saltvenv/bin/pip install salt==3008.3
    /var/tmp/saltvenv/bin/python tests/compat/gen_yamlify.py

A word whose Salt value has no JSON form (a date, NaN, infinity) is left
out: halite's values are JSON (integers fit 64 bits). Those words are listed in `skipped` with the
Python type Salt gave them.
"""

import json
import math
import os

import salt.utils.args
import salt.version

WORDS = [
    # plain text, commands
    "bash", "echo hi", "echo hi: there", "a, b", "a b c", "ls -l /tmp",
    "echo a=b c", "héllo", "a:b", "http://x.example/a?b=c",
    # booleans (YAML 1.1)
    "True", "true", "TRUE", "False", "false", "yes", "no", "Yes", "NO",
    "on", "off", "On", "OFF", "y", "n", "Y", "N",
    # null and the words Salt keeps
    "None", "none", "null", "Null", "NULL", "~", "", " ", "   ", "---",
    "...", "-", "!", "|", ">", "&a", "!!str 1", "!!int 1", "!!float 1",
    "!!python/name:os.system", "? a", "! 1", "!x", "!x a", "!!bool yes",
    "!!null ''", "!!int '1'", "!!str [a]", "[!!str 1, !!int 2]", "&a 1",
    "!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!!timestamp 2024-01-02",
    # numbers
    "0", "42", "-42", "+42", "042", "-042", "+042", "00", "0_7", "08",
    "0o17", "0x1F", "0b101", "0b_", "0x", "-0x1F", "1_0:30", "0:30",
    "123456789012345678901234567890", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "1.e+3", "1_0.5_0",
    "190:20:30.15", "-1:30.5", "1e400",
    "1_000", "1_0_0", "_1", "1_", "1_000.5", "1__0", " 1_000 ", "1.5",
    "1.", ".5", "-.5", "1e3", "1.0e3", "1e+3", "1.0e+3", "1.0E-3",
    "1:30", "190:20:30", "-1:30", "12345678901234567890",
    "3.14159265358979323846", "1,000", "5.2", "1.10", "007",
    # dates and non-finite floats (no JSON form: skipped)
    "2024-01-02", "2024-01-02 10:00:00", "2024-01-02T10:00:00Z",
    ".inf", "-.inf", ".nan", ".NaN",
    # flow collections and what only looks like them
    "[a, b]", "[1, 2]", "[]", "{}", "{a: 1}", "{a: [1, {b: c}]}",
    "[a, b", "{a: 1", "[a, b] c", "[a]x", " [a]", "[a] ", " {a: 1}",
    "a: 1", "a: [unclosed", "- a", "- 1", "a: b: c", ":", "a:", ":a",
    "{a: 1, a: 2}", "[a, {b: 1}]", "{x}", "[1, 2]]", "[yes, 0x1F, 1:30, ~]",
    "{on: off}", "{a: 0o17}", "[1e3, 1.0e+3, .5, -.5]", "[&x a, *x]",
    "{'a': b}", '{"a":b}', "[a,b]", "{a:b}", "[ a , b ]", "[-1, +1, 042]",
    # quoting
    "'quoted'", '"dq"', '"a\\nb"', '"a\\tb"', "'it''s'", '""', "''",
    "'1'", '"True"', "'a' b", '"unterminated', "'unterminated",
    # '#': a comment in YAML, content in a command
    "#", "# x", "#x", "a # b", "a#b", "1 # one", "1#one",
    "True # yes", "[1, 2] # list", "{a: 1} # map", "a: 1 # c",
    "- a # c", "'#'", '"#x"', "#!/bin/sh", "echo hi # comment",
    "echo '#'", "  # x", "~ # nothing", "[a, #b]",
    # whitespace: leading, trailing, and the non-printable ones
    " a", "a ", " 1", "1 ", "  42  ", " True", "\t1", "1\t", "1\n", "\n1",
    "a\nb", "echo a\necho b", "echo a\n\necho b", "a\r\nb", "a\rb",
    "\ttab", "a\tb", "\n", "\t", "\r", "a: 1\nb: 2", "[1,\n2]",
    "- a\n- b", "#a\nb", "echo 'x'\n", "echo a # c\necho b",
    # YAML indicators and odd starts
    "%x", "@x", "`x", "*", "&", "*alias", "-1", "-a", "--", "--x", "=",
    "==", "a==b", "!x", "!!", "|\n a", ">\n a", "? ", ",", "[", "]",
    "{", "}", "'", '"', "\\", "a\\nb",
    # key=value words
    "a=1", "a=True", "a=", "a==b", "a=b=c", "_a=1", "1a=2", "a.b=1",
    "a-b=1", "é=1", "A=1", "a b=1", "a=x\ny", "a=x\n", "a=\nx",
    "key=# c", "a=[1, 2]", "a=a: 1", "a= 1", "a=1 ", "=1", "-a=1",
    "name=echo a\necho b", "cmd=echo hi # c", "a=None", "a=''",
    "a=~", "a=yes", "a=0x1F", "a=1_000", "a=[1, 2] # c", "a= # c",
    "version=1.10", "n=007", "pkgs=[{bash: 5.2}]", "x=[1, 2]",
]


def jsonable(value):
    """True when `value` has an exact JSON form."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and jsonable(v) for k, v in value.items())
    return False


def main():
    cases, skipped = [], []
    for word in dict.fromkeys(WORDS):  # once each, in order
        args, kwargs = salt.utils.args.parse_input([word], condition=False)
        if jsonable(args) and jsonable(kwargs):
            cases.append({"word": word, "args": args, "kwargs": kwargs})
        else:
            kinds = sorted({type(v).__name__ for v in list(args) + list(kwargs.values())})
            skipped.append({"word": word, "salt_types": kinds})
    out = {
        "generator": "tests/compat/gen_yamlify.py",
        "salt": salt.version.__version__,
        "function": "salt.utils.args.parse_input([word], condition=False)",
        "cases": cases,
        "skipped": skipped,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yamlify.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    print(f"{path}: {len(cases)} cases, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
