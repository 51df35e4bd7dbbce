#!/usr/bin/python3
"""The Python-client half of the golden capture (run by capture_golden.sh).

    py_clients.py confluent-produce   BOOTSTRAP CODEC
    py_clients.py confluent-consume   BOOTSTRAP
    py_clients.py kafkapython-produce BOOTSTRAP CODEC
    py_clients.py kafkapython-consume BOOTSTRAP

confluent-* use python3-confluent-kafka (librdkafka underneath), kafkapython-*
use python3-kafka (kafka-python). Run with Debian's /usr/bin/python3, where
those packages are installed. Every producer sends RECORDS below to partition
0 of TOPIC in one batch (linger 200 ms, then flush); every consumer reads the
partition from the beginning until it has seen EXPECTED records or times out.
Exits non-zero when a delivery fails or a consumer sees too few records.
"""
import sys
import time

TOPIC = "golden"
# key, value, headers: the same five records for every client and codec.
# Five similar records so that every codec shrinks the batch (librdkafka
# sends a batch uncompressed when compression does not make it smaller).
RECORDS = [(f"k{i}".encode(), f"hello-golden-{i}".encode(), [("h1", b"v1")])
           for i in range(1, 6)]


def confluent_produce(bootstrap, codec):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap,
                  "client.id": "golden-confluent",
                  "compression.codec": codec,
                  "linger.ms": 200})
    # Learn the partition leader first, so that the five records meet in the
    # accumulator and leave as one batch.
    p.list_topics(TOPIC, timeout=10)
    errors = []

    def on_delivery(err, _msg):
        if err:
            errors.append(err)
    for key, value, headers in RECORDS:
        p.produce(TOPIC, value=value, key=key, headers=headers, partition=0,
                  on_delivery=on_delivery)
    remaining = p.flush(10)
    if remaining or errors:
        sys.exit(f"confluent produce: {remaining} undelivered, errors {errors}")


def confluent_consume(bootstrap, expected):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap,
                  "client.id": "golden-confluent",
                  "group.id": "golden-group",
                  "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([TOPIC])
    seen, deadline = 0, time.time() + 20
    while seen < expected and time.time() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            seen += 1
    c.commit(asynchronous=False)
    c.close()
    if seen < expected:
        sys.exit(f"confluent consume: saw {seen} of {expected} records")


def kafkapython_produce(bootstrap, codec):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap,
                      client_id="golden-kafka-python",
                      compression_type=None if codec == "none" else codec,
                      linger_ms=200, acks="all")
    p.partitions_for(TOPIC)  # metadata first, as above
    futures = [p.send(TOPIC, value=value, key=key, headers=headers, partition=0)
               for key, value, headers in RECORDS]
    p.flush(10)
    for f in futures:
        f.get(timeout=10)
    p.close(10)


def kafkapython_consume(bootstrap, expected):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap,
                      client_id="golden-kafka-python",
                      group_id=None, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=5000)
    c.assign([TopicPartition(TOPIC, 0)])
    seen = 0
    for _ in c:
        seen += 1
        if seen >= expected:
            break
    c.close()
    if seen < expected:
        sys.exit(f"kafka-python consume: saw {seen} of {expected} records")


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    if cmd == "confluent-produce":
        confluent_produce(bootstrap, arg)
    elif cmd == "confluent-consume":
        confluent_consume(bootstrap, int(arg or len(RECORDS)))
    elif cmd == "kafkapython-produce":
        kafkapython_produce(bootstrap, arg)
    elif cmd == "kafkapython-consume":
        kafkapython_consume(bootstrap, int(arg or len(RECORDS)))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
