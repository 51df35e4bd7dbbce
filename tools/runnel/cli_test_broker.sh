# Sourced by the runnel CLI tests: starts runnel-broker on a free loopback
# port with a fresh data directory under $dir and sets $pid and $b (its
# bootstrap address, read from its start-up log line).
#
#   dir=$(mktemp -d); broker_bin=path/to/runnel-broker
#   source cli_test_broker.sh
#   start_broker [properties-file]    # then: runnel ... -b "$b"
#
# fail() prints the broker log's tail and exits 1; stop_broker sends SIGTERM
# and waits (the tests' EXIT traps call it).

fail() { echo "FAIL: $*"; echo "--- broker log"; tail -20 "$dir/broker.log"; exit 1; }

stop_broker() {
  if [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
}

start_broker() {
  local config=()
  [[ -n ${1:-} ]] && config=(--config "$1")
  "$broker_bin" --listen 127.0.0.1:0 --data-dir "$dir/data" "${config[@]}" 2>"$dir/broker.log" &
  pid=$!
  b=
  for _ in $(seq 100); do
    b=$(sed -n 's/.*bootstrap \([0-9.]*:[0-9]*\).*/\1/p' "$dir/broker.log" | head -1)
    [[ -n $b ]] && break
    sleep 0.1
  done
  [[ -n $b ]] || fail "runnel-broker did not start"
}
