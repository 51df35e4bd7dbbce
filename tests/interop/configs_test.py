"""Topic and broker configs through real admin clients against runnel-broker.

librdkafka (python3-confluent-kafka AdminClient) and kafka-python
(KafkaAdminClient): describe a topic's configs (values, sources, synonyms),
alter them, see INVALID_CONFIG with the reason for a bad value, describe the
broker's read-only configs; the change holds after a restart. Also
librdkafka's offsets_for_times after DeleteRecords-free produce, and the
cluster id both clients see.

Usage: /usr/bin/python3 configs_test.py path/to/runnel-broker
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import SKIP, BrokerProcess, check, log  # noqa: E402

try:
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic
    import kafka
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(SKIP)


def confluent_part(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic("cfg", 2, 1, config={"retention.ms": "3600000"})])
    fs["cfg"].result(15)

    res = ConfigResource("topic", "cfg")
    configs = admin.describe_configs([res])[res].result(15)
    retention = configs["retention.ms"]
    log("librdkafka: retention.ms = %s (%s)" % (retention.value, retention.source))
    check(retention.value == "3600000", "retention.ms override described")
    check(retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "source is the topic")
    check(not retention.is_read_only, "topic configs are writable")
    check(configs["cleanup.policy"].value == "delete", "default cleanup.policy")
    check(configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value,
          "default source")
    check(configs["max.message.bytes"].value == "1048588", "default max.message.bytes")

    # AlterConfigs (the non-incremental one): the whole set is replaced.
    res = ConfigResource("topic", "cfg", set_config={"retention.bytes": "1048576",
                                                      "cleanup.policy": "compact"})
    admin.alter_configs([res])[res].result(15)
    res = ConfigResource("topic", "cfg")
    configs = admin.describe_configs([res])[res].result(15)
    check(configs["retention.bytes"].value == "1048576", "altered retention.bytes")
    check(configs["cleanup.policy"].value == "compact", "altered cleanup.policy")
    check(configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value,
          "retention.ms dropped by the replacing AlterConfigs")

    bad = ConfigResource("topic", "cfg", set_config={"retention.ms": "forever"})
    try:
        admin.alter_configs([bad])[bad].result(15)
        check(False, "a bad value must fail")
    except confluent_kafka.KafkaException as e:
        err = e.args[0]
        log("librdkafka: bad value -> %s: %s" % (err.name(), err.str()))
        check(err.code() == confluent_kafka.KafkaError.INVALID_CONFIG, "INVALID_CONFIG")
        check("retention.ms" in err.str(), "the message names the key")

    # validate_only changes nothing.
    dry = ConfigResource("topic", "cfg", set_config={"retention.bytes": "5"})
    admin.alter_configs([dry], validate_only=True)[dry].result(15)
    configs = admin.describe_configs([res])[res].result(15)
    check(configs["retention.bytes"].value == "1048576", "validate_only left it alone")

    broker = ConfigResource("broker", "0")
    bconfigs = admin.describe_configs([broker])[broker].result(15)
    log("librdkafka: broker num.partitions = %s" % bconfigs["num.partitions"].value)
    check(bconfigs["num.partitions"].value == "3", "num.partitions from server.properties")
    check(bconfigs["num.partitions"].source == ConfigSource.STATIC_BROKER_CONFIG.value,
          "static broker config")
    check(bconfigs["num.partitions"].is_read_only, "broker configs are read-only")
    check(bconfigs["auto.create.topics.enable"].source == ConfigSource.DEFAULT_CONFIG.value,
          "default broker config")
    md = admin.list_topics(timeout=10)
    return md.cluster_id


def kafka_python_part(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    resp = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "cfg")])
    entries = {}
    for r in resp:
        for res in r.resources:
            error_code, _msg, _type, _name, cfgs = res[:5]
            check(error_code == 0, "describe error %d" % error_code)
            for c in cfgs:
                entries[c[0]] = c[1]
    log("kafka-python: cleanup.policy = %s" % entries.get("cleanup.policy"))
    check(entries.get("cleanup.policy") == "compact", "kafka-python sees the altered policy")
    resp = admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, "cfg",
                                                configs={"segment.ms": "600000"})])
    for res in resp.resources:
        check(res[0] == 0, "kafka-python alter error %d" % res[0])
    resp = admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, "cfg",
                                                configs={"segment.bytes": "1"})])
    for res in resp.resources:
        log("kafka-python: segment.bytes=1 -> error %d %s" % (res[0], res[1]))
        check(res[0] == 40, "INVALID_CONFIG (40) for segment.bytes=1")
    resp = admin.describe_configs([KConfigResource(ConfigResourceType.BROKER, "0")])
    names = set()
    for r in resp:
        for res in r.resources:
            for c in res[4]:
                names.add(c[0])
    check("log.retention.ms" in names and "num.partitions" in names, "broker config names")
    admin.close()


def main():
    binary = sys.argv[1]
    with BrokerProcess(binary, {"num.partitions": "3"}) as b:
        cluster_id = confluent_part(b.bootstrap)
        log("cluster id %s" % cluster_id)
        check(cluster_id is not None and len(cluster_id) == 22, "22-character cluster id")
        kafka_python_part(b.bootstrap)
        b.stop()
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        res = ConfigResource("topic", "cfg")
        configs = admin.describe_configs([res])[res].result(15)
        check(configs["segment.ms"].value == "600000", "configs survive a restart")
        check(admin.list_topics(timeout=10).cluster_id == cluster_id, "same cluster id")
    log("ok")


if __name__ == "__main__":
    main()
