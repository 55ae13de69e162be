#!/usr/bin/env bash
# Flash cost of the SNAP ops on Cortex-M4F/M7 (thumbv7em-none-eabihf), reproducibly:
# builds libsnapuq_tflm.a with the given cargo profile and features, links ctest/size_main.c
# with arm-none-eabi-gcc --gc-sections once over an empty main and once keeping the three
# registrations, and prints the growth (.text + .data) plus the largest symbols.
#
#   tflm/measure-size.sh [--profile firmware|release] [--minimal] [--features a,b] [--top N]
#   tflm/measure-size.sh --ops-only [--minimal]
#
# --minimal builds with --no-default-features (Gaussian surprisal, logistic calibrator, fixed
# tau: what a firmware that needs nothing else ships). --ops-only measures the snapuq-ops
# kernels without the TFLM glue (size-probe/: parse → prepare → eval of each op with the
# portable dot product, as the host executor's glue calls them in the Rust runner firmware;
# always opt-level "s" + fat LTO). Output dir: $CARGO_TARGET_DIR/size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
profile=firmware
features=""
minimal=0
ops_only=0
top=25
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --features) features="$2"; shift 2 ;;
    --minimal) minimal=1; shift ;;
    --ops-only) ops_only=1; shift ;;
    --top) top="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
target=thumbv7em-none-eabihf
if [ $ops_only = 1 ]; then
  flavour="ops-only-$([ $minimal = 1 ] && echo minimal || echo default)"
  tdir="${CARGO_TARGET_DIR:-$repo/target}/size/$flavour"
  args=(build --release --target "$target" --manifest-path "$here/size-probe/Cargo.toml")
  [ $minimal = 1 ] && args+=(--no-default-features)
  (CARGO_TARGET_DIR="$tdir" RUSTFLAGS="" cargo "${args[@]}" -q)
  lib="$tdir/$target/release/libsnapuq_size_probe.a"
  main="$here/size-probe/src/main.c"
else
  flavour="$profile-$([ $minimal = 1 ] && echo minimal || echo default)${features:+-${features//,/+}}"
  tdir="${CARGO_TARGET_DIR:-$repo/target}/size/$flavour"
  args=(rustc -p snapuq-tflm --profile "$profile" --target "$target" --lib --crate-type staticlib)
  [ $minimal = 1 ] && args+=(--no-default-features)
  [ -n "$features" ] && args+=(--features "$features")
  (cd "$repo" && CARGO_TARGET_DIR="$tdir" RUSTFLAGS="" cargo "${args[@]}" -q)
  lib="$tdir/$target/$profile/libsnapuq_tflm.a"
  main="$here/ctest/size_main.c"
fi
cflags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -ffunction-sections
  -fdata-sections -std=c11 -I"$here/include" -I"$here/include/testing")
link() { # out.elf defines...
  local elf="$1"; shift
  arm-none-eabi-gcc "${cflags[@]}" "$@" "$main" "$lib" -Wl,--gc-sections \
    -Wl,--no-warn-execstack --specs=nosys.specs --specs=nano.specs -lm -o "$elf"
}
size_of() { arm-none-eabi-size "$1" | awk 'NR==2 { print $1 + $2 }'; }
link "$tdir/base.elf"
link "$tdir/all.elf" -DUSE_PROJECT -DUSE_SURPRISAL -DUSE_CALIBRATE
base=$(size_of "$tdir/base.elf")
all=$(size_of "$tdir/all.elf")
echo "$flavour: SNAP ops = $((all - base)) bytes (.text+.data over an empty main)"
for op in PROJECT SURPRISAL CALIBRATE; do
  link "$tdir/$op.elf" "-DUSE_$op"
  echo "  SNAP_$op alone: $(( $(size_of "$tdir/$op.elf") - base )) bytes"
done
# Symbols of the image that the empty main does not have (i.e. what the ops brought in).
arm-none-eabi-nm --size-sort -S -C "$tdir/base.elf" | awk '{ $1 = ""; print }' >"$tdir/base.syms"
echo "  largest symbols the ops add (bytes, type, name):"
arm-none-eabi-nm --size-sort -S -C -r "$tdir/all.elf" | while read -r _addr size rest; do
  grep -qxF " $size $rest" "$tdir/base.syms" || printf '    %6d %s\n' "$((16#$size))" "$rest"
done | head -n "$top"
