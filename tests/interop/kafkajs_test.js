// Interop with kafkajs, a Kafka client written from scratch in JavaScript
// (no librdkafka), against runnel-broker: create a topic, produce with
// acks=all, consume in a group of two with manual commits, check the
// committed offsets through the admin API, and check that a new member
// resumes from them.
//
// Usage: node kafkajs_test.js path/to/runnel-broker NODE_MODULES_DIR
// Exit 77 (meson's skip) when kafkajs is not installed there
// (tools/setup.sh installs it into build-deps/node_modules).
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const [brokerBin, nodeModules] = process.argv.slice(2);
let kafkajs;
try {
  kafkajs = require(path.resolve(nodeModules || '.', 'kafkajs'));
} catch (e) {
  console.log(`kafkajs not installed in ${nodeModules} (tools/setup.sh installs it): skipping`);
  process.exit(77);
}
const { Kafka, Partitioners, logLevel } = kafkajs;

const TOPIC = 'kjs-topic';
const PARTITIONS = 4;
const GROUP = 'kjs-group';

function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function startBroker(dir) {
  const port = await freePort();
  const logFile = path.join(dir, 'broker.log');
  const config = path.join(dir, 'server.properties');
  fs.writeFileSync(config, 'group.initial.rebalance.delay.ms=500\n');
  const out = fs.openSync(logFile, 'a');
  const child = childProcess.spawn(
      brokerBin,
      ['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'data'), '--config', config],
      { stdio: ['ignore', out, out] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = code === null ? signal : code; });
  await waitFor(() => new Promise((resolve) => {
    if (exited !== null) throw new Error(`broker exited (${exited}):\n${fs.readFileSync(logFile)}`);
    const sock = net.connect(port, '127.0.0.1', () => { sock.end(); resolve(true); });
    sock.on('error', () => resolve(false));
  }), 20000, 'the broker to listen');
  return { child, bootstrap: `127.0.0.1:${port}`, logFile, exited: () => exited };
}

async function produce(kafka, first, count) {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const messages = [];
  for (let i = first; i < first + count; i++) {
    messages.push({ key: `k${i}`, value: `kjs-${i}`, partition: i % PARTITIONS });
  }
  const results = await producer.send({ topic: TOPIC, acks: -1, messages });
  await producer.disconnect();
  check(results.length === PARTITIONS, `one result per partition: ${JSON.stringify(results)}`);
  for (const r of results) check(r.errorCode === 0, `produce error ${JSON.stringify(r)}`);
  return messages.map((m) => m.value);
}

// Runs `members` consumers in GROUP until they have seen `want` messages,
// commits what each consumed, and disconnects them. Returns the values and
// each member's partitions.
async function consumeInGroup(kafka, members, want) {
  const seen = new Map();  // "partition:offset" -> value
  const partitionsOf = Array.from({ length: members }, () => new Set());
  const consumers = [];
  for (let m = 0; m < members; m++) {
    const consumer = kafka.consumer({
      groupId: GROUP, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    const next = new Map();  // partition -> next offset to commit
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      partitionsOf[m] = new Set(e.payload.memberAssignment[TOPIC] || []);
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        seen.set(`${partition}:${message.offset}`, message.value.toString());
        next.set(partition, BigInt(message.offset) + 1n);
      },
    });
    consumers.push({ consumer, next });
  }
  await waitFor(() => seen.size >= want &&
                     partitionsOf.every((s) => s.size === PARTITIONS / members),
  40000, `${members} members to consume ${want} messages`);
  // The split is read now: once the first member leaves below, the group
  // rebalances and a member still connected may be handed every partition.
  const split = partitionsOf.map((s) => [...s].sort());
  for (const { consumer, next } of consumers) {
    const offsets = [...next].map(([partition, o]) => ({ topic: TOPIC, partition, offset: `${o}` }));
    if (offsets.length > 0) await consumer.commitOffsets(offsets);
  }
  for (const { consumer } of consumers) await consumer.disconnect();
  return { values: [...seen.values()].sort(), partitionsOf: split };
}

async function committedOffsets(admin) {
  const [entry] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  return entry.partitions.map((p) => [p.partition, p.offset]).sort((a, b) => a[0] - b[0]);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-kafkajs-'));
  const broker = await startBroker(dir);
  try {
    log(`broker at ${broker.bootstrap}`);
    const kafka = new Kafka({
      clientId: 'kafkajs-interop', brokers: [broker.bootstrap], logLevel: logLevel.WARN,
      retry: { retries: 5 },
    });
    const admin = kafka.admin();
    await admin.connect();
    check(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }],
                                     waitForLeaders: true }), 'createTopics');
    check((await admin.listTopics()).includes(TOPIC), 'topic listed');

    log('produce 200 messages with acks=all');
    const first = await produce(kafka, 0, 200);

    log('two members consume them in a group, then commit');
    const one = await consumeInGroup(kafka, 2, first.length);
    check(JSON.stringify(one.values) === JSON.stringify([...first].sort()),
          `consumed ${one.values.length} messages, want ${first.length}`);
    const split = one.partitionsOf.flat().sort();
    check(JSON.stringify(split) === JSON.stringify([0, 1, 2, 3]),
          `members split the partitions: ${JSON.stringify(one.partitionsOf)}`);
    const committed = await committedOffsets(admin);
    check(JSON.stringify(committed) === JSON.stringify([[0, '50'], [1, '50'], [2, '50'], [3, '50']]),
          `committed ${JSON.stringify(committed)}`);

    log('20 more; one new member resumes from the committed offsets');
    const second = await produce(kafka, 200, 20);
    const two = await consumeInGroup(kafka, 1, second.length);
    check(JSON.stringify(two.values) === JSON.stringify([...second].sort()),
          `second round consumed ${JSON.stringify(two.values)}`);
    const after = await committedOffsets(admin);
    check(JSON.stringify(after) === JSON.stringify([[0, '55'], [1, '55'], [2, '55'], [3, '55']]),
          `committed after the second round ${JSON.stringify(after)}`);
    await admin.disconnect();

    broker.child.kill('SIGTERM');
    await waitFor(() => broker.exited() !== null, 10000, 'the broker to stop on SIGTERM');
    check(broker.exited() === 0, `broker exit status ${broker.exited()}`);
    log('interop with kafkajs: ok');
  } catch (e) {
    console.log(`FAIL: ${e.stack || e}`);
    console.log(`--- broker log\n${fs.readFileSync(broker.logFile)}`);
    process.exitCode = 1;
  } finally {
    if (broker.exited() === null) broker.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(process.exitCode || 0), (e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
