"""Crash and restart: a producer with acks=all and a consumer group that
commits as it goes stream through runnel-broker; the broker is killed with
SIGKILL mid-stream and restarted on the same data directory. Every message
the broker acknowledged must be there at the offset it was acknowledged
with, and every offset commit it acknowledged must still be committed.

Usage: /usr/bin/python3 restart_test.py path/to/runnel-broker
Exit 77 (skip) without python3-confluent-kafka.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import SKIP, BrokerProcess, check, log, wait_for  # noqa: E402

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    print("python3-confluent-kafka not installed: skipping")
    sys.exit(SKIP)

TOPIC = "durable"
PARTITIONS = 3
GROUP = "durable-group"


def main():
    with BrokerProcess(sys.argv[1], {"group.initial.rebalance.delay.ms": "0"}) as broker:
        log("broker at %s" % broker.bootstrap)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
            f.result(timeout=15)

        acked = {}  # (partition, offset) -> value
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                             "linger.ms": 2, "message.timeout.ms": 30000})

        def on_delivery(err, msg):
            if err is None:
                acked[(msg.partition(), msg.offset())] = msg.value()

        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP,
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "session.timeout.ms": 6000})
        consumer.subscribe([TOPIC])
        committed = {}  # partition -> offset of the last acknowledged commit
        consumed = 0
        i = 0

        log("streaming: produce, consume, commit every 200 messages")
        deadline = time.monotonic() + 30
        while len(acked) < 5000 or consumed < 2000 or len(committed) < PARTITIONS:
            check(time.monotonic() < deadline, "stream too slow: %d acked, %d consumed" %
                  (len(acked), consumed))
            for _ in range(50):
                producer.produce(TOPIC, value=b"v%08d" % i, key=b"%d" % i, on_delivery=on_delivery)
                i += 1
            producer.poll(0)
            for m in consumer.consume(200, timeout=0.01):
                check(m.error() is None, "consume: %s" % m.error())
                consumed += 1
                if consumed % 200 == 0:
                    for tp in consumer.commit(asynchronous=False):
                        check(tp.error is None, "commit: %s" % tp.error)
                        if tp.offset >= 0:
                            committed[tp.partition] = tp.offset
        # Messages still in flight: the kill comes mid-stream.
        for _ in range(200):
            producer.produce(TOPIC, value=b"v%08d" % i, key=b"%d" % i, on_delivery=on_delivery)
            i += 1
        producer.poll(0)
        acked_before_kill = dict(acked)
        committed_before_kill = dict(committed)
        broker.kill()
        log("SIGKILL with %d of %d messages acknowledged, commits %s" %
            (len(acked_before_kill), i, committed_before_kill))
        try:
            consumer.commit(asynchronous=False)  # the broker is gone: must not count
        except KafkaException:
            pass

        broker.start()
        log("restarted on the same data directory")
        # The producer reconnects and delivers (or fails) what was in flight.
        check(producer.flush(40) == 0, "producer did not finish after the restart")
        consumer.close()

        # Every acknowledged message, at its acknowledged offset.
        reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "durable-check",
                           "enable.auto.commit": False})
        ends = {}
        for p in range(PARTITIONS):
            low, high = reader.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
            ends[p] = high
        reader.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        stored = {}
        wait_for(lambda: all(sum(1 for (pp, _) in stored if pp == p) >= ends[p]
                             for p in range(PARTITIONS)), 30, "reading back every partition",
                 step=lambda: [stored.__setitem__((m.partition(), m.offset()), m.value())
                               for m in reader.consume(1000, timeout=0.2) if m.error() is None])
        reader.close()
        missing = [k for k, v in acked.items() if stored.get(k) != v]
        check(not missing, "%d acknowledged messages lost or changed, e.g. %s" %
              (len(missing), sorted(missing)[:5]))
        check(len(acked) >= len(acked_before_kill), "acknowledgements went backwards")
        log("all %d acknowledged messages are there (%d before the kill)" %
            (len(acked), len(acked_before_kill)))

        # Every acknowledged commit, still committed (a commit the broker wrote
        # but could not answer before dying may be there too, never beyond the end).
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP})
        after = {tp.partition: tp.offset for tp in
                 c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)}
        c.close()
        for p, off in committed_before_kill.items():
            check(off <= after[p] <= ends[p], "partition %d: committed %d before the kill, %d after"
                  " (end %d)" % (p, off, after[p], ends[p]))
        log("committed offsets after the restart: %s" % after)
        check(broker.stop() == 0, "broker exit status after SIGTERM")
    log("restart test: ok")


if __name__ == "__main__":
    main()
