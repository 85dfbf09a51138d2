#!/usr/bin/env python3
"""Write tests/compat/pyyaml.json: the text Salt's YAML dumper writes.

Salt dumps YAML through PyYAML's libyaml emitter (`yaml.CSafeDumper`, in
`salt.utils.yamldumper` and `salt.serializers.yaml`). This writes, for data
built here (hand-picked values plus seeded random ones: long lines to fold,
quotes, line breaks, non-ASCII, words that read back as other types,
nested collections), the text each of Salt's three callers writes:

- `filter_flow` / `filter_block`: the `yaml` filter (`salt.utils.jinja`'s
  `format_yaml`, flow_style True / False);
- `serialize`: Salt's yaml serializer as `file.serialize` calls it
  (`default_flow_style=False`), and `serialize_mixed` / `serialize_ascii`
  as `slsutil.serialize` does by default (`default_flow_style=None`) and
  with `allow_unicode` left off; `serialize_indent4_unsorted` with
  `indent=4, sort_keys=False`.

halite's emitter (src/yaml/emit.rs) is checked against every case by the
unit test `yaml::emit::tests::writes_what_salt_writes`.

    /var/tmp/saltvenv/bin/python tests/compat/gen_pyyaml.py
"""

import json
import os
import random

import yaml

import salt.serializers.yaml as salt_yaml
import salt.utils.jinja
import salt.version

assert yaml.__with_libyaml__, "Salt dumps through libyaml: install PyYAML with it"

WORDS = [
    "a", "web01", "yes", "No", "on", "null", "~", "", " ", "1", "1.5", "1e3",
    "0x1F", "1:30", "2024-01-02", "true", "<<", "=", "-", "- a", "?", ": x",
    "a: b", "a #b", "#x", "x#y", "[a]", "{a}", "a,b", "'q'", '"dq"', "it's",
    "back\\slash", "tab\there", "line\nbreak", "two\n\nbreaks", "trail ",
    " lead", "trail\n", "\nlead", "space \nbreak", "break\n space", "héllo",
    "日本語", "emoji 😀", "nbsp\u00a0x", "bell\x07", "del\x7f", "bom\ufeff",
    "nel\x85x", "ls\u2028x", "---", "...", "--- x", "%x", "@x", "`x", "!x",
    "&x", "*x", "|x", ">x", "a:b", "http://x.example/a?b=c", "C:\\path",
    "50%", "a - b", "x: ", "key:", "*", "'", "\"", "\\", "\t", "\n", "\r",
]

LONG = [
    "word " * 20,
    ("word " * 20).strip(),
    "x" * 100,
    "a" * 79 + " " + "b" * 10,
    "a" * 80 + " " + "b" * 10,
    "a" * 81 + " " + "b" * 10,
    "a  b " * 30,
    "it's " * 25,
    ("it's " * 25).strip(),
    ("quote's and spaces  " * 6).strip(),
    "tab\t" + "word " * 20,
    "word " * 15 + "\n" + "more " * 15,
    "é" * 40 + " " + "ü" * 50 + " end",
    "\\" * 90 + " x " + "y" * 5,
    ("w" * 30 + " ") * 5 + "\x07",
    " " * 85 + "x",
    "x" + " " * 85 + "y",
]


def rand_text(rng):
    alphabet = "abcde fgh  ij'\":#,-?[]{}\\\t\né日😀"
    n = rng.choice([1, 3, 10, 40, 78, 80, 82, 120])
    return "".join(rng.choice(alphabet) for _ in range(n))


def rand_scalar(rng):
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(WORDS + LONG)
    if kind < 0.7:
        return rand_text(rng)
    if kind < 0.8:
        return rng.choice([0, 1, -7, 10**15, 2**63 - 1, True, False, None])
    return rng.choice([0.0, 1.5, -2.25, 1e16, 1.5e-5, 123456789.125, 1e-4, 3.0, 1e22])


def rand_value(rng, depth=0):
    kind = rng.random()
    if depth > 2 or kind < 0.45:
        return rand_scalar(rng)
    if kind < 0.7:
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [rng.choice(WORDS + LONG) if rng.random() < 0.5 else rand_text(rng)
            for _ in range(rng.randint(0, 4))]
    return {k: rand_value(rng, depth + 1) for k in keys}


def data_set():
    cases = [w for w in WORDS + LONG]
    cases += [[w for w in WORDS], {w: w for w in WORDS}, LONG, {w: w for w in LONG}]
    cases += [
        {"a": [1, 2, {"b": "c"}], "d": {"e": [], "f": {}}},
        [[1, [2, [3]]], {"k": {"k": {"k": "v"}}}],
        {"long key " * 15: "v", "k": "long value " * 10},
        {"": "empty key", "multi\nline key": 1},
        {"users": [{"name": "x" * 40, "groups": ["a" * 30, "b" * 30, "c" * 30]}]},
        [1.0, 0.5, 100.0, 1e16, -1e-7, 2.5e300],
    ]
    rng = random.Random(3008)
    cases += [rand_value(rng) for _ in range(200)]
    return cases


def main():
    out = []
    for value in data_set():
        out.append({
            "data": value,
            "filter_flow": salt.utils.jinja.SerializerExtension.format_yaml(None, value, True),
            "filter_block": salt.utils.jinja.SerializerExtension.format_yaml(None, value, False),
            "serialize": salt_yaml.serialize(value, default_flow_style=False, allow_unicode=True),
            "serialize_mixed": salt_yaml.serialize(value),
            "serialize_ascii": salt_yaml.serialize(value, default_flow_style=False),
            "serialize_indent4_unsorted": salt_yaml.serialize(
                value, default_flow_style=False, indent=4, sort_keys=False),
        })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyyaml.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"salt": salt.version.__version__, "pyyaml": yaml.__version__,
                   "cases": out}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(out)} cases -> {path}")


if __name__ == "__main__":
    main()
