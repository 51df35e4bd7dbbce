#!/usr/bin/env python3
"""Fails the build when a layer includes a layer it may not depend on.

Layers (../shared/STYLE.md): common <- protocol <- {storage?} ... Each
lib/<layer>/meson.build runs this over its own sources and public headers with
the list of layers it may use, so a forbidden #include stops the build at the
layer that broke the rule, with the file and line.

Usage: check_layers.py --root SRC --layer NAME --allow a,b --stamp OUT
"""
import argparse
import pathlib
import re
import sys

LAYERS = ("common", "records", "protocol", "storage", "net", "client", "broker")

# The record batch format and codecs live in lib/protocol but form a layer of
# their own that storage may use (see lib/protocol/meson.build).
RECORDS_HEADERS = {"runnel/protocol/record_batch.h", "runnel/protocol/compression.h"}

# Public headers at the top of include/runnel/ belong to the layer that
# implements them.
TOP_LEVEL_HEADERS = {
    "log.h": "storage",
    "log_manager.h": "storage",
    "log_options.h": "storage",
    "producer.h": "client",
    "consumer.h": "client",
    "admin.h": "client",
    "client_options.h": "client",
    "client_log.h": "client",
    "broker.h": "broker",
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of_include(path):
    if path in RECORDS_HEADERS:
        return "records"
    parts = path.split("/")
    if parts[0] in LAYERS and len(parts) > 1:
        return parts[0]
    if parts[0] == "runnel" and len(parts) > 2 and parts[1] in LAYERS:
        return parts[1]
    if parts[0] == "runnel" and len(parts) == 2:
        return TOP_LEVEL_HEADERS.get(parts[1])
    return None


def files_of_layer(root, layer):
    dirs = [root / "lib" / layer, root / "include" / "runnel" / layer]
    for d in dirs:
        if d.is_dir():
            for f in sorted(d.rglob("*")):
                if f.suffix in (".h", ".cc"):
                    yield f
    for name, owner in TOP_LEVEL_HEADERS.items():
        f = root / "include" / "runnel" / name
        if owner == layer and f.is_file():
            yield f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--layer", required=True, choices=LAYERS)
    ap.add_argument("--allow", default="")
    ap.add_argument("--stamp", required=True)
    args = ap.parse_args()
    root = pathlib.Path(args.root)
    allowed = {args.layer} | {a for a in args.allow.split(",") if a}
    errors = []
    for f in files_of_layer(root, args.layer):
        for lineno, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            dep = layer_of_include(m.group(1))
            if dep is not None and dep not in allowed:
                errors.append(f"{f.relative_to(root)}:{lineno}: layer '{args.layer}' "
                              f"may not include '{m.group(1)}' (layer '{dep}'); "
                              f"allowed: {', '.join(sorted(allowed))}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    pathlib.Path(args.stamp).write_text("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
