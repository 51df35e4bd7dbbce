#!/usr/bin/env python3
"""Tests of `runnel log append/dump/check` against real files.

Usage: cli_test.py RUNNEL_BINARY   (meson runs it in the 'tools' suite)

Each case runs the tool as a user would and checks its output and exit
status: offsets printed by append, the records dump shows, check's clean
summary, and check's non-zero exit naming file and byte when a segment byte
is flipped, a segment is cut mid-batch, or an index entry points nowhere.
"""
import os
import pathlib
import subprocess
import sys
import tempfile

RUNNEL = sys.argv[1] if len(sys.argv) > 1 else "runnel"
failures = []


def run(*args, stdin=""):
    p = subprocess.run([RUNNEL, *args], input=stdin.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def append(d, lines, *extra, topic="t", partition="0"):
    rc, out, err = run("log", "append", "--dir", d, "--topic", topic, "--partition", partition,
                       *extra, stdin="".join(l + "\n" for l in lines))
    expect(rc == 0, f"append exited {rc}: {err}")
    return [int(x) for x in out.split()]


def dump(d, *extra, topic="t", partition="0"):
    return run("log", "dump", "--dir", d, "--topic", topic, "--partition", partition, *extra)


def segment(d, topic="t", partition="0", suffix=".log"):
    files = sorted(pathlib.Path(d, f"{topic}-{partition}").glob("*" + suffix))
    return files[0]


def test_append_and_dump(d):
    offsets = append(d, ["k1\tone", "k2\ttwo", "no key", "tab\tin\tvalue", ""], "--sync")
    expect(offsets == [0, 1, 2, 3, 4], f"offsets of the first lines: {offsets}")
    offsets = append(d, [f"line {i}" for i in range(2500)])
    expect(offsets == list(range(5, 2505)), "offsets of 2500 more lines are 5..2504")

    rc, out, err = dump(d)
    expect(rc == 0, f"dump exited {rc}: {err}")
    lines = out.splitlines()
    expect(len(lines) == 2505, f"dump printed {len(lines)} records, want 2505")
    expect(lines[0].startswith("offset: 0 CreateTime: ") and lines[0].endswith(" key: k1 value: one"),
           f"first record: {lines[0]!r}")
    expect(lines[2].endswith(" value: no key") and " key:" not in lines[2],
           f"a line without a tab has a null key: {lines[2]!r}")
    expect(lines[3].endswith(" key: tab value: in\\tvalue"),
           f"only the first tab splits key from value (escaped on output): {lines[3]!r}")
    expect(lines[4].endswith(" value: "), f"an empty line is an empty value: {lines[4]!r}")
    expect(lines[-1].startswith("offset: 2504 ") and lines[-1].endswith(" value: line 2499"),
           f"last record: {lines[-1]!r}")

    rc, out, _ = dump(d, "--from", "2500")
    got = [l.split()[1] for l in out.splitlines()]
    expect(got == ["2500", "2501", "2502", "2503", "2504"], f"dump --from 2500: {got}")

    rc, out, _ = dump(d, "--verbose", "--from", "2504")
    expect("Dumping " in out and "baseOffset: " in out and "compresscodec: none" in out
           and "isvalid: true" in out and "| offset: 2504 " in out,
           f"verbose dump shows segment, batch header and records: {out[:300]!r}")

    rc, out, err = run("log", "check", "--dir", d)
    expect(rc == 0 and "no problems" in out and "2505 records" in out,
           f"check of a clean log: rc {rc}, {out!r} {err!r}")


def test_reopen_continues(d):
    append(d, ["a", "b"])
    offsets = append(d, ["c"], "--sync")
    expect(offsets == [2], f"a second run continues at the end offset: {offsets}")


def test_segments_roll(d):
    for run_no in range(12):  # 12 batches of ~21 KiB: several per 64 KiB segment
        append(d, [f"{run_no * 100 + i}\t{'x' * 200}" for i in range(100)],
               "--segment-bytes", "65536")
    segs = sorted(pathlib.Path(d, "t-0").glob("*.log"))
    expect(len(segs) > 3, f"64 KiB segments roll: {len(segs)} segments")
    rc, out, _ = run("log", "check", "--dir", d)
    expect(rc == 0, f"check over rolled segments: {out}")
    rc, out, _ = dump(d, "--from", "1199")
    expect(out.startswith("offset: 1199 "), f"dump --from reaches the last segment: {out!r}")


def corrupt(path, position, value=None):
    data = bytearray(path.read_bytes())
    data[position] = (data[position] ^ 0xFF) if value is None else value
    path.write_bytes(bytes(data))


def test_check_finds_flipped_byte(d):
    append(d, [f"record {i}" for i in range(100)])
    log = segment(d)
    corrupt(log, 70)  # inside the first batch's records: only the CRC can tell
    rc, out, _ = run("log", "check", "--dir", d)
    expect(rc == 1, f"check exits 1 on a flipped byte, got {rc}")
    expect(f"{log}: byte 0: " in out and "CRC" in out,
           f"check names the file, the batch's byte and the CRC: {out!r}")
    expect(out.splitlines()[0].startswith(f"{log}: byte 0: "),
           f"the corrupt batch is the first problem reported: {out!r}")
    rc, out, err = dump(d)
    expect(rc == 1 and "CRC" in err, f"dump reports the bad batch and exits 1: {rc} {err!r}")


def test_check_finds_torn_tail(d):
    append(d, ["first"])
    append(d, ["second"])
    log = segment(d)
    size = log.stat().st_size
    os.truncate(log, size - 5)
    rc, out, _ = run("log", "check", "--dir", d)
    expect(rc == 1 and "torn write" in out, f"check reports a cut batch: {rc} {out!r}")


def test_check_finds_bad_index(d):
    append(d, [f"{i}\t{'v' * 500}" for i in range(200)])
    append(d, [f"{i}\t{'v' * 500}" for i in range(200)])  # a second batch: an index entry
    index = segment(d, suffix=".index")
    data = bytearray(index.read_bytes())
    expect(len(data) >= 8, f"the index has an entry ({len(data)} bytes)")
    if len(data) >= 8:
        data[7] ^= 0x01  # the first entry's position, off by one
        index.write_bytes(bytes(data))
        rc, out, _ = run("log", "check", "--dir", d)
        expect(rc == 1 and str(index) in out and "does not point at the start" in out,
               f"check reports an index entry pointing inside a batch: {rc} {out!r}")


def test_usage_errors(d):
    rc, _, err = run("log", "append", "--dir", d, "--topic", "t")
    expect(rc == 2 and "--partition is required" in err, f"missing flag: {rc} {err!r}")
    rc, _, err = run("log", "append", "--dir", d, "--topic", "t", "--partition", "x")
    expect(rc == 2 and "--partition needs a number" in err, f"bad number: {rc} {err!r}")
    rc, _, err = run("log", "dump", "--bogus")
    expect(rc == 2 and "unknown flag --bogus" in err, f"unknown flag: {rc} {err!r}")
    rc, _, err = run("nosuch")
    expect(rc == 2 and "unknown command 'nosuch'" in err, f"unknown group: {rc} {err!r}")
    rc, out, _ = run("log", "append", "--help")
    expect(rc == 0 and "--sync" in out and "durable" in out, f"append --help: {rc}")
    rc, out, _ = run("log", "check", "--dir", os.path.join(d, "missing"))
    expect(rc == 1, f"check of a missing directory fails: {rc}")


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    for t in tests:
        with tempfile.TemporaryDirectory(prefix="runnel-cli-") as d:
            before = len(failures)
            t(d)
            print(("ok  " if len(failures) == before else "FAIL") + " " + t.__name__)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
