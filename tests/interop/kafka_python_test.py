"""Interop with kafka-python (python3-kafka, a pure-Python client) against
runnel-broker: create a topic, produce with gzip and acks=all, consume it in
a group with commits, and check that a second member of the group resumes
from the committed offsets.

Usage: /usr/bin/python3 kafka_python_test.py path/to/runnel-broker
Exit 77 (skip) without kafka-python.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import SKIP, BrokerProcess, check, log, wait_for  # noqa: E402

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
except ImportError:
    print("python3-kafka not installed: skipping")
    sys.exit(SKIP)

TOPIC = "kp-gzip"
PARTITIONS = 3
GROUP = "kp-group"


def produce(bootstrap, first, count):
    """Returns {(partition, offset): value} of the acknowledged messages."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", acks="all",
                             linger_ms=5)
    futures = []
    for i in range(first, first + count):
        value = ("kp-%d " % i + "x" * 200).encode()  # compressible
        futures.append((value, producer.send(TOPIC, key=str(i).encode(), value=value)))
    acked = {}
    for value, f in futures:
        md = f.get(timeout=20)
        acked[(md.partition, md.offset)] = value
    producer.close()
    check(len(acked) == count, "acknowledged %d of %d" % (len(acked), count))
    return acked


def consume(bootstrap, want, name):
    """Consumes in GROUP until `want` messages arrived; commits; returns them."""
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                             client_id=name, auto_offset_reset="earliest",
                             enable_auto_commit=False, session_timeout_ms=10000,
                             heartbeat_interval_ms=1000)
    got = {}

    def step():
        for tp, records in consumer.poll(timeout_ms=200).items():
            for r in records:
                got[(r.partition, r.offset)] = r.value

    wait_for(lambda: len(got) >= want, 40, "%s to consume %d messages" % (name, want), step=step)
    for _ in range(3):
        step()  # anything below the committed offsets would show up here too
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
    positions = {p: consumer.position(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
    check(committed == positions, "%s committed %s, positions %s" % (name, committed, positions))
    consumer.close()
    return got


def main():
    with BrokerProcess(sys.argv[1], {"group.initial.rebalance.delay.ms": "0"}) as broker:
        log("broker at %s (kafka-python %s)" % (broker.bootstrap, kafka.__version__))
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)], timeout_ms=10000)
        admin.close()

        log("produce 300 messages with gzip")
        first = produce(broker.bootstrap, 0, 300)
        check({p for p, _ in first} == set(range(PARTITIONS)), "keys spread over every partition")

        log("consume them in a group and commit")
        got = consume(broker.bootstrap, len(first), "reader-1")
        check(got == first, "consumed %d messages; differ from the acknowledged ones" % len(got))

        log("30 more; a new member resumes from the committed offsets")
        second = produce(broker.bootstrap, 300, 30)
        got = consume(broker.bootstrap, len(second), "reader-2")
        check(got == second, "second reader got %d messages (want only the %d new ones)" %
              (len(got), len(second)))
        check(broker.stop() == 0, "broker exit status after SIGTERM")
    log("interop with kafka-python: ok")


if __name__ == "__main__":
    main()
