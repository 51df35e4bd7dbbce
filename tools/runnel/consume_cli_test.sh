#!/bin/bash
# `runnel consume` and `runnel perf consume` against runnel-broker on a free
# port: exact output from the beginning (-e), --count, --format with key,
# partition and offset, start offsets (absolute, from the end, end), a group
# that commits what it printed and resumes from it, a group started at a
# numeric offset (kcat -G -o), SIGTERM leaving the group
# with its offsets committed, perf consume's record count, and the errors
# (unknown flag, missing --topic, bad format, unknown topic, no broker).
#
# Usage: consume_cli_test.sh path/to/runnel path/to/runnel-broker
set -euo pipefail
[[ -n ${TRACE_TIMES:-} ]] && { PS4='+ $(date +%S.%N | cut -c1-6) '; set -x; }

runnel=$1
broker_bin=$2
dir=$(mktemp -d /tmp/runnel-consume-cli-XXXXXX)
pid=
consumer=
source "$(dirname "$0")/cli_test_broker.sh"
cleanup() {
  if [[ -n $consumer ]] && kill -0 "$consumer" 2>/dev/null; then kill -KILL "$consumer"; fi
  stop_broker
  rm -rf "$dir"
}
trap cleanup EXIT
# Runs a command that must fail with a usage message; $1 is what stderr names.
expect_error() {
  local want=$1 rc=0
  shift
  "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  [[ $rc != 0 ]] || fail "'$*' succeeded: $(cat "$dir/out")"
  grep -q -- "$want" "$dir/err" || fail "'$*' said: $(cat "$dir/err") (wanted $want)"
}

# No initial rebalance delay: each group run would otherwise wait 3 s to join.
echo "group.initial.rebalance.delay.ms=0" >"$dir/broker.properties"
start_broker "$dir/broker.properties"

"$runnel" topics create -b "$b" -t orders --partitions 2 >/dev/null || fail "create"
printf 'k1:v1\nk2:v2\nk3:v3\n' | "$runnel" produce -b "$b" -t orders -p 0 -K : || fail "produce 0"
printf 'k4:v4\nk5:v5\n' | "$runnel" produce -b "$b" -t orders -p 1 -K : || fail "produce 1"
all=$'v1\nv2\nv3\nv4\nv5'

# Without a group: one partition in order, then the whole topic.
out=$("$runnel" consume -b "$b" -t orders -p 0 -o beginning -e) || fail "consume -p 0: $out"
[[ $out == $'v1\nv2\nv3' ]] || fail "consume -p 0 printed: $out"
out=$("$runnel" consume -b "$b" -t orders -o beginning -e) || fail "consume -e: $out"
[[ $(sort <<<"$out") == "$all" ]] || fail "consume -e printed: $out"
out=$("$runnel" consume -b "$b" -t orders -p 0 -c 2) || fail "consume -c"
[[ $out == $'v1\nv2' ]] || fail "consume -c 2 printed: $out"
out=$("$runnel" consume -b "$b" -t orders -p 1 -e -f '%t/%p/%o %k=%s|%S\n') || fail "consume -f"
[[ $out == $'orders/1/0 k4=v4|2\norders/1/1 k5=v5|2' ]] || fail "consume -f printed: $out"
out=$("$runnel" consume -b "$b" -t orders -p 0 -o 1 -e -f '%o:%s\n') || fail "consume -o 1"
[[ $out == $'1:v2\n2:v3' ]] || fail "consume -o 1 printed: $out"
out=$("$runnel" consume -b "$b" -t orders -p 0 -o -1 -e) || fail "consume -o -1"
[[ $out == "v3" ]] || fail "consume -o -1 printed: $out"
out=$("$runnel" consume -b "$b" -t orders -o end -e) || fail "consume -o end"
[[ -z $out ]] || fail "consume -o end printed: $out"

# A group commits exactly what it printed: four records (of five Poll may
# have returned), then the fifth, then nothing; the offsets are the ends.
first=$("$runnel" consume -b "$b" -t orders -g billing -c 4) || fail "group -c 4: $first"
[[ $(wc -l <<<"$first") == 4 ]] || fail "group -c 4 printed: $first"
second=$("$runnel" consume -b "$b" -t orders -g billing -e) || fail "group -e: $second"
[[ $(printf '%s\n%s\n' "$first" "$second" | sort) == "$all" ]] \
  || fail "group runs printed: $first / $second"
