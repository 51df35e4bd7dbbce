"""What the generators share: C++ names, types, defaults and version tests
for the fields of a parsed schema (schema.py)."""

from __future__ import annotations

from dataclasses import dataclass

from schema import Api, Field, Message, SchemaError, VersionRange

CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t
char16_t char32_t class compl concept const consteval constexpr constinit const_cast
continue co_await co_return co_yield decltype default delete do double dynamic_cast
else enum explicit export extern false float for friend goto if inline int long
mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected
public register reinterpret_cast requires return short signed sizeof static
static_assert static_cast struct switch template this thread_local throw true try
typedef typeid typename union unsigned using virtual void volatile wchar_t while xor
xor_eq""".split())
# Names the generated member functions use for their parameters and locals,
# and the member every struct has; a field with one of these names gets a
# trailing underscore.
GENERATED_NAMES = frozenset([
    "w", "r", "ver", "flex", "tags", "tw", "e", "n", "v", "i", "t", "f", "s", "count", "tn",
    "ti", "msg", "data", "version", "mode", "unknown_tagged_fields"])
# Types the generated code refers to unqualified inside namespace
# runnel::protocol; a schema struct may not shadow them.
RESERVED_TYPES = frozenset(["Writer", "Reader", "Uuid", "TaggedField", "UnknownTaggedFields",
                            "ApiDescriptor", "ByteBuffer", "Filler", "FillMode", "SharedBytes"])

SCALARS = {
    "bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
    "int64": "int64_t", "uint16": "uint16_t", "uint32": "uint32_t", "float64": "double",
    "uuid": "Uuid",
}
# Method suffix of Writer/Reader for each scalar.
SCALAR_METHOD = {
    "bool": "Bool", "int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64",
    "uint16": "UInt16", "uint32": "UInt32", "float64": "Float64", "uuid": "UuidValue",
}
FIXED_SIZE = {"bool": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
              "int64": 8, "float64": 8, "uuid": 16}
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint16": 16, "uint32": 32}
BYTES_TYPES = ("bytes", "records")


def member_name(f: Field) -> str:
    if f.name in CPP_KEYWORDS or f.name in GENERATED_NAMES:
        return f.name + "_"
    return f.name


def camel(snake: str) -> str:
    return "".join(p.capitalize() for p in snake.lower().split("_"))


def elem_ctype(t: str) -> str:
    if t in SCALARS:
        return SCALARS[t]
    if t == "string":
        return "std::string"
    if t == "records":
        return "SharedBytes"  # views the frame it was decoded from
    if t in BYTES_TYPES:
        return "std::vector<uint8_t>"
    return t  # a struct, named relative to its message


def value_ctype(f: Field) -> str:
    """The C++ type without std::optional."""
    e = elem_ctype(f.element_type)
    return f"std::vector<{e}>" if f.is_array else e


def ctype(f: Field) -> str:
    t = value_ctype(f)
    return f"std::optional<{t}>" if f.nullable is not None else t


def int_literal(t: str, lit: str) -> str:
    v = int(lit, 0)
    bits = INT_BITS[t]
    if t.startswith("uint"):
        lo, hi = 0, (1 << bits) - 1
    else:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not lo <= v <= hi:
        raise ValueError(f"default {lit} does not fit {t}")
    if v == lo and lo < 0:
        return f"{v + 1}{'LL' if bits == 64 else ''} - 1"
    return f"{v}{'LL' if bits == 64 and abs(v) > 2**31 else ''}"


def default_value(f: Field) -> str | None:
    """C++ expression of the default value (of value_ctype, or std::nullopt),
    or None when it is the type's value-initialized one."""
    d = f.default
    if d == "null":
        return "std::nullopt"
    if f.nullable is not None and d is None:
        return "std::in_place"  # present and empty: "null only if the default says null"
    if d is None:
        return None
    t = f.element_type
    if t in INT_BITS:
        v = int_literal(t, d)
        return None if v == "0" else v
    if t == "bool":
        return None if d == "false" else "true"
    if t == "float64":
        return None if float(d) == 0.0 else d
    if t == "string":
        return None if d == '""' else d
    if t == "uuid":
        return None  # only the zero UUID is supported as a default
    return None


def member_init(f: Field) -> str:
    d = default_value(f)
    if d is None and f.nullable is None and not f.is_array:
        zero = {"bool": "false", "float64": "0.0"}
        if f.element_type in INT_BITS or f.element_type in zero:
            return " = " + zero.get(f.element_type, "0")
    if d is None or d == "std::nullopt":
        return ""
    if d == "std::in_place":
        return "{std::in_place}"
    return f" = {d}"


def default_expr(f: Field, qual: str = "") -> str:
    """An expression equal to the field's default, for tagged fields."""
    t = ctype(f)
    if f.is_struct:
        t = t.replace(f.struct_name, qual + f.struct_name)
    d = default_value(f)
    if d is None or d == "std::nullopt":
        return f"{t}()"
    return f"{t}({d})"


