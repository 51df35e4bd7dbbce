#!/usr/bin/python3
# Interop: librdkafka's idempotent producer (python3-confluent-kafka,
# enable.idempotence=true, acks=all) against runnel-broker, read back with
# kcat. Two phases:
#   1. a plain run: every message is delivered and read back exactly once,
#      in order;
#   2. the broker is SIGKILLed while the producer has batches in flight and
#      restarted on the same port and data directory: librdkafka retries
#      what was not acknowledged, the broker (its producer state rebuilt from
#      the log) answers what it had already written as duplicates, and kcat
#      still reads every message exactly once.
# Exit 77 (meson's SKIP) when confluent_kafka or kcat is missing.
#
# Usage: idempotent_test.py path/to/runnel-broker
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import confluent_kafka
except ImportError:
    print("python3-confluent-kafka not installed: skipping")
    sys.exit(77)
if shutil.which("kcat") is None:
    print("kcat not installed: skipping")
    sys.exit(77)

broker_bin = sys.argv[1]
workdir = tempfile.mkdtemp(prefix="runnel-idempotent-")
proc = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(port):
    global proc
    log = open(os.path.join(workdir, "broker.log"), "ab")
    proc = subprocess.Popen([broker_bin, "--listen", f"127.0.0.1:{port}",
                             "--data-dir", os.path.join(workdir, "data")],
                            stdout=log, stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    fail("broker did not start")


def fail(why):
    print("FAIL:", why)
    try:
        with open(os.path.join(workdir, "broker.log"), errors="replace") as f:
            print("--- broker log (tail)")
            print("".join(f.readlines()[-40:]))
    except OSError:
        pass
    sys.exit(1)


def consume(bootstrap, topic):
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning",
                          "-e", "-q", "-f", "%s\n"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        fail(f"kcat -C: {out.stderr}")
    return out.stdout.splitlines()


def producer(bootstrap, errors, **extra):
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "message.timeout.ms": 60000,
            "error_cb": lambda e: errors.append(("error_cb", str(e)))}
    conf.update(extra)
    return confluent_kafka.Producer(conf)


def main():
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    start_broker(port)

    # Phase 1: a plain idempotent run.
    errors, delivered = [], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(("delivery", str(err)))
        else:
            delivered.append(msg.value().decode())

    p = producer(bootstrap, errors)
    sent = [f"m-{i}" for i in range(20000)]
    for v in sent:
        while True:
            try:
                p.produce("idem", v.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(60) != 0:
        fail("phase 1: flush left messages undelivered")
    if errors:
        fail(f"phase 1 errors: {errors[:5]}")
    if delivered != sent:
        fail(f"phase 1: {len(delivered)} delivery reports for {len(sent)} messages")
    got = consume(bootstrap, "idem")
    if got != sent:
        fail(f"phase 1: kcat read {len(got)} messages, expected {len(sent)} "
             f"(first difference at {next((i for i, (a, b) in enumerate(zip(got, sent)) if a != b), None)})")
    print(f"phase 1: {len(sent)} messages produced idempotently and read back exactly once")

    # Phase 2: SIGKILL with batches in flight, restart, retries.
    errors2, delivered2 = [], []

    def on_delivery2(err, msg):
        if err is not None:
            errors2.append(("delivery", str(err)))
        else:
            delivered2.append(msg.value().decode())

    p2 = producer(bootstrap, errors2, **{"retry.backoff.ms": 200})
    sent2 = [f"k-{i}" for i in range(60000)]
    killed = False
    for i, v in enumerate(sent2):
        while True:
            try:
                p2.produce("idem2", v.encode(), on_delivery=on_delivery2)
                break
            except BufferError:
                p2.poll(0.05)
        if i == 30000:
            p2.poll(0)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
            time.sleep(0.5)
            start_broker(port)
    assert killed
    if p2.flush(90) != 0:
        fail("phase 2: flush left messages undelivered")
    # error_cb reports transient connection errors (the kill); deliveries
    # must all succeed.
    failed = [e for e in errors2 if e[0] == "delivery"]
    if failed:
        fail(f"phase 2 delivery errors: {failed[:5]}")
    if sorted(delivered2) != sorted(sent2):
        fail(f"phase 2: {len(delivered2)} delivery reports for {len(sent2)} messages")
    got2 = consume(bootstrap, "idem2")
    dups = len(got2) - len(set(got2))
    missing = set(sent2) - set(got2)
    if dups or missing:
        fail(f"phase 2: kcat read {len(got2)} messages: {dups} duplicates, {len(missing)} missing")
    if got2 != sent2:
        fail("phase 2: messages out of order")
    print(f"phase 2: {len(sent2)} messages across a SIGKILL and restart, each read back exactly once")


try:
    main()
finally:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
