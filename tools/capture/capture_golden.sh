#!/usr/bin/env bash
# Recaptures tests/data/golden/: real Kafka clients talking to librdkafka's
# mock cluster over loopback, sniffed and split into one file per frame.
# See tests/data/golden/README.md for what is captured and why.
#
# Needs: root (raw socket on lo), cc, pkg-config, librdkafka-dev, kcat,
# python3-confluent-kafka, python3-kafka; for kafka-python's snappy/lz4/zstd
# also python3-snappy, python3-lz4, python3-zstandard (missing ones are
# skipped, with a message).
#
#   tools/capture/capture_golden.sh [OUT_DIR]   (default tests/data/golden)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:-$REPO/tests/data/golden}
PY=/usr/bin/python3   # Debian's python, where the client packages live
CODECS="none gzip snappy lz4 zstd"

if [[ $(id -u) != 0 ]]; then
  echo "capture_golden.sh: needs root for the AF_PACKET sniffer" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/golden-capture.XXXXXX)
MOCK_PID=""
SNIFF_PID=""
cleanup() {
  [[ -n $SNIFF_PID ]] && kill "$SNIFF_PID" 2>/dev/null || true
  [[ -n $MOCK_PID ]] && kill "$MOCK_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cc -O1 -Wall -o "$WORK/mock_cluster" "$HERE/mock_cluster.c" \
  $(pkg-config --cflags --libs rdkafka)

mkdir -p "$OUT"
rm -f "$OUT"/*.bin "$OUT/MANIFEST.tsv"

# start_session NAME: a fresh mock cluster (topic "golden", 1 partition) and a
# sniffer on its port. Metadata is raised to v0-4, the range librdkafka 2.0.2
# uses with a real broker (the mock advertises only v0-2 by default but its
# handler implements v3/v4: throttle time and allow_auto_topic_creation).
start_session() {
  local name=$1
  "$WORK/mock_cluster" -t golden:1 -a 3:0:4 >"$WORK/$name.addr" 2>"$WORK/$name.mock.err" &
  MOCK_PID=$!
  for _ in $(seq 50); do [[ -s $WORK/$name.addr ]] && break; sleep 0.1; done
  ADDR=$(head -1 "$WORK/$name.addr")
  PORT=${ADDR##*:}
  "$PY" "$HERE/sniff.py" --ports "$PORT" --out "$WORK/$name.pcap" 2>"$WORK/$name.sniff.err" &
  SNIFF_PID=$!
  for _ in $(seq 50); do grep -q ready "$WORK/$name.sniff.err" 2>/dev/null && break; sleep 0.1; done
  echo "== $name: mock at $ADDR"
}

# end_session NAME PREFIX VERSION: stop sniffing, stop the mock, extract.
end_session() {
  local name=$1 prefix=$2 version=$3
  sleep 0.5
  kill "$SNIFF_PID"; wait "$SNIFF_PID" || true; SNIFF_PID=""
  kill "$MOCK_PID"; wait "$MOCK_PID" || true; MOCK_PID=""
  "$PY" "$HERE/extract_golden.py" --pcap "$WORK/$name.pcap" --server-ports "$PORT" \
    --client "$prefix" --client-version "$version" --out-dir "$OUT"
}

# expect_file GLOB: fail loudly when a scenario did not produce its capture.
expect_file() {
  compgen -G "$OUT/$1" >/dev/null || { echo "MISSING: $1" >&2; exit 1; }
}

# expect_produce PREFIX CODEC: the produce capture holds all five records in
# one batch of that codec (timing can split a batch; then rerun).
expect_produce() {
  expect_file "$1_produce_v*_$2.bin"
  grep -q "^$1_produce_v[0-9]*_$2.bin.*codec=$2 count=5 " "$OUT/MANIFEST.tsv" ||
    { echo "BAD: $1 $2 produce is not one batch of 5 records" >&2; exit 1; }
}

# ---- kcat (librdkafka inside) ----------------------------------------------
KCAT_VERSION=$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/kcat \1 \/ librdkafka \2/p')
start_session kcat
for codec in $CODECS; do
  printf 'k1:hello-golden-1\nk2:hello-golden-2\nk3:hello-golden-3\nk4:hello-golden-4\nk5:hello-golden-5\n' |
    kcat -P -b "$ADDR" -t golden -p 0 -K: -H h1=v1 -z "$codec" \
      -X client.id=golden-kcat -X linger.ms=200
done
kcat -L -b "$ADDR" -X client.id=golden-kcat >/dev/null
kcat -C -b "$ADDR" -t golden -p 0 -o beginning -e -q -X client.id=golden-kcat >/dev/null
end_session kcat kcat "$KCAT_VERSION"
for codec in $CODECS; do expect_produce kcat "$codec"; expect_file "kcat_fetch_v*_$codec.bin"; done

# ---- confluent-kafka-python (librdkafka inside) ------------------------------
CONFLUENT_VERSION=$("$PY" -c 'import confluent_kafka as c; print(f"confluent-kafka-python {c.version()[0]} / librdkafka {c.libversion()[0]}")')
start_session confluent
for codec in $CODECS; do
  "$PY" "$HERE/py_clients.py" confluent-produce "$ADDR" "$codec"
done
"$PY" "$HERE/py_clients.py" confluent-consume "$ADDR" 25
end_session confluent confluent "$CONFLUENT_VERSION"
for codec in $CODECS; do expect_produce confluent "$codec"; expect_file "confluent_fetch_v*_$codec.bin"; done

# ---- kafka-python ----------------------------------------------------------------
KP_VERSION=$("$PY" -c 'import kafka; print(f"kafka-python {kafka.__version__}")')
KP_CODECS=$("$PY" -c '
import kafka.codec as c
print(" ".join(n for n, ok in [("none", True), ("gzip", c.has_gzip()), ("snappy", c.has_snappy()),
                               ("lz4", c.has_lz4()), ("zstd", c.has_zstd())] if ok))')
echo "kafka-python codecs available: $KP_CODECS"
start_session kafkapython
n=0
for codec in $KP_CODECS; do
  if "$PY" "$HERE/py_clients.py" kafkapython-produce "$ADDR" "$codec"; then
    n=$((n + 5))
  else
    echo "kafka-python could not produce with $codec (see above); skipped" >&2
  fi
done
"$PY" "$HERE/py_clients.py" kafkapython-consume "$ADDR" "$n"
end_session kafkapython kafkapython "$KP_VERSION"
for codec in $KP_CODECS; do expect_produce kafkapython "$codec"; expect_file "kafkapython_fetch_v*_$codec.bin"; done

# ---- kafkajs (optional: KAFKAJS_DIR holds node_modules/kafkajs) -------------
if [[ -n ${KAFKAJS_DIR:-} && -d $KAFKAJS_DIR/node_modules/kafkajs ]]; then
  export NODE_PATH=$KAFKAJS_DIR/node_modules
  JS_VERSION=$(node -e 'console.log("kafkajs " + require("kafkajs/package.json").version)')
  JS_CODECS="none gzip"
  [[ -d $KAFKAJS_DIR/node_modules/kafkajs-snappy ]] && JS_CODECS="$JS_CODECS snappy"
  start_session kafkajs
  n=0
  for codec in $JS_CODECS; do
    node "$HERE/kafkajs_client.js" produce "$ADDR" "$codec"
    n=$((n + 5))
  done
  node "$HERE/kafkajs_client.js" consume "$ADDR" "$n"
  end_session kafkajs kafkajs "$JS_VERSION"
  for codec in $JS_CODECS; do expect_produce kafkajs "$codec"; expect_file "kafkajs_fetch_v*_$codec.bin"; done
else
  echo "== kafkajs skipped: set KAFKAJS_DIR to a directory where 'npm install kafkajs kafkajs-snappy' ran"
fi

echo "== wrote $(ls "$OUT"/*.bin | wc -l) files, $(du -cb "$OUT"/*.bin | tail -1 | cut -f1) bytes, to $OUT"
