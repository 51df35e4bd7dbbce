#!/usr/bin/python3
# Interop: librdkafka's idempotent producer (python3-confluent-kafka,
# enable.idempotence=true, acks=all) against runnel-broker, read back with
# kcat. The producer reaches the broker through a TCP proxy in this script
# (the broker advertises the proxy's port), which can swallow the broker's
# responses. Two phases:
#   1. a plain run: every message is delivered and read back exactly once,
#      in order;
#   2. the proxy swallows responses while the broker keeps appending, the
#      broker is SIGKILLed and restarted on the same data, and the proxy
#      drops the producer's connections: librdkafka retries every batch it
#      saw no answer for, most of which the broker had written, and the
#      broker (its producer state rebuilt from the log) answers those as
#      duplicates: kcat reads every message exactly once.
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
import threading
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


def start_broker(port, advertised_port):
    global proc
    log = open(os.path.join(workdir, "broker.log"), "ab")
    config = os.path.join(workdir, "server.properties")
    with open(config, "w") as f:
        f.write(f"advertised.listeners=PLAINTEXT://127.0.0.1:{advertised_port}\n")
    proc = subprocess.Popen([broker_bin, "--listen", f"127.0.0.1:{port}",
                             "--data-dir", os.path.join(workdir, "data"), "--config", config],
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


class Proxy:
    """Forwards 127.0.0.1:port to the broker. While `swallow` is set, the
    broker's bytes are read and thrown away; drop_all() closes every
    connection, as a network failure would."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.swallow = False
        self.conns = []
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, True), daemon=True).start()

    def pump(self, src, dst, from_broker):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_broker and self.swallow:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_all(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


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


def records_on_disk(topic_dir):
    # Sums recordCount over the record batches v2 of a partition directory's
    # segments (Kafka's layout: baseOffset:8 batchLength:4 ... recordCount at
    # byte 57 of the batch).
    total = 0
    for name in sorted(os.listdir(topic_dir)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(topic_dir, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            if length <= 0 or pos + 12 + length > len(data):
                break
            total += int.from_bytes(data[pos + 57:pos + 61], "big")
            pos += 12 + length
    return total


def producer(bootstrap, errors, **extra):
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "message.timeout.ms": 60000,
            "error_cb": lambda e: errors.append(("error_cb", str(e)))}
    conf.update(extra)
    return confluent_kafka.Producer(conf)


def main():
    port = free_port()
    proxy = Proxy(port)
    bootstrap = f"127.0.0.1:{proxy.port}"
    start_broker(port, proxy.port)

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
    del p

    # Phase 2: answers lost, broker killed and restarted, retries.
    errors2, delivered2 = [], []

    def on_delivery2(err, msg):
        if err is not None:
            errors2.append(("delivery", str(err)))
        else:
            delivered2.append(msg.value().decode())

    p2 = producer(bootstrap, errors2, **{"retry.backoff.ms": 200})
    sent2 = [f"k-{i}" for i in range(60000)]
    killed = False
    on_disk = acked = 0
    for i, v in enumerate(sent2):
        while True:
            try:
                p2.produce("idem2", v.encode(), on_delivery=on_delivery2)
                break
            except BufferError:
                p2.poll(0.01)
        if i == 9999:
            if p2.flush(30) != 0:
                fail("phase 2: the first 10000 messages were not delivered")
            proxy.swallow = True
        if i == 29999:
            # Let the broker take what the producer sends without answers
            # (max.in.flight requests), then kill it with none of it
            # acknowledged to the producer.
            deadline = time.time() + 20
            topic_dir = os.path.join(workdir, "data", "idem2-0")
            last = -1
            while time.time() < deadline:
                p2.poll(1.0)
                now = records_on_disk(topic_dir)
                if now == last and now > 10000:
                    break
                last = now
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
            p2.poll(0.5)
            on_disk = records_on_disk(topic_dir)
            acked = len(delivered2)
            if on_disk <= acked:
                fail(f"phase 2: the broker wrote {on_disk} messages, {acked} acknowledged: "
                     "no retry would be a duplicate")
            start_broker(port, proxy.port)
            proxy.swallow = False
            proxy.drop_all()
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
    print(f"phase 2: {len(sent2)} messages, each read back exactly once, across lost answers, "
          f"a SIGKILL and a restart ({on_disk} written by the broker before the kill, "
          f"{acked} of them acknowledged to the producer)")


try:
    main()
finally:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