def guard(cond: str, lines: list[str]) -> list[str]:
    """`lines` run only when the C++ condition holds ("true": always)."""
    if cond == "true":
        return lines
    return [f"if ({cond}) {{"] + ["  " + ln for ln in lines] + ["}"]


@dataclass
class CStruct:
    name: str  # C++ name, unqualified
    fields: list[Field]  # only those on the wire in some version we speak
    owner_path: str  # prefix of field names in error messages ("" for the message)


class MessageModel:
    """A message's structs in declaration order (leaves first) and the version
    arithmetic the generators need."""

    def __init__(self, api: Api, msg: Message):
        self.api = api
        self.msg = msg
        self.structs: list[CStruct] = []
        self._done: set[str] = set()
        self._visiting: set[str] = set()
        for name in RESERVED_TYPES:
            if name in msg.structs:
                raise SchemaError(api.path, msg.structs[name].line, f"struct name {name} is reserved")
        fields = self.live(msg.fields)
        self._visit_fields(fields)
        for s in msg.structs.values():
            self._visit_common(s.name, s.line)
        self.top = CStruct(msg.name, fields, "")

    def live(self, fields: list[Field]) -> list[Field]:
        return [f for f in fields if self.present(f) is not None]

    def _visit_fields(self, fields: list[Field]) -> None:
        for f in fields:
            if not f.is_struct:
                continue
            if f.struct_name in RESERVED_TYPES:
                raise SchemaError(self.api.path, f.line, f"struct name {f.struct_name} is reserved")
            if f.fields:
                sub = self.live(f.fields)
                self._visit_fields(sub)
                self._emit(f.struct_name, sub)
            else:
                self._visit_common(f.struct_name, f.line)

    def _visit_common(self, name: str, line: int) -> None:
        if name in self._done:
            return
        if name in self._visiting:
            raise SchemaError(self.api.path, line, f"struct {name} contains itself")
        self._visiting.add(name)
        sub = self.live(self.msg.structs[name].fields)
        self._visit_fields(sub)
        self._visiting.discard(name)
        self._emit(name, sub)

    def _emit(self, name: str, fields: list[Field]) -> None:
        if name not in self._done:
            self._done.add(name)
            self.structs.append(CStruct(name, fields, name + "."))

    def struct_fields(self, name: str) -> list[Field]:
        for s in self.structs:
            if s.name == name:
                return s.fields
        raise KeyError(name)

    # Versions -------------------------------------------------------------

    def versions(self) -> range:
        return range(self.api.min_version, self.api.max_version + 1)

    def present(self, f: Field) -> VersionRange | None:
        return f.versions.intersect(self.api.min_version, self.api.max_version)

    def nullable_here(self, f: Field) -> VersionRange | None:
        p = self.present(f)
        if f.nullable is None or p is None:
            return None
        return f.nullable.intersect(p.lo, p.hi)

    def cond(self, vr: VersionRange | None, var: str = "ver") -> str:
        """C++ test of `var` being in vr, knowing it is in the API's range:
        "true", "false" or an expression."""
        if vr is None:
            return "false"
        parts = []
        if vr.lo > self.api.min_version:
            parts.append(f"{var} >= {vr.lo}")
        if vr.hi is not None and vr.hi < self.api.max_version:
            parts.append(f"{var} <= {vr.hi}")
        return " && ".join(parts) if parts else "true"

    def flexible_cond(self) -> str:
        if self.api.first_flexible is None:
            return "false"
        return self.cond(VersionRange(self.api.first_flexible, None))

    def is_flexible(self, v: int) -> bool:
        return self.api.is_flexible(v)

    # Sizes ------------------------------------------------------------------

    def min_size(self, fields: list[Field], v: int) -> int:
        """Fewest bytes a struct with these fields takes at version v."""
        flex = self.is_flexible(v)
        total = 1 if flex else 0
        for f in fields:
            p = self.present(f)
            if p is None or not p.contains(v) or f.tag is not None:
                continue
            nh = self.nullable_here(f)
            if f.is_array:
                total += 1 if flex else 4
            elif f.is_struct:
                if nh is not None and nh.contains(v):
                    total += 1
                else:
                    total += self.min_size(self.struct_fields(f.struct_name), v)
            else:
                total += self.elem_min_size(f.element_type, v)
        return total

    def elem_min_size(self, t: str, v: int) -> int:
        flex = self.is_flexible(v)
        if t in FIXED_SIZE:
            return FIXED_SIZE[t]
        if t == "string":
            return 1 if flex else 2
        if t in BYTES_TYPES:
            return 1 if flex else 4
        return self.min_size(self.struct_fields(t), v)

    def array_min_size(self, f: Field) -> int:
        p = self.present(f)
        sizes = [self.elem_min_size(f.element_type, v) for v in self.versions() if p.contains(v)]
        return max(1, min(sizes))
