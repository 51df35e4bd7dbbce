#!/bin/bash
# `runnel topics` and `runnel groups` against runnel-broker on a free port:
# create (and a refused duplicate), list, describe with configs, alter
# (partitions and configs, and a refused bad value), produce, commit offsets
# with `groups offsets --reset-to`, list/describe/delete the group, delete the
# topic. Checks exit codes and what the commands print.
#
# Usage: admin_cli_test.sh path/to/runnel path/to/runnel-broker
set -euo pipefail

runnel=$1
broker_bin=$2
dir=$(mktemp -d /tmp/runnel-admin-cli-XXXXXX)
pid=
source "$(dirname "$0")/cli_test_broker.sh"
cleanup() {
  stop_broker
  rm -rf "$dir"
}
trap cleanup EXIT

start_broker

out=$("$runnel" topics create -b "$b" -t orders --partitions 3 --config 'retention.ms=3600000') \
  || fail "create: $out"
[[ $out == *"created orders (3 partitions)"* ]] || fail "create printed: $out"
if "$runnel" topics create -b "$b" -t orders --partitions 1 2>"$dir/err"; then
  fail "a second create succeeded"
fi
grep -q TOPIC_ALREADY_EXISTS "$dir/err" || fail "duplicate create said: $(cat "$dir/err")"

out=$("$runnel" topics list -b "$b")
[[ $out == "orders" ]] || fail "list printed: $out"

out=$("$runnel" topics describe -b "$b" -t orders)
[[ $out == *"PartitionCount: 3"* ]] || fail "describe printed: $out"
[[ $out == *"Config: retention.ms=3600000"* ]] || fail "describe configs: $out"
[[ $(grep -c "Partition: " <<<"$out") == 3 ]] || fail "describe partitions: $out"

"$runnel" topics alter -b "$b" -t orders --partitions 4 --set 'cleanup.policy=compact' >/dev/null \
  || fail "alter"
out=$("$runnel" topics describe -b "$b" -t orders)
[[ $out == *"PartitionCount: 4"* ]] || fail "alter partitions: $out"
[[ $out == *"Config: cleanup.policy=compact"* ]] || fail "alter config: $out"
if "$runnel" topics alter -b "$b" -t orders --set 'retention.ms=forever' 2>"$dir/err"; then
  fail "a bad config value was accepted"
fi
grep -q INVALID_CONFIG "$dir/err" || fail "bad config said: $(cat "$dir/err")"
"$runnel" topics alter -b "$b" -t orders --delete cleanup.policy >/dev/null || fail "delete config"
out=$("$runnel" topics describe -b "$b" -t orders)
[[ $out != *"cleanup.policy"* ]] || fail "config not deleted: $out"

# Five records in partition 0 (runnel produce -p), then the group's offsets.
printf 'a\nb\nc\nd\ne\n' | "$runnel" produce -b "$b" -t orders -p 0 || fail "produce"
out=$("$runnel" groups offsets -b "$b" -g billing -t orders --reset-to latest) \
  || fail "reset-to latest: $out"
grep -qP '^orders\t0\t5\t5\t0$' <<<"$out" || fail "offsets after reset-to latest: $out"
out=$("$runnel" groups offsets -b "$b" -g billing -t orders --reset-to 2) || fail "reset-to 2"
grep -qP '^orders\t0\t2\t5\t3$' <<<"$out" || fail "offsets after reset-to 2: $out"

out=$("$runnel" groups list -b "$b")
grep -qP '^billing\tEmpty\t' <<<"$out" || fail "groups list printed: $out"
out=$("$runnel" groups describe -b "$b" -g billing)
[[ $out == *"State: Empty"* ]] || fail "groups describe printed: $out"
"$runnel" groups delete -b "$b" -g billing >/dev/null || fail "groups delete"
if "$runnel" groups delete -b "$b" -g billing 2>"$dir/err"; then fail "second delete succeeded"; fi
grep -q GROUP_ID_NOT_FOUND "$dir/err" || fail "second delete said: $(cat "$dir/err")"

"$runnel" topics delete -b "$b" -t orders >/dev/null || fail "topics delete"
out=$("$runnel" topics list -b "$b")
[[ -z $out ]] || fail "topic still listed: $out"
if "$runnel" topics describe -b "$b" -t orders 2>"$dir/err"; then fail "describe of a deleted topic"; fi
grep -q UNKNOWN_TOPIC_OR_PARTITION "$dir/err" || fail "describe deleted said: $(cat "$dir/err")"
# A usage error exits 2.
set +e
"$runnel" topics create -t x 2>/dev/null
rc=$?
set -e
[[ $rc == 2 ]] || fail "missing --bootstrap exited $rc"
echo "OK"
