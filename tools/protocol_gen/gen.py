#!/usr/bin/env python3
"""Runnel's Kafka protocol code generator (standard library only).

Run by meson at build time (include/runnel/protocol/messages/meson.build):

  gen.py api SCHEMA OUT.h OUT.cc OUT_testing.cc
      one API's request/response structs, and its round-trip test fillers
  gen.py table OUT_api_keys.h OUT_api_keys.cc OUT_registry.cc SCHEMA...
      ApiKey, the descriptor table, DecodeAny*, the round-trip test registry
  gen.py errors ERRORS_SCHEMA OUT.h OUT.cc
      enum class ErrorCode and its names, messages and retriable flags

Schema errors print as "path:line: what" and fail the build.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_messages  # noqa: E402
import gen_tables  # noqa: E402
import gen_testing  # noqa: E402
from schema import SchemaError, parse_errors, parse_file  # noqa: E402

USAGE = __doc__.split("\n\n")[1]


def write(path: str, text: str) -> None:
    # Always rewritten: meson's custom targets are not restat, so an output
    # left older than its inputs would be regenerated on every build.
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def include_of(header_path: str) -> str:
    return "runnel/protocol/messages/" + os.path.basename(header_path)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(USAGE, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "api" and len(args) == 4:
            api = parse_file(args[0])
            write(args[1], gen_messages.gen_header(api))
            write(args[2], gen_messages.gen_source(api, include_of(args[1])))
            write(args[3], gen_testing.gen_testing(api, include_of(args[1])))
        elif cmd == "table" and len(args) >= 4:
            apis = sorted((parse_file(p) for p in args[3:]), key=lambda a: a.key)
            for a, b in zip(apis, apis[1:]):
                if a.key == b.key:
                    raise SchemaError(b.path, 1, f"API key {b.key} also used by {a.path}")
            write(args[0], gen_tables.gen_api_keys_h(apis))
            write(args[1], gen_tables.gen_api_keys_cc(apis))
            write(args[2], gen_tables.gen_registry_cc(apis))
        elif cmd == "errors" and len(args) == 3:
            if not os.path.exists(args[0]):
                print(f"{args[0]}: missing; it lists every Kafka error code "
                      f"(see lib/protocol/schema/README.md)", file=sys.stderr)
                return 1
            errors = parse_errors(args[0])
            write(args[1], gen_tables.gen_error_code_h(errors))
            write(args[2], gen_tables.gen_error_code_cc(errors))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except SchemaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as e:
        print(f"error: {argv[2] if len(argv) > 2 else ''}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
