#!/bin/bash
# Interop with a real client: starts runnel-broker on a free loopback port
# with a fresh data directory and drives it with kcat (librdkafka): metadata
# listing, produce with every codec, consume back, checking contents, then a
# SIGTERM that must stop the broker cleanly and a restart that still has the
# data. Exit 77 (meson's SKIP) when kcat is not installed.
#
# Usage: kcat_test.sh path/to/runnel-broker
set -euo pipefail

broker_bin=$1
if ! command -v kcat >/dev/null; then
  echo "kcat not installed (apt-get install kcat): skipping"
  exit 77
fi

dir=$(mktemp -d /tmp/runnel-interop-XXXXXX)
broker_pid=
cleanup() {
  if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then kill -KILL "$broker_pid"; fi
  rm -rf "$dir"
}
trap cleanup EXIT

start_broker() {
  "$broker_bin" --listen 127.0.0.1:0 --data-dir "$dir/data" 2>"$dir/broker.log" &
  broker_pid=$!
  for _ in $(seq 100); do
    bootstrap=$(sed -n 's/.*bootstrap \([0-9.]*:[0-9]*\),.*/\1/p' "$dir/broker.log")
    [[ -n $bootstrap ]] && return 0
    sleep 0.1
  done
  echo "broker did not start:"; cat "$dir/broker.log"; exit 1
}

fail() { echo "FAIL: $*"; echo "--- broker log"; cat "$dir/broker.log"; exit 1; }

start_broker
echo "broker at $bootstrap"

kcat -b "$bootstrap" -L -m 10 >"$dir/meta.txt" || fail "kcat -L"
grep -q "broker 0 at $bootstrap" "$dir/meta.txt" || fail "metadata lists no broker 0: $(cat "$dir/meta.txt")"

expected=
for codec in none gzip snappy lz4 zstd; do
  for i in 1 2 3; do echo "$codec-$i"; done | kcat -b "$bootstrap" -P -t interop -z "$codec" -m 10 \
    || fail "produce with -z $codec"
  expected+="$codec-1"$'\n'"$codec-2"$'\n'"$codec-3"$'\n'
done

got=$(kcat -b "$bootstrap" -C -t interop -o beginning -e -q -m 10 -f '%s\n')
[[ "$got"$'\n' == "$expected" ]] || fail "consumed:"$'\n'"$got"$'\n'"expected:"$'\n'"$expected"
offsets=$(kcat -b "$bootstrap" -C -t interop -o beginning -e -q -m 10 -f '%o ')
[[ "$offsets" == "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 " ]] || fail "offsets: $offsets"

kcat -b "$bootstrap" -L -t interop -m 10 | grep -q 'topic "interop" with 1 partitions' \
  || fail "kcat -L -t interop"

# Clean shutdown on SIGTERM within a few seconds, then a restart keeps it all.
kill -TERM "$broker_pid"
for _ in $(seq 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$broker_pid" 2>/dev/null && fail "broker still running 5 s after SIGTERM"
wait "$broker_pid" || fail "broker exited with status $? after SIGTERM"
grep -q "stopped" "$dir/broker.log" || fail "no clean-stop log line"

start_broker
got=$(kcat -b "$bootstrap" -C -t interop -o beginning -e -q -m 10 -f '%s\n')
[[ "$got"$'\n' == "$expected" ]] || fail "after restart consumed:"$'\n'"$got"
kill -TERM "$broker_pid"; wait "$broker_pid"
echo "interop with kcat: ok"
