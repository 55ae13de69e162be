#!/usr/bin/env bash
# Regenerates converter/schema/src/tflite_generated.rs from converter/schema/tflite.fbs.
# Needs flatc 25.12.19 (the same version as the `flatbuffers` crate): set FLATC or put it on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
flatc="${FLATC:-flatc}"
version="$("$flatc" --version)"
case "$version" in
  *25.12.19*) ;;
  *) echo "gen-schema.sh: need flatc 25.12.19, found '$version' (set FLATC=/path/to/flatc)" >&2; exit 1 ;;
esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$flatc" --rust --gen-object-api --gen-all -o "$tmp" "$here/tflite.fbs"
cp "$tmp/tflite_generated.rs" "$here/src/tflite_generated.rs"
echo "wrote $here/src/tflite_generated.rs"
