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
# --define-prefix relocates ${prefix} to where runnel.pc actually is.
read -r -a cflags <<<"$(pkg-config --define-prefix --cflags runnel)"
read -r -a libs <<<"$(pkg-config --define-prefix --libs runnel)"
read -r -a static_libs <<<"$(pkg-config --define-prefix --static --libs runnel)"

"$cxx" "${cflags[@]}" "$source_file" -o "$scratch/shared_app" "${libs[@]}"
LD_LIBRARY_PATH="$libdir" "$scratch/shared_app"

"$cxx" "${cflags[@]}" "$source_file" -o "$scratch/static_app" \
  "$libdir/librunnel.a" "${static_libs[@]/-lrunnel/}"
"$scratch/static_app"
echo "install check passed: shared and static builds against runnel.pc work"
