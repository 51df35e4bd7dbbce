"""Parser for Runnel's Kafka protocol schema files (lib/protocol/schema/).

The grammar is described in lib/protocol/schema/README.md. This module only
parses and checks the files' own consistency; gen.py turns the result into
C++ and check_schema.py compares it with Apache Kafka's JSON definitions.
Standard library only: it runs at build time on a bare Debian python3.

    api = parse_file("lib/protocol/schema/produce.schema")
    for f in api.request.fields:
        print(f.name, f.type, f.versions)

Every error is a SchemaError whose message starts with "path:line:" so that
editors and CI logs can jump to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field

PRIMITIVES = frozenset([
    "bool", "int8", "int16", "int32", "int64", "uint16", "uint32", "float64",
    "string", "bytes", "records", "uuid",
])
# Types whose value may be null on the wire (besides arrays and structs).
NULLABLE_PRIMITIVES = frozenset(["string", "bytes", "records"])

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_STRUCT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_VERSIONS = re.compile(r"^(\d+)(?:(\+)|-(\d+))?$")
_INT = re.compile(r"^-?\d+$")


class SchemaError(Exception):
    """A malformed schema file; str() is "path:line: what"."""

    def __init__(self, path: str, line: int, what: str):
        super().__init__(f"{path}:{line}: {what}")
        self.path = path
        self.line = line
        self.what = what


@dataclass
class VersionRange:
    lo: int
    hi: int | None  # None: open ended ("3+")

    def contains(self, v: int) -> bool:
        return v >= self.lo and (self.hi is None or v <= self.hi)

    def intersect(self, lo: int, hi: int | None) -> VersionRange | None:
        """The versions in both this range and [lo, hi]; None when empty."""
        new_lo = max(self.lo, lo)
        if self.hi is None:
            new_hi = hi
        elif hi is None:
            new_hi = self.hi
        else:
            new_hi = min(self.hi, hi)
        if new_hi is not None and new_hi < new_lo:
            return None
        return VersionRange(new_lo, new_hi)

    def __str__(self) -> str:
        if self.hi is None:
            return f"{self.lo}+"
        if self.hi == self.lo:
            return str(self.lo)
        return f"{self.lo}-{self.hi}"


@dataclass
class Field:
    name: str
    type: str  # as written: "int32", "[]TopicData", "[]int32", "Cursor"
    versions: VersionRange
    nullable: VersionRange | None = None
    tag: int | None = None
    default: str | None = None  # the literal as written; strings keep quotes
    fields: list[Field] = dc_field(default_factory=list)
    line: int = 0

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def is_struct(self) -> bool:
        return self.element_type not in PRIMITIVES

    @property
    def struct_name(self) -> str | None:
        return self.element_type if self.is_struct else None

    @property
    def is_tagged(self) -> bool:
        return self.tag is not None


@dataclass
class Struct:
    name: str
    fields: list[Field]
    line: int = 0


@dataclass
class Message:
    kind: str  # 'request' | 'response'
    name: str  # e.g. 'ProduceRequest'
    fields: list[Field]
    structs: dict[str, Struct]  # common structs from `struct Name` blocks


@dataclass
class Api:
    name: str
    key: int
    min_version: int
    max_version: int
    first_flexible: int | None
    request: Message
    response: Message
    path: str
    error_codes: list[str] = dc_field(default_factory=list)

    def is_flexible(self, version: int) -> bool:
        return self.first_flexible is not None and version >= self.first_flexible


@dataclass
class ErrorCodeDef:
    code: int
    name: str
    retriable: bool
    message: str


# ---------------------------------------------------------------------------
# Lexing: lines of (line number, indent, tokens); "quoted strings" are one
# token (quotes kept) and may contain '#'.


@dataclass
class _Line:
    no: int
    indent: int
    tokens: list[str]


def _tokenize(path: str, no: int, text: str) -> list[str]:
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c == "#":
            break
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise SchemaError(path, no, "unterminated string literal")
            tokens.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t#\"":
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


def _lines(path: str, text: str) -> list[_Line]:
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise SchemaError(path, no, "indent with spaces, not tabs")
        tokens = _tokenize(path, no, raw)
        if not tokens:
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 2:
            raise SchemaError(path, no, f"indentation of {indent} spaces is not a multiple of 2")
        out.append(_Line(no, indent, tokens))
    return out


def _parse_versions(path: str, no: int, text: str) -> VersionRange:
    m = _VERSIONS.match(text)
    if not m:
        raise SchemaError(path, no, f"bad version range '{text}' (want N+, N-M or N)")
    lo = int(m.group(1))
    if m.group(2):
        return VersionRange(lo, None)
    hi = int(m.group(3)) if m.group(3) is not None else lo
    if hi < lo:
        raise SchemaError(path, no, f"empty version range '{text}'")
    return VersionRange(lo, hi)


def _check_literal(path: str, no: int, f: Field, lit: str) -> None:
    t = f.type
    if lit == "null":
        if f.nullable is None:
            raise SchemaError(path, no, f"default null for '{f.name}' which is never nullable")
        return
    if f.is_array or f.is_struct:
        raise SchemaError(path, no, f"arrays and structs take only 'default null' ('{f.name}')")
    if t == "bool":
        ok = lit in ("true", "false")
    elif t in ("string", "uuid"):
        ok = lit.startswith('"')
    elif t == "float64":
        ok = re.match(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$", lit) is not None
    elif t in ("bytes", "records"):
        ok = False
    else:
        ok = _INT.match(lit) is not None or re.match(r"^0x[0-9a-fA-F]+$", lit) is not None
    if not ok:
        raise SchemaError(path, no, f"default '{lit}' does not suit type {t} of '{f.name}'")


def _parse_field(path: str, line: _Line) -> Field:
    toks = line.tokens
    if len(toks) < 3:
        raise SchemaError(path, line.no, "a field needs: name type versions [options]")
    name, typ, vers = toks[0], toks[1], toks[2]
    if not _FIELD_NAME.match(name):
        raise SchemaError(path, line.no, f"field name '{name}' is not snake_case")
    elem = typ[2:] if typ.startswith("[]") else typ
    if elem not in PRIMITIVES and not _STRUCT_NAME.match(elem):
        raise SchemaError(path, line.no, f"unknown type '{typ}'")
    if typ.startswith("[]") and elem == "records":
        raise SchemaError(path, line.no, "arrays of records are not a Kafka type")
    f = Field(name, typ, _parse_versions(path, line.no, vers), line=line.no)
    i = 3
    seen = set()
    while i < len(toks):
        opt = toks[i]
        if opt in seen:
            raise SchemaError(path, line.no, f"option '{opt}' given twice")
        seen.add(opt)
        if i + 1 >= len(toks):
            raise SchemaError(path, line.no, f"option '{opt}' needs a value")
        val = toks[i + 1]
        if opt == "nullable":
            f.nullable = _parse_versions(path, line.no, val)
        elif opt == "tag":
            if not re.match(r"^\d+$", val):
                raise SchemaError(path, line.no, f"tag '{val}' is not a non-negative integer")
            f.tag = int(val)
        elif opt == "default":
            f.default = val
        else:
            raise SchemaError(path, line.no, f"unknown option '{opt}'")
        i += 2
    if f.nullable is not None and not (f.is_array or f.is_struct or elem in NULLABLE_PRIMITIVES):
        raise SchemaError(path, line.no, f"type {typ} of '{name}' cannot be nullable")
    if f.default is not None:
        _check_literal(path, line.no, f, f.default)
    return f


class _Parser:
    def __init__(self, path: str, lines: list[_Line]):
        self.path = path
        self.lines = lines
        self.pos = 0

    def peek(self) -> _Line | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def err(self, line: _Line | None, what: str) -> SchemaError:
        return SchemaError(self.path, line.no if line else (self.lines[-1].no if self.lines else 1), what)

    def fields(self, indent: int) -> list[Field]:
        """Fields at exactly `indent`, each with its deeper-indented children."""
        out: list[Field] = []
        while (line := self.peek()) is not None and line.indent >= indent:
            if line.indent > indent:
                raise self.err(line, f"indented {line.indent} spaces, expected {indent}")
            if line.tokens[0] == "struct":
                break
            self.pos += 1
            f = _parse_field(self.path, line)
            nxt = self.peek()
            if nxt is not None and nxt.indent > indent:
                if not f.is_struct:
                    raise self.err(nxt, f"field '{f.name}' of type {f.type} cannot have sub-fields")
                if nxt.indent != indent + 2:
                    raise self.err(nxt, f"indented {nxt.indent} spaces, expected {indent + 2}")
                f.fields = self.fields(indent + 2)
            out.append(f)
        return out

    def section(self, kind: str, api_name: str) -> Message:
        line = self.peek()
        if line is None or line.tokens != [kind] or line.indent != 0:
            raise self.err(line, f"expected '{kind}' on a line of its own")
        self.pos += 1
        msg = Message(kind, api_name + kind.capitalize(), self.fields(2), {})
        while (line := self.peek()) is not None and line.tokens[0] == "struct":
            if len(line.tokens) != 2 or not _STRUCT_NAME.match(line.tokens[1]):
                raise self.err(line, "expected 'struct Name' (CamelCase)")
            name = line.tokens[1]
            if name in msg.structs:
                raise self.err(line, f"struct {name} defined twice")
            self.pos += 1
            body = self.fields(line.indent + 2)
            if not body:
                raise self.err(line, f"struct {name} has no fields")
            msg.structs[name] = Struct(name, body, line.no)
        return msg

    def error_codes(self) -> list[str]:
        line = self.peek()
        if line is None:
            return []
        if line.tokens[0] != "error_codes" or line.indent != 0:
            raise self.err(line, f"unexpected '{' '.join(line.tokens)}'")
        self.pos += 1
        names = list(line.tokens[1:])
        while (line := self.peek()) is not None and line.indent > 0:
            names.extend(line.tokens)
            self.pos += 1
        if line is not None:
            raise self.err(line, f"unexpected '{' '.join(line.tokens)}' after error_codes")
        return names


def _parse_api_line(path: str, line: _Line | None) -> tuple[str, int, int, int, int | None]:
    if line is None:
        raise SchemaError(path, 1, "empty schema file")
    t = line.tokens
    if (len(t) != 8 or t[0] != "api" or t[2] != "key" or t[4] != "versions"
            or t[6] != "flexible" or line.indent != 0):
        raise SchemaError(path, line.no,
                          "expected: api Name key INT versions LO-HI flexible (N+|none)")
    if not _STRUCT_NAME.match(t[1]):
        raise SchemaError(path, line.no, f"API name '{t[1]}' is not CamelCase")
    if not re.match(r"^\d+$", t[3]):
        raise SchemaError(path, line.no, f"bad API key '{t[3]}'")
    vr = _parse_versions(path, line.no, t[5])
    if vr.hi is None:
        raise SchemaError(path, line.no, "the API's versions must be a closed range (LO-HI)")
    if t[7] == "none":
        flex = None
    else:
        m = re.match(r"^(\d+)\+$", t[7])
        if not m:
            raise SchemaError(path, line.no, f"bad flexible '{t[7]}' (want N+ or none)")
        flex = int(m.group(1))
    return t[1], int(t[3]), vr.lo, vr.hi, flex


class _Checker:
    """Cross-field rules: struct references, unique names and tags."""

    def __init__(self, api: Api):
        self.api = api
        self.path = api.path

    def err(self, no: int, what: str) -> SchemaError:
        return SchemaError(self.path, no, what)

    def message(self, msg: Message) -> None:
        self.struct_names: dict[str, int] = {}
        self.msg = msg
        self.fields(msg.fields, msg.name, 0)
        for s in msg.structs.values():
            if s.name in self.struct_names:
                raise self.err(s.line, f"struct {s.name} is also defined inline at line "
                                       f"{self.struct_names[s.name]}")
            self.struct_names[s.name] = s.line
            self.fields(s.fields, s.name, 0)
        if msg.name in self.struct_names:
            raise self.err(self.struct_names[msg.name], f"struct named like its message {msg.name}")

    def fields(self, fields: list[Field], owner: str, depth: int) -> None:
        if depth > 16:
            raise self.err(fields[0].line, "structs nested more than 16 deep")
        names: set[str] = set()
        tags: dict[int, str] = {}
        for f in fields:
            if f.name in names:
                raise self.err(f.line, f"field '{f.name}' appears twice in {owner}")
            names.add(f.name)
            if f.tag is not None:
                if self.api.first_flexible is None:
                    raise self.err(f.line, f"tagged field '{f.name}' in an API with no flexible versions")
                if f.tag in tags:
                    raise self.err(f.line, f"tag {f.tag} used by both '{tags[f.tag]}' and '{f.name}'")
                tags[f.tag] = f.name
                spoken = f.versions.intersect(self.api.min_version, self.api.max_version)
                if spoken is not None and spoken.lo < self.api.first_flexible:
                    raise self.err(f.line, f"tagged field '{f.name}' in non-flexible versions")
            if f.is_struct:
                name = f.struct_name
                if f.fields:
                    if name in self.struct_names:
                        raise self.err(f.line, f"struct {name} already defined at line "
                                               f"{self.struct_names[name]}")
                    if name in self.msg.structs:
                        raise self.err(f.line, f"struct {name} has inline fields and a struct block")
                    self.struct_names[name] = f.line
                    self.fields(f.fields, name, depth + 1)
                elif name not in self.msg.structs:
                    raise self.err(f.line, f"field '{f.name}' of type {f.type}: no fields and no "
                                           f"'struct {name}' block in this section")


def parse_text(path: str, text: str) -> Api:
    p = _Parser(path, _lines(path, text))
    name, key, lo, hi, flex = _parse_api_line(path, p.peek())
    p.pos += 1
    if flex is not None and not lo <= flex <= hi + 1:
        raise SchemaError(path, p.lines[0].no, f"first flexible version {flex} outside {lo}-{hi}")
    request = p.section("request", name)
    response = p.section("response", name)
    api = Api(name, key, lo, hi, flex, request, response, path, p.error_codes())
    checker = _Checker(api)
    checker.message(request)
    checker.message(response)
    return api


def parse_file(path: str) -> Api:
    with open(path, encoding="utf-8") as fh:
        return parse_text(path, fh.read())


def parse_errors(path: str) -> list[ErrorCodeDef]:
    """Reads errors.schema: `<code> NAME retriable|fatal "message"` per line."""
    out: list[ErrorCodeDef] = []
    codes: dict[int, int] = {}
    names: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for line in _lines(path, text):
        t = line.tokens
        if len(t) != 4 or not _INT.match(t[0]) or t[2] not in ("retriable", "fatal") \
                or not t[3].startswith('"'):
            raise SchemaError(path, line.no, 'expected: CODE NAME retriable|fatal "message"')
        code, name = int(t[0]), t[1]
        if not re.match(r"^[A-Z][A-Z0-9_]*$", name):
            raise SchemaError(path, line.no, f"error name '{name}' is not UPPER_SNAKE_CASE")
        if not -32768 <= code <= 32767:
            raise SchemaError(path, line.no, f"error code {code} does not fit int16")
        if code in codes:
            raise SchemaError(path, line.no, f"code {code} already defined at line {codes[code]}")
        if name in names:
            raise SchemaError(path, line.no, f"name {name} already defined at line {names[name]}")
        codes[code] = line.no
        names[name] = line.no
        message = t[3][1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out.append(ErrorCodeDef(code, name, t[2] == "retriable", message))
    if not out:
        raise SchemaError(path, 1, "no error codes")
    return out


if __name__ == "__main__":
    import sys
    status = 0
    for arg in sys.argv[1:]:
        try:
            if arg.endswith("errors.schema"):
                print(f"{arg}: {len(parse_errors(arg))} error codes")
            else:
                a = parse_file(arg)
                print(f"{arg}: {a.name} key {a.key} versions {a.min_version}-{a.max_version}")
        except (SchemaError, OSError) as e:
            print(e, file=sys.stderr)
            status = 1
    sys.exit(status)
