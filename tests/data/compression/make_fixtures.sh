#!/bin/sh
# Regenerates the fixtures in this directory with tools that share no code
# with Runnel: Python's gzip module, the gzip, zstd and lz4 command-line
# programs (Debian 12: gzip 1.12, zstd 1.5.4, lz4 1.9.4). Run from here.
set -eu

# plain.txt: 60 JSON-like records, about 5 KB.
python3 - <<'PY'
lines = []
for i in range(60):
    lines.append('{"id": %d, "user": "user-%03d", "event": "%s", "amount": %d.%02d}\n'
                 % (i, i * 7 % 1000, ("click", "view", "buy")[i % 3], i * 13, i % 100))
open("plain.txt", "w").write("".join(lines))
import gzip
# mtime=0 keeps the output reproducible.
open("plain.python.gz", "wb").write(gzip.compress(open("plain.txt", "rb").read(), 9, mtime=0))
PY

gzip -n -6 -c plain.txt > plain.cli.gz
# Two gzip members back to back: plain.txt twice when inflated.
cat plain.cli.gz plain.python.gz > plain_twice.members.gz

zstd -q -f -19 plain.txt -o plain.zst
# Streamed from stdin: no content size in the frame header.
zstd -q -3 -c < plain.txt > plain.nosize.zst
# Two frames back to back: plain.txt twice.
cat plain.zst plain.nosize.zst > plain_twice.frames.zst

# Default lz4 frame: 4 MiB blocks, independent, with a content checksum.
lz4 -q -f plain.txt plain.lz4
# High compression, 64 KiB blocks, content size and block checksums.
lz4 -q -f -9 -B4 -BX --content-size plain.txt plain.hc.lz4
# plain.txt 20 times (79 KB) in 64 KiB linked blocks, so the second block
# refers back into the first (lz4 makes a one-block frame independent).
for i in $(seq 20); do cat plain.txt; done | lz4 -q -f -B4 -BD > plain_x20.linked.lz4
