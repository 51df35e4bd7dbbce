#!/usr/bin/env python3
"""Checks Runnel's protocol schema files against Apache Kafka's JSON definitions.

    python3 tools/protocol_gen/check_schema.py [--kafka-dir DIR] [--schema-dir DIR]

For every lib/protocol/schema/<api>.schema it loads <Api>Request.json and
<Api>Response.json from the Kafka message directory (by default
../shared/kafka-protocol/message next to the repository) and compares, within
the versions the file says Runnel speaks:

  - the API key, that our versions lie inside Kafka's validVersions, and the
    first flexible version;
  - every field, recursively, in requests, responses and common structs
    (`struct Name` blocks): snake_case name, type, versions, nullable
    versions, tag and tagged versions, default, and the wire order of the
    untagged fields;
  - that no field Kafka has in those versions is missing and no field is extra.

Versions are compared after intersecting both sides with the versions in which
the field can be on the wire at all (the API's range, narrowed by each
enclosing field), so "0+" and "3+" are the same thing in an API spoken from v3.
errors.schema is checked for unique codes and names and for gaps, and the
error_codes an API file lists must exist there.

Every mismatch is printed as "path:line: what"; the exit status is 1 if there
was any. The Kafka files are reference data that a user's clone does not
have, so a missing directory is a skip (exit 0), not a failure. Standard
library only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema  # noqa: E402  (tools/protocol_gen/schema.py, next to this file)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_KAFKA_DIR = os.path.join(REPO_ROOT, "..", "shared", "kafka-protocol", "message")
DEFAULT_SCHEMA_DIR = os.path.join(REPO_ROOT, "lib", "protocol", "schema")

# A version range as (lo, hi); hi None is open ended. None is the empty range.
Range = tuple  # (int, int | None)


def parse_range(text) -> Range | None:
    """Kafka's "3+", "0-7", "5" or "none"."""
    text = str(text).strip()
    if text == "none" or text == "":
        return None
    m = re.fullmatch(r"(\d+)\+", text)
    if m:
        return (int(m.group(1)), None)
    m = re.fullmatch(r"(\d+)-(\d+)", text)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"\d+", text)
    if m:
        return (int(text), int(text))
    raise ValueError(f"bad version range '{text}'")


def intersect(a: Range | None, b: Range | None) -> Range | None:
    if a is None or b is None:
        return None
    lo = max(a[0], b[0])
    if a[1] is None:
        hi = b[1]
    elif b[1] is None:
        hi = a[1]
    else:
        hi = min(a[1], b[1])
    if hi is not None and hi < lo:
        return None
    return (lo, hi)


def ours(vr: schema.VersionRange | None) -> Range | None:
    return None if vr is None else (vr.lo, vr.hi)


def show(r: Range | None) -> str:
    if r is None:
        return "none"
    lo, hi = r
    if hi is None:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def snake_case(name: str) -> str:
    """Kafka's CamelCase field names to ours: ApiKeys -> api_keys,
    ThrottleTimeMs -> throttle_time_ms, timeoutMs -> timeout_ms,
    ResultsByTopicV3AndBelow -> results_by_topic_v3_and_below."""
    out = []
    for i, c in enumerate(name):
        if c.isupper():
            prev = name[i - 1] if i else ""
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if i and (prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower())):
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


def strip_json_comments(text: str) -> str:
    """Removes // and /* */ comments outside string literals."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_kafka(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.loads(strip_json_comments(fh.read()))


def kafka_default(kf: dict) -> str | None:
    """Kafka's default in our literal syntax (strings quoted, null bare)."""
    if "default" not in kf:
        return None
    d = kf["default"]
    if isinstance(d, bool):
        return "true" if d else "false"
    if isinstance(d, (int, float)):
        return str(d)
    d = str(d)
    if d == "null":
        return "null"
    if kf["type"] in ("string", "uuid"):
        return json.dumps(d)
    if kf["type"] == "bool":
        return d.lower()
    return d


