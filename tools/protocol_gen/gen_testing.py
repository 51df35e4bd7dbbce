"""Emits <api>_testing.cc: for every message of one API, a filler that sets
each field on the wire in a version (distinct non-default values, or nulls and
empties), and RoundTrip<Api>() that checks encode -> decode -> equal ->
re-encode through tests/protocol/roundtrip_check.h. Only the tests link it."""

from __future__ import annotations

from cpp_model import (BYTES_TYPES, INT_BITS, SCALARS, CStruct, MessageModel, default_expr,
                       guard, member_name)
from gen_messages import banner
from schema import Api, Field


def fill_elem(t: str, qual: str) -> str:
    """An expression giving one value of primitive type t."""
    if t in INT_BITS:
        return f"f.Int<{SCALARS[t]}>(0)"
    return {"bool": "f.Bool(false)", "float64": "f.Float(0.0)", "uuid": "f.UuidValue()",
            "string": "f.String()"}.get(t, "f.Bytes()")


def fill_value(m: MessageModel, f: Field, target: str, qual: str) -> list[str]:
    """Lines setting `target` (a reference to the value, optional removed)."""
    t = f.element_type
    if f.is_array:
        add = (f"Fill(v.emplace_back(), ver, f);" if f.is_struct
               else f"v.push_back({fill_elem(t, qual)});")
        return ["{", f"  auto& v = {target};", "  v.clear();",
                f"  for (int i = 0; i < f.Count(); ++i) {add}", "}"]
    if f.is_struct:
        return [f"Fill({target}, ver, f);"]
    if t in INT_BITS:
        return [f"{target} = f.Int<{SCALARS[t]}>({default_expr(f)});"]
    if t == "bool":
        return [f"{target} = f.Bool({default_expr(f)});"]
    if t == "float64":
        return [f"{target} = f.Float({default_expr(f)});"]
    if t == "uuid":
        return [f"{target} = f.UuidValue();"]
    if t == "string":
        return [f"{target} = f.String();"]
    assert t in BYTES_TYPES
    return [f"{target} = f.Bytes();"]


def fill_field(m: MessageModel, f: Field, qual: str) -> list[str]:
    x = "s." + member_name(f)
    if f.nullable is None:
        lines = fill_value(m, f, x, qual)
    else:
        nh = m.cond(m.nullable_here(f))
        value = fill_value(m, f, f"{x}.emplace()", qual)
        if nh == "false":
            lines = value
        else:
            test = "!f.distinct()" + ("" if nh == "true" else f" && {nh}")
            lines = [f"if ({test}) {{", f"  {x}.reset();", "} else {"]
            lines += ["  " + ln for ln in value] + ["}"]
    conds = []
    c = m.cond(m.present(f))
    if c != "true":
        conds.append(c)
    if f.tag is not None:
        conds.append("f.distinct()")  # tagged fields stay at their default otherwise
    return guard(" && ".join(conds) or "true", lines)


def gen_fill(m: MessageModel, s: CStruct, cpp_type: str, qual: str) -> list[str]:
    body: list[str] = []
    for f in s.fields:
        body += fill_field(m, f, qual)
    if m.api.first_flexible is not None:
        body.append(f"if (({m.flexible_cond()}) && f.distinct()) {{")
        body.append("  s.unknown_tagged_fields = f.UnknownTaggedFieldsValue();")
        body.append("}")
    out = [f"[[maybe_unused]] void Fill({cpp_type}& s, int16_t ver, Filler& f) {{"]
    out.append("  (void)ver;")
    out += ["  " + ln for ln in body]
    out.append("}")
    return out


def gen_testing(api: Api, header_include: str) -> str:
    out = [banner(api).rstrip(), '#include "roundtrip_check.h"',
           f'#include "{header_include}"', "",
           "namespace runnel::protocol::testing {", "namespace {", ""]
    for msg in (api.request, api.response):
        m = MessageModel(api, msg)
        for s in m.structs:
            out += gen_fill(m, s, f"{msg.name}::{s.name}", msg.name + "::") + [""]
        out += gen_fill(m, m.top, msg.name, msg.name + "::") + [""]
    out += ["}  // namespace", "",
            f"absl::Status RoundTrip{api.name}(bool request, int16_t version, FillMode mode) {{",
            "  Filler f(mode);",
            "  if (request) {",
            f"    {api.request.name} m;",
            "    Fill(m, version, f);",
            "    return CheckRoundTrip(m, version);",
            "  }",
            f"  {api.response.name} m;",
            "  Fill(m, version, f);",
            "  return CheckRoundTrip(m, version);",
            "}", "",
            "}  // namespace runnel::protocol::testing"]
    return "\n".join(out) + "\n"
