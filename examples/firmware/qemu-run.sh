#!/bin/sh
# Cargo runner for the firmware workspace: boots an ELF in the QEMU machine of its tier
# (runner-small* -> mps2-an386 / Cortex-M4, anything else -> mps2-an500 / Cortex-M7) with
# semihosting for the console and exit status, and -icount shift=0 so that the boards' meter
# counts retired instructions.
set -eu
elf="$1"
shift
case "$(basename "$elf")" in
    *small*) machine=mps2-an386 ;;
    *) machine=mps2-an500 ;;
esac
exec qemu-system-arm -M "$machine" -nographic -monitor none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" "$@"