third=$("$runnel" consume -b "$b" -t orders -g billing -e) || fail "group third run"
[[ -z $third ]] || fail "group third run printed: $third"
out=$("$runnel" groups offsets -b "$b" -g billing) || fail "groups offsets: $out"
grep -qP '^orders\t0\t3\t3\t0$' <<<"$out" || fail "offsets of partition 0: $out"
grep -qP '^orders\t1\t2\t2\t0$' <<<"$out" || fail "offsets of partition 1: $out"

# With a group, a numeric --offset starts every partition the group assigns
# there, committed offsets notwithstanding (kcat -G -o), and the group's
# offsets end where the run stopped printing.
out=$("$runnel" consume -b "$b" -t orders -g billing -o 1 -e -f '%p/%o:%s\n') \
  || fail "group -o 1: $out"
[[ $(sort <<<"$out") == $'0/1:v2\n0/2:v3\n1/1:v5' ]] || fail "group -o 1 printed: $out"
out=$("$runnel" consume -b "$b" -t orders -g billing -o -1 -e) || fail "group -o -1: $out"
[[ $(sort <<<"$out") == $'v3\nv5' ]] || fail "group -o -1 printed: $out"
out=$("$runnel" groups offsets -b "$b" -g billing) || fail "groups offsets after -o: $out"
grep -qP '^orders\t0\t3\t3\t0$' <<<"$out" || fail "offsets of partition 0 after -o: $out"
grep -qP '^orders\t1\t2\t2\t0$' <<<"$out" || fail "offsets of partition 1 after -o: $out"

# SIGTERM: the member commits, leaves (the group is Empty at once, not after
# a session timeout) and exits 0.
"$runnel" consume -b "$b" -t orders -g audit >"$dir/audit.out" 2>"$dir/audit.err" &
consumer=$!
for _ in $(seq 100); do
  [[ $(wc -l <"$dir/audit.out") == 5 ]] && break
  sleep 0.1
done
[[ $(sort "$dir/audit.out") == "$all" ]] || fail "audit printed: $(cat "$dir/audit.out")"
kill -TERM "$consumer"
rc=0
wait "$consumer" || rc=$?
consumer=
[[ $rc == 0 ]] || fail "SIGTERM exit $rc: $(cat "$dir/audit.err")"
out=$("$runnel" groups describe -b "$b" -g audit) || fail "describe audit"
[[ $out == *"State: Empty"* ]] || fail "audit after SIGTERM: $out"
out=$("$runnel" groups offsets -b "$b" -g audit)
grep -qP '^orders\t0\t3\t3\t0$' <<<"$out" || fail "audit offsets: $out"

# perf consume reads exactly --count records and says so.
"$runnel" perf produce -b "$b" -t orders --count 2000 --size 100 >/dev/null 2>&1 \
  || fail "perf produce"
out=$("$runnel" perf consume -b "$b" -t orders --count 2006 2>/dev/null) || fail "perf consume: $out"
[[ $out == "2006 records received, "*" MB/s, "*" s elapsed"* ]] || fail "perf consume said: $out"
expect_error "no record for --timeout-ms after 2006 of 5000" \
  "$runnel" perf consume -b "$b" -t orders --count 5000 --timeout-ms 1000

# Errors: usage (exit 2), an unknown topic, a broker that is not there.
expect_error "unknown flag --bogus" "$runnel" consume -b "$b" -t orders --bogus
[[ $(set +e; "$runnel" consume -b "$b" 2>/dev/null; echo $?) == 2 ]] || fail "missing -t exit"
expect_error "--topic is required" "$runnel" consume -b "$b"
expect_error "unknown directive '%x'" "$runnel" consume -b "$b" -t orders -f '%x'
expect_error "--offset is beginning, end" "$runnel" consume -b "$b" -t orders -o middle
expect_error "--count is required" "$runnel" perf consume -b "$b" -t orders
expect_error UNKNOWN_TOPIC_OR_PARTITION "$runnel" consume -b "$b" -t nosuch -e
expect_error "orders has no partition 7" "$runnel" consume -b "$b" -t orders -p 7 -e
start=$(date +%s)
expect_error "Connection refused" "$runnel" consume -b 127.0.0.1:1 -t orders --timeout-ms 1000
(($(date +%s) - start < 5)) || fail "an absent broker took $(($(date +%s) - start)) s"
echo "OK"
