// The kafkajs half of the golden capture (run by capture_golden.sh).
//
//   NODE_PATH=$KAFKAJS_DIR/node_modules node kafkajs_client.js produce BOOTSTRAP CODEC
//   NODE_PATH=$KAFKAJS_DIR/node_modules node kafkajs_client.js consume BOOTSTRAP EXPECTED
//
// kafkajs is not packaged by Debian: install it with npm into a scratch
// directory (never into the repository), see tests/data/golden/README.md.
// CODEC is none or gzip (built in) or snappy (with kafkajs-snappy installed).
// The producer sends the same five records as py_clients.py to partition 0
// of "golden" in one send() (one batch); the consumer joins group
// "golden-group-kafkajs" and reads from the beginning until it has seen
// EXPECTED records.
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

const TOPIC = 'golden';
const RECORDS = [1, 2, 3, 4, 5].map((i) => ({
  key: `k${i}`, value: `hello-golden-${i}`, headers: { h1: 'v1' }, partition: 0,
}));

// Snappy needs the kafkajs-snappy package, for producing and for consuming.
try {
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
} catch (e) {
  // Without it only none and gzip work; the capture script skips snappy.
}

async function produce(kafka, codec) {
  const types = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP,
                  snappy: CompressionTypes.Snappy };
  if (!(codec in types)) throw new Error(`codec ${codec} not supported here`);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic: TOPIC, acks: -1, compression: types[codec],
                        messages: RECORDS });
  await producer.disconnect();
}

async function consume(kafka, expected) {
  const consumer = kafka.consumer({ groupId: 'golden-group-kafkajs' });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  let seen = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen} of ${expected}`)), 30000);
    consumer.run({
      autoCommit: false,
      eachMessage: async () => {
        seen += 1;
        if (seen >= expected) { clearTimeout(timer); resolve(); }
      },
    });
  });
  await consumer.disconnect();
}

async function main() {
  const [cmd, bootstrap, arg] = process.argv.slice(2);
  const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [bootstrap],
                            logLevel: logLevel.ERROR });
  if (cmd === 'produce') await produce(kafka, arg);
  else if (cmd === 'consume') await consume(kafka, Number(arg));
  else throw new Error(`unknown command ${cmd}`);
}

main().catch((e) => { console.error(`kafkajs: ${e.message}`); process.exit(1); });
