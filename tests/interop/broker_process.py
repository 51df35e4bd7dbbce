"""Runs runnel-broker as a child process for the Python interop tests.

Each test gets a broker on a free loopback port with a fresh data directory
(removed at exit), the way tests/interop/kcat_test.sh runs it:

    with BrokerProcess(sys.argv[1], {"group.initial.rebalance.delay.ms": "0"}) as b:
        producer = confluent_kafka.Producer({"bootstrap.servers": b.bootstrap})
        ...
        b.kill()     # SIGKILL, as a crash
        b.start()    # same port, same data directory

Standard library only; the Kafka clients are the tests' business.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77  # meson's exit status for a skipped test


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerProcess:
    def __init__(self, binary, properties=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="runnel-interop-")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.config = os.path.join(self.dir, "server.properties")
        with open(self.config, "w") as f:
            for k, v in (properties or {}).items():
                f.write("%s=%s\n" % (k, v))
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            print("--- broker log (%s)" % self.log_path)
            print(self.log())
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def start(self, timeout=20.0):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", self.bootstrap, "--data-dir", self.data_dir,
             "--config", self.config],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %d:\n%s" % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not listen within %.0f s:\n%s" % (timeout, self.log()))

    def kill(self):
        """SIGKILL: no flush, no checkpoint, as a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def check(cond, what):
    """Fails the test with `what` when `cond` is false (asserts vanish under -O)."""
    if not cond:
        raise AssertionError(what)


def wait_for(pred, timeout, what, step=None):
    """Calls step() (e.g. polling consumers) until pred() or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if pred():
            return
        if step is None:
            time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)
    sys.stdout.flush()
