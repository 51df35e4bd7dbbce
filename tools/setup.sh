#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (run as root, or with sudo on
# PATH): installs what is missing with apt-get, configures, builds, and then
#
#   tools/setup.sh run     starts the main job (see README's quick start)
#   tools/setup.sh test    runs the whole test suite (what CI runs)
#   tools/setup.sh build   only installs and builds
#
# Environment: BUILD_DIR (default build), JOBS (default nproc),
# FUZZ_SECONDS (default 60, seconds of fuzzing per target in `test`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
# ccache keyed on paths relative to the checkout, so a fresh clone (as CI
# makes) reuses what an earlier build of the same sources compiled.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"  # ccache 4's own default
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

# Build and test dependencies, all from Debian 12's archive.
PACKAGES=(
  meson ninja-build pkg-config ccache g++ clang libclang-rt-14-dev llvm
  python3 libabsl-dev libprotobuf-dev protobuf-compiler libssl-dev
  libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libfmt-dev catch2
  libasio-dev zstd lz4 gzip
  # Real peers for interoperability tests.
  kcat librdkafka-dev python3-confluent-kafka python3-kafka
)

log() { printf '\n==> %s\n' "$*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#PACKAGES[@]} packages present"
    return
  fi
  log "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# kafkajs, a Kafka client written from scratch in JavaScript, for the
# interop tests: npm installs it once into build-deps/ (outside git, like the
# build directories); tests/interop/kafkajs_test.js skips without it. npm
# comes with Node.js; Debian's nodejs and npm packages when it is missing.
KAFKAJS_VERSION=2.2.4
NODE_DEPS_DIR="$ROOT/build-deps"

install_node_deps() {
  local pkg="$NODE_DEPS_DIR/node_modules/kafkajs/package.json"
  if [ -f "$pkg" ] && grep -q "\"version\": \"$KAFKAJS_VERSION\"" "$pkg"; then
    log "kafkajs $KAFKAJS_VERSION present"
    return
  fi
  if ! command -v npm >/dev/null; then
    log "installing nodejs and npm"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
  fi
  log "installing kafkajs $KAFKAJS_VERSION into $NODE_DEPS_DIR"
  mkdir -p "$NODE_DEPS_DIR"
  npm install --prefix "$NODE_DEPS_DIR" --no-audit --no-fund --no-package-lock \
    "kafkajs@$KAFKAJS_VERSION" ||
    log "npm install failed: the kafkajs interop test will be skipped"
}

# configure DIR [meson options...]: sets up DIR once, reconfigures otherwise.
configure() {
  local dir="$1"; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$ROOT" "$@"
  fi
}

build_main() {
  log "building (g++, -Werror) in $BUILD_DIR"
  configure "$BUILD_DIR" -Dwerror=true
  ninja -C "$BUILD_DIR" -j "$JOBS"
}

run_main() {
  # The main job: runnel-broker in the foreground on 127.0.0.1:9092 with its
  # data in $ROOT/data, until Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
  local broker="$BUILD_DIR/tools/runnel-broker"
  log "starting $broker (Ctrl-C stops it). From another shell:"
  log "  echo hello | kcat -b 127.0.0.1:9092 -P -t demo        # produce"
  log "  kcat -b 127.0.0.1:9092 -C -t demo -o beginning -e     # consume"
  log "  kcat -b 127.0.0.1:9092 -L                             # list topics"
  "$broker" --listen 127.0.0.1:9092 --data-dir "$ROOT/data"
}

run_tests() {
  build_main
  log "unit and integration tests (g++ build)"
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes "$JOBS"

  # Second configuration: clang with AddressSanitizer and UBSan, plus the
  # libFuzzer targets, which need clang and the same sanitizers.
  local asan_dir="$ROOT/build-asan"
  log "building (clang, ASan+UBSan, fuzzers) in $asan_dir"
  if [ ! -f "$asan_dir/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$asan_dir" "$ROOT" \
      -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzers=true \
      -Dbenchmarks=false -Dbuildtype=debug -Doptimization=1
  fi
  ninja -C "$asan_dir" -j "$JOBS"
  log "unit tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$asan_dir" --print-errorlogs --num-processes "$JOBS" \
      --no-suite slow --no-suite install --no-suite interop
  run_fuzzers "$asan_dir"
  summarize "$BUILD_DIR" "$asan_dir"
}

# Prints one closing line over every meson test run above, counting Catch2
# test cases where a test reports them.
summarize() {
  python3 - "$@" <<'PY'
import json, sys, pathlib
passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = pathlib.Path(d) / "meson-logs" / "testlog.json"
    if not log.exists():
        continue
    for line in log.read_text().splitlines():
        t = json.loads(line)
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
}

# Runs each libFuzzer target for FUZZ_SECONDS from its seed corpus.
run_fuzzers() {
  local dir="$1"
  local found=0
  for fuzzer in "$dir"/tests/fuzz/fuzz_*; do
    # Executables only: meson's fuzz_*.p object directories match too.
    [ -f "$fuzzer" ] && [ -x "$fuzzer" ] || continue
    found=1
    local name corpus
    name="$(basename "$fuzzer")"
    corpus="$(mktemp -d)"
    if [ -d "$ROOT/tests/fuzz/corpus/$name" ]; then
      cp -r "$ROOT/tests/fuzz/corpus/$name/." "$corpus/"
    fi
    if [ -d "$ROOT/tests/data/golden" ]; then
      cp "$ROOT"/tests/data/golden/*.bin "$corpus/" 2>/dev/null || true
    fi
    log "fuzzing $name for ${FUZZ_SECONDS}s"
    ASAN_OPTIONS=detect_leaks=1 "$fuzzer" -max_total_time="$FUZZ_SECONDS" \
      -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
    rm -rf "$corpus"
  done
  if [ "$found" -eq 0 ]; then
    echo "no fuzz targets were built" >&2
    return 1
  fi
}

main() {
  local cmd="${1:-build}"
  install_packages
  install_node_deps
  case "$cmd" in
    build) build_main ;;
    run) build_main; run_main ;;
    test) run_tests ;;
    *) echo "usage: $0 [build|run|test]" >&2; exit 2 ;;
  esac
}

main "$@"
