"""Interop with librdkafka through python3-confluent-kafka against runnel-broker.

Admin create/delete topics, an idempotent producer with acks=all, a consumer
group of three members over six partitions (split, consume everything,
commit, survive a member leaving), ListGroups/DescribeGroups, and
offsets_for_times / get_watermark_offsets.

Usage: /usr/bin/python3 confluent_kafka_test.py path/to/runnel-broker
(Debian's confluent_kafka is built for /usr/bin/python3.) Exit 77 (skip)
without confluent_kafka.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import SKIP, BrokerProcess, check, log, wait_for  # noqa: E402

try:
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    print("python3-confluent-kafka not installed: skipping")
    sys.exit(SKIP)

TOPIC = "cg-six"
PARTITIONS = 6
PER_PARTITION = 100


def admin_topics(admin):
    log("admin: create and delete topics")
    futures = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1), NewTopic("doomed", 3, 1),
                                   NewTopic("times", 1, 1)], operation_timeout=10)
    for name, f in futures.items():
        f.result(timeout=15)  # raises on error
    md = admin.list_topics(timeout=10)
    check(len(md.topics[TOPIC].partitions) == PARTITIONS, "cg-six partitions: %s" % md.topics[TOPIC])
    check(len(md.topics["doomed"].partitions) == 3, "doomed has 3 partitions")
    # The broker coordinates groups from its own internal topic, listed like Kafka's.
    check("__consumer_offsets" in md.topics, "no __consumer_offsets in %s" % sorted(md.topics))
    check(len(md.topics["__consumer_offsets"].partitions) == 50,
          "__consumer_offsets has %d partitions" % len(md.topics["__consumer_offsets"].partitions))

    again = admin.create_topics([NewTopic(TOPIC, 2, 1)], operation_timeout=10)[TOPIC]
    try:
        again.result(timeout=15)
        raise AssertionError("creating an existing topic succeeded")
    except confluent_kafka.KafkaException as e:
        check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, "re-create: %s" % e)

    for name, f in admin.delete_topics(["doomed"], operation_timeout=10).items():
        f.result(timeout=15)
    md = admin.list_topics(timeout=10)
    check("doomed" not in md.topics, "doomed still listed after delete: %s" % sorted(md.topics))


def produce_idempotent(bootstrap, count_per_partition, first):
    """Produces count_per_partition messages to each partition with an idempotent,
    acks=all producer; returns {(partition, offset): value} from the delivery reports."""
    # IDEMPOTENT PRODUCER: needs InitProducerId (issue 4); librdkafka refuses
    # to produce at all when the broker does not serve it.
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5})
    delivered = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[(msg.partition(), msg.offset())] = msg.value().decode()

    for i in range(first, first + count_per_partition):
        for part in range(PARTITIONS):
            p.produce(TOPIC, value=("m-%d-%d" % (part, i)).encode(), key=str(i).encode(),
                      partition=part, on_delivery=on_delivery)
        p.poll(0)
    remaining = p.flush(30)
    check(remaining == 0, "%d messages not delivered" % remaining)
    check(not errors, "delivery errors: %s" % errors[:5])
    check(len(delivered) == count_per_partition * PARTITIONS, "delivered %d" % len(delivered))
    for part in range(PARTITIONS):
        offsets = sorted(o for (pp, o) in delivered if pp == part)
        want = list(range(first, first + count_per_partition))
        check(offsets == want, "partition %d offsets %s..., want %s..." % (part, offsets[:5], want[:5]))
    return delivered


def new_consumer(bootstrap, name):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "cg-three",
                     "client.id": name, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "partition.assignment.strategy": "range",
                     "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})


def consumer_group(bootstrap, admin):
    log("idempotent producer, acks=all: %d messages" % (PARTITIONS * PER_PARTITION))
    first = produce_idempotent(bootstrap, PER_PARTITION, 0)

    log("three consumers in one group over six partitions")
    consumers = [new_consumer(bootstrap, "c%d" % i) for i in range(3)]
    got = {}  # consumer index -> {(partition, offset): value}
    for c in consumers:
        c.subscribe([TOPIC])

    def poll_all(members):
        for i in members:
            m = consumers[i].poll(0.05)
            if m is None:
                continue
            check(m.error() is None, "consumer c%d: %s" % (i, m.error()))
            got.setdefault(i, {})[(m.partition(), m.offset())] = m.value().decode()

    def seen():
        return {k: v for d in got.values() for k, v in d.items()}

    def split_evenly(members, each):
        parts = [sorted(tp.partition for tp in consumers[i].assignment()) for i in members]
        flat = sorted(p for ps in parts for p in ps)
        return all(len(ps) == each for ps in parts) and flat == list(range(PARTITIONS))

    wait_for(lambda: len(seen()) == len(first) and split_evenly([0, 1, 2], 2), 40,
             "three members to split six partitions and consume %d messages" % len(first),
             step=lambda: poll_all([0, 1, 2]))
    check(seen() == first, "consumed messages differ from the delivered ones")
    assignment = {i: sorted(tp.partition for tp in consumers[i].assignment()) for i in range(3)}
    log("assignment: %s" % assignment)
    # Range over one topic: two consecutive partitions each.
    check(sorted(assignment.values()) == [[0, 1], [2, 3], [4, 5]], "assignment %s" % assignment)

    for i, c in enumerate(consumers):
        committed = c.commit(asynchronous=False)
        check(all(tp.error is None for tp in committed), "commit c%d: %s" % (i, committed))
        check(sorted((tp.partition, tp.offset) for tp in committed) ==
              [(p, PER_PARTITION) for p in assignment[i]], "c%d committed %s" % (i, committed))
    check_committed(consumers[0], PER_PARTITION)

    groups = admin.list_groups("cg-three", timeout=10)
    check(len(groups) == 1 and groups[0].state == "Stable" and len(groups[0].members) == 3,
          "DescribeGroups: %s" % [(g.id, g.state, len(g.members)) for g in groups])
    check(groups[0].protocol == "range", "group protocol %s" % groups[0].protocol)

    log("c2 leaves; the other two take over its partitions from the committed offsets")
    consumers[2].close()
    got.clear()
    wait_for(lambda: split_evenly([0, 1], 3), 30, "two members to split six partitions",
             step=lambda: poll_all([0, 1]))
    second = produce_idempotent(bootstrap, 10, PER_PARTITION)
    wait_for(lambda: len(seen()) >= len(second), 30, "the two members to consume the new messages",
             step=lambda: poll_all([0, 1]))
    for _ in range(10):
        poll_all([0, 1])  # anything re-delivered below the committed offsets would show here
    check(seen() == second, "after the leave consumed %d messages, %d new; extra: %s" %
          (len(seen()), len(second), sorted(set(seen()) - set(second))[:10]))
    for c in consumers[:2]:
        c.commit(asynchronous=False)
    check_committed(consumers[0], PER_PARTITION + 10)
    for c in consumers[:2]:
        c.close()

    groups = admin.list_groups("cg-three", timeout=10)
    check(len(groups) == 1 and groups[0].state == "Empty" and not groups[0].members,
          "after every member left: %s" % [(g.id, g.state, len(g.members)) for g in groups])


def check_committed(consumer, offset):
    tps = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
    got = [(tp.partition, tp.offset) for tp in tps]
    check(got == [(p, offset) for p in range(PARTITIONS)], "committed offsets %s, want %d" % (got, offset))


def offsets_for_times(bootstrap):
    log("offsets_for_times and watermarks")
    base = 1_700_000_000_000
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(5):
        p.produce("times", value=b"t%d" % i, partition=0, timestamp=base + i * 1000)
    check(p.flush(15) == 0, "times not delivered")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "times-reader"})
    low, high = c.get_watermark_offsets(TopicPartition("times", 0), timeout=10)
    check((low, high) == (0, 5), "watermarks (%d, %d)" % (low, high))
    cases = [(base, 0), (base + 2000, 2), (base + 2500, 3), (base - 1, 0), (base + 60000, -1)]
    for ts, want in cases:
        [tp] = c.offsets_for_times([TopicPartition("times", 0, ts)], timeout=10)
        check(tp.error is None and tp.offset == want,
              "offsets_for_times(%d): %s %s, want %d" % (ts - base, tp.offset, tp.error, want))
    c.close()


def main():
    with BrokerProcess(sys.argv[1], {"group.initial.rebalance.delay.ms": "1000"}) as broker:
        log("broker at %s (librdkafka %s)" % (broker.bootstrap, confluent_kafka.libversion()[0]))
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin_topics(admin)
        offsets_for_times(broker.bootstrap)
        consumer_group(broker.bootstrap, admin)
        check(broker.stop() == 0, "broker exit status after SIGTERM")
    log("interop with confluent_kafka: ok")


if __name__ == "__main__":
    main()