def same_default(kafka: str | None, mine: str | None, typ: str) -> bool:
    if kafka == mine:
        return True
    if kafka is None or mine is None:
        return False
    if typ in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        try:
            return int(kafka, 0) == int(mine, 0)
        except ValueError:
            return False
    if typ == "float64":
        try:
            return float(kafka) == float(mine)
        except ValueError:
            return False
    return False


class Checker:
    def __init__(self, kafka_dir: str, schema_dir: str):
        self.kafka_dir = kafka_dir
        self.schema_dir = schema_dir
        self.mismatches: list[str] = []
        self.apis = 0
        self.fields = 0

    def report(self, path: str, line: int, what: str) -> None:
        self.mismatches.append(f"{os.path.relpath(path, REPO_ROOT)}:{line}: {what}")

    # -- one API ----------------------------------------------------------

    def check_api(self, path: str) -> schema.Api | None:
        try:
            api = schema.parse_file(path)
        except schema.SchemaError as e:
            self.mismatches.append(f"{os.path.relpath(e.path, REPO_ROOT)}:{e.line}: {e.what}")
            return None
        self.apis += 1
        self.path = path
        with open(path, encoding="utf-8") as fh:
            self.lines = fh.read().splitlines()
        api_line = self.find_line(r"api\s")
        if os.path.basename(path) != snake_case(api.name) + ".schema":
            self.report(path, api_line, f"file for {api.name} should be named {snake_case(api.name)}.schema")
        spoken = (api.min_version, api.max_version)
        flex_seen = []
        for msg in (api.request, api.response):
            kpath = os.path.join(self.kafka_dir, f"{api.name}{msg.kind.capitalize()}.json")
            section_line = self.find_line(rf"{msg.kind}\s*(#.*)?$")
            if not os.path.exists(kpath):
                self.report(path, section_line, f"no Kafka definition {os.path.basename(kpath)}")
                continue
            try:
                k = load_kafka(kpath)
            except (OSError, ValueError) as e:
                self.report(path, section_line, f"cannot read {kpath}: {e}")
                continue
            if k.get("type") != msg.kind:
                self.report(path, section_line, f"{os.path.basename(kpath)} is a {k.get('type')}, not a {msg.kind}")
            if k.get("apiKey") != api.key:
                self.report(path, api_line, f"api key {api.key}, Kafka {msg.name} has {k.get('apiKey')}")
            valid = parse_range(k["validVersions"])
            if intersect(valid, spoken) != spoken:
                self.report(path, api_line, f"versions {show(spoken)} not inside Kafka's "
                                            f"validVersions {show(valid)} ({msg.name})")
            kflex = intersect(parse_range(k.get("flexibleVersions", "none")), spoken)
            flex_seen.append(kflex[0] if kflex else None)
            self.check_fields(msg.fields, k.get("fields", []), spoken, msg.name, section_line,
                              k, msg)
            self.check_structs(msg, k, spoken, section_line)
        mine_flex = api.first_flexible if api.first_flexible is not None and \
            api.first_flexible <= api.max_version else None
        mine_flex = None if mine_flex is None else max(mine_flex, api.min_version)
        for kflex in set(flex_seen):
            if kflex != mine_flex:
                self.report(path, api_line, f"first flexible version {mine_flex if mine_flex is not None else 'none'}, "
                                            f"Kafka: {kflex if kflex is not None else 'none'} in our versions")
        return api

    def find_line(self, pattern: str) -> int:
        for no, text in enumerate(self.lines, start=1):
            if re.match(pattern, text):
                return no
        return 1

    # -- fields -------------------------------------------------------------

    def check_fields(self, mine: list[schema.Field], kafka: list[dict], eff: Range, owner: str,
                     owner_line: int, kmsg: dict, msg: schema.Message) -> None:
        """Compares two field lists whose enclosing field is on the wire in `eff`."""
        by_name = {f.name: f for f in mine}
        matched: list[tuple[dict, schema.Field]] = []
        kafka_names = set()
        for kf in kafka:
            name = snake_case(kf["name"])
            kafka_names.add(name)
            kv = intersect(parse_range(kf["versions"]), eff)
            f = by_name.get(name)
            if kv is None:
                if f is not None and intersect(ours(f.versions), eff) is not None:
                    self.report(self.path, f.line, f"{owner}.{name}: Kafka has {kf['name']} only in "
                                                   f"versions {kf['versions']}, outside {show(eff)}")
                continue
            self.fields += 1
            if f is None:
                self.report(self.path, owner_line, f"{owner}: missing field {name} ({kf['name']} "
                                                   f"{kf['type']} {show(kv)})")
                continue
            matched.append((kf, f))
            self.check_field(f, kf, kv, eff, owner, kmsg, msg)
        for f in mine:
            if f.name not in kafka_names:
                self.report(self.path, f.line, f"{owner}.{f.name}: no such field in Kafka's definition")
        # Untagged fields travel in declaration order.
        korder = [f.name for kf, f in matched if "tag" not in kf]
        morder = [f.name for f in mine if f.tag is None and f.name in korder]
        if korder != morder:
            first = next(i for i, (a, b) in enumerate(zip(korder, morder)) if a != b)
            f = by_name[morder[first]]
            self.report(self.path, f.line, f"{owner}: untagged fields out of wire order; Kafka has "
                                           f"{', '.join(korder)}")

    def check_field(self, f: schema.Field, kf: dict, kv: Range, eff: Range, owner: str,
                    kmsg: dict, msg: schema.Message) -> None:
        where = f"{owner}.{f.name}"
        line = f.line
        if f.type != kf["type"]:
            self.report(self.path, line, f"{where}: type {f.type}, Kafka {kf['type']}")
        mv = intersect(ours(f.versions), eff)
        if mv != kv:
            self.report(self.path, line, f"{where}: versions {show(mv)}, Kafka {kf['versions']} "
                                         f"(= {show(kv)} here)")
        field_eff = kv  # where the field itself is on the wire
        kn = intersect(parse_range(kf.get("nullableVersions", "none")), field_eff)
        mn = intersect(ours(f.nullable), field_eff)
        if kn != mn:
            self.report(self.path, line, f"{where}: nullable {show(mn)}, Kafka "
                                         f"{kf.get('nullableVersions', 'none')} (= {show(kn)} here)")
        ktag = kf.get("tag")
        if ktag != f.tag:
            self.report(self.path, line, f"{where}: tag {f.tag}, Kafka {ktag}")
        if ktag is not None:
            ktv = intersect(parse_range(kf.get("taggedVersions", "none")), eff)
            if ktv != mv:
                self.report(self.path, line, f"{where}: tagged in {show(mv)}, Kafka taggedVersions "
                                             f"{kf.get('taggedVersions')} (= {show(ktv)} here)")
        elif "taggedVersions" in kf:
            self.report(self.path, line, f"{where}: Kafka has taggedVersions without a tag")
        if "flexibleVersions" in kf and intersect(parse_range(kf["flexibleVersions"]), field_eff) != \
                intersect(parse_range(kmsg.get("flexibleVersions", "none")), field_eff):
            self.report(self.path, line, f"{where}: Kafka overrides flexibleVersions "
                                         f"({kf['flexibleVersions']}), which our grammar cannot say")
        kd = kafka_default(kf)
        if not same_default(kd, f.default, f.type):
            self.report(self.path, line, f"{where}: default {f.default if f.default is not None else '(none)'}, "
                                         f"Kafka {kd if kd is not None else '(none)'}")
        # Nested fields: inline on both sides, or a common struct on both sides.
        elem = kf["type"][2:] if kf["type"].startswith("[]") else kf["type"]
        if "fields" in kf:
            if not f.fields:
                self.report(self.path, line, f"{where}: Kafka defines {elem}'s fields inline here, "
                                             f"we use a struct block")
            else:
                self.check_fields(f.fields, kf["fields"], field_eff, elem, line, kmsg, msg)
        elif elem[:1].isupper():
            common = {c["name"] for c in kmsg.get("commonStructs", [])}
            if elem not in common:
                self.report(self.path, line, f"{where}: Kafka has no fields and no common struct {elem}")
            elif f.fields:
                self.report(self.path, line, f"{where}: {elem} is a Kafka common struct; "
                                             f"define it once in a 'struct {elem}' block")
                kfields = next(c["fields"] for c in kmsg["commonStructs"] if c["name"] == elem)
                self.check_fields(f.fields, kfields, field_eff, elem, line, kmsg, msg)
        elif f.fields:
            self.report(self.path, line, f"{where}: sub-fields on a {kf['type']} field")

    def check_structs(self, msg: schema.Message, kmsg: dict, spoken: Range, section_line: int) -> None:
        commons = {c["name"]: c for c in kmsg.get("commonStructs", [])}
        used = set()

        def walk(fields: list[dict], eff: Range) -> None:
            for kf in fields:
                kv = intersect(parse_range(kf["versions"]), eff)
                if kv is None:
                    continue
                elem = kf["type"][2:] if kf["type"].startswith("[]") else kf["type"]
                if "fields" in kf:
                    walk(kf["fields"], kv)
                elif elem in commons and elem not in used:
                    used.add(elem)
                    walk(commons[elem]["fields"], spoken)

        walk(kmsg.get("fields", []), spoken)
        for name in used:
            s = msg.structs.get(name)
            if s is None:
                self.report(self.path, section_line, f"{msg.name}: missing 'struct {name}' block "
                                                     f"(a Kafka common struct)")
                continue
            self.check_fields(s.fields, commons[name]["fields"], spoken, name, s.line, kmsg, msg)
        for name, s in msg.structs.items():
            if name not in used:
                what = "not a Kafka common struct" if name not in commons else "not used in our versions"
                self.report(self.path, s.line, f"struct {name}: {what}")

    # -- errors.schema ---------------------------------------------------------

    def check_errors(self, path: str, known_names: dict[str, list[tuple[str, int]]]) -> None:
        codes: dict[int, int] = {}
        names: dict[str, int] = {}
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        entry = re.compile(r'\s*(-?\d+)\s+([A-Z][A-Z0-9_]*)\s+(retriable|fatal)\s+"((?:[^"\\]|\\.)*)"\s*(#.*)?$')
        for no, raw in enumerate(lines, start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            m = entry.fullmatch(raw)
            if not m:
                self.report(path, no, 'expected: CODE NAME retriable|fatal "message"')
                continue
            tokens = m.groups()
            code, name = int(tokens[0]), tokens[1]
            if code in codes:
                self.report(path, no, f"code {code} already used at line {codes[code]}")
            else:
                codes[code] = no
            if name in names:
                self.report(path, no, f"name {name} already used at line {names[name]}")
            else:
                names[name] = no
        if codes:
            for c in range(min(codes), max(codes) + 1):
                if c not in codes:
                    self.report(path, 1, f"no entry for code {c} (Kafka's codes are contiguous)")
        for name, uses in known_names.items():
            if name not in names:
                for api_path, line in uses:
                    self.report(api_path, line, f"error code {name} is not in errors.schema")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kafka-dir", default=DEFAULT_KAFKA_DIR,
                    help="Kafka's clients/src/main/resources/common/message (default: %(default)s)")
    ap.add_argument("--schema-dir", default=DEFAULT_SCHEMA_DIR, help="default: %(default)s")
    args = ap.parse_args(argv)
    kafka_dir = os.path.normpath(args.kafka_dir)
    if not os.path.isdir(kafka_dir):
        print(f"skipped: no Kafka definitions at {kafka_dir}")
        return 0
    c = Checker(kafka_dir, os.path.normpath(args.schema_dir))
    error_uses: dict[str, list[tuple[str, int]]] = {}
    files = sorted(glob.glob(os.path.join(c.schema_dir, "*.schema")))
    for path in files:
        if os.path.basename(path) == "errors.schema":
            continue
        api = c.check_api(path)
        if api is not None:
            for name in api.error_codes:
                error_uses.setdefault(name, []).append((path, c.find_line(r"error_codes")))
    errors_path = os.path.join(c.schema_dir, "errors.schema")
    if os.path.exists(errors_path):
        c.check_errors(errors_path, error_uses)
    else:
        c.report(errors_path, 1, "missing")
    for m in c.mismatches:
        print(m)
    print(f"checked {c.apis} APIs, {c.fields} fields, {len(c.mismatches)} mismatches")
    return 1 if c.mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
