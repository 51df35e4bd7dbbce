#!/bin/bash
# Drives examples/custom_broker with kcat: produce inside the prefix is
# acknowledged and counted for its client id; produce outside it is refused
# (kcat reports the delivery failure) and counted for nobody; consuming the
# accepted topic returns what was written. Exit 77 (SKIP) without kcat.
#
# Usage: custom_broker_test.sh path/to/custom_broker
set -euo pipefail

bin=$1
if ! command -v kcat >/dev/null; then
  echo "kcat not installed (apt-get install kcat): skipping"
  exit 77
fi
dir=$(mktemp -d /tmp/runnel-custom-broker-XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- broker output"; cat "$dir/out.txt" "$dir/err.txt"; exit 1; }

"$bin" --listen 127.0.0.1:0 --data-dir "$dir/data" --prefix app. >"$dir/out.txt" 2>"$dir/err.txt" &
pid=$!
bootstrap=
for _ in $(seq 100); do
  bootstrap=$(sed -n 's/^bootstrap \(.*\)$/\1/p' "$dir/out.txt")
  [[ -n $bootstrap ]] && break
  sleep 0.1
done
[[ -n $bootstrap ]] || fail "custom_broker did not start"

printf 'one\ntwo\nthree\n' | kcat -b "$bootstrap" -P -t app.events -X client.id=alice -m 10 \
  || fail "produce to app.events"
printf 'four\n' | kcat -b "$bootstrap" -P -t app.events -X client.id=bob -m 10 \
  || fail "produce to app.events as bob"
# Refused: kcat reports the failed delivery and exits non-zero.
if printf 'secret\n' | kcat -b "$bootstrap" -P -t payroll -X client.id=mallory \
    -X message.send.max.retries=0 -m 10 2>"$dir/refused.txt"; then
  fail "produce to payroll was accepted"
fi
grep -qi "authoriz" "$dir/refused.txt" || fail "refusal does not say why: $(cat "$dir/refused.txt")"

got=$(kcat -b "$bootstrap" -C -t app.events -o beginning -e -q -m 10 -f '%s\n')
[[ "$got" == $'one\ntwo\nthree\nfour' ]] || fail "consumed: $got"

kill -TERM "$pid"
wait "$pid" || fail "custom_broker exited with $?"
pid=
grep -qx "records alice 3" "$dir/out.txt" || fail "alice's count"
grep -qx "records bob 1" "$dir/out.txt" || fail "bob's count"
if grep -q "records mallory [1-9]" "$dir/out.txt"; then fail "mallory's refused record counted"; fi
echo "ok"
