#!/usr/bin/env bash
# Installs the build into a scratch prefix, then compiles and runs a small
# program against it through pkg-config alone, the way a C++ service that
# links the SDK would: once against the shared library, once static.
#
# Usage: check_install.sh BUILD_DIR SOURCE.cc
set -euo pipefail
build_dir="$1"
source_file="$2"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

meson install -C "$build_dir" --destdir "$scratch/root" --no-rebuild --quiet
pc_file="$(find "$scratch/root" -name runnel.pc | head -n 1)"
if [ -z "$pc_file" ]; then
  echo "runnel.pc was not installed" >&2
  exit 1
fi
export PKG_CONFIG_PATH="$(dirname "$pc_file")"
libdir="$(dirname "$PKG_CONFIG_PATH")"

cxx="${CXX:-c++}"
# runnel.pc names the configured prefix (say /usr/local); the files sit under
# the destdir, so point ${prefix} there. (pkg-config's --define-prefix guesses
# wrongly when the .pc file is in a multiarch libdir such as
# lib/x86_64-linux-gnu/pkgconfig.)
prefix="$(pkg-config --variable=prefix runnel)"
relocate=(--define-variable=prefix="$scratch/root$prefix")
read -r -a cflags <<<"$(pkg-config "${relocate[@]}" --cflags runnel)"
read -r -a libs <<<"$(pkg-config "${relocate[@]}" --libs runnel)"
read -r -a static_libs <<<"$(pkg-config "${relocate[@]}" --static --libs runnel)"

"$cxx" "${cflags[@]}" "$source_file" -o "$scratch/shared_app" "${libs[@]}"
LD_LIBRARY_PATH="$libdir" "$scratch/shared_app"

# The static archive instead of -lrunnel (which would pick the .so), then
# everything runnel.pc says the archive needs.
static_deps=()
for flag in "${static_libs[@]}"; do
  [ "$flag" = "-lrunnel" ] || static_deps+=("$flag")
done
"$cxx" "${cflags[@]}" "$source_file" -o "$scratch/static_app" \
  "$libdir/librunnel.a" "${static_deps[@]}"
"$scratch/static_app"
echo "install check passed: shared and static builds against runnel.pc work"
