#!/bin/sh
# Runs every libFuzzer target in BUILD/fuzz for SECONDS each, each with its own
# corpus folder under BUILD/corpus (seeded from fuzz/corpus/NAME when the
# source tree has one), and prints one summary line per target.
set -e
# UBSan findings fail the run as ASan ones do.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
build=$1; seconds=${2:-60}
status=0
for f in "$build"/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus="$build/corpus/$name"; mkdir -p "$corpus"
  log="$build/$name.log"
  seeds="$(dirname "$0")/../fuzz/corpus/$name"
  [ -d "$seeds" ] || seeds=
  if "$f" -max_total_time="$seconds" -print_final_stats=1 "$corpus" $seeds >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz: $name ok: $execs execs in ${seconds}s"
  else
    echo "fuzz: $name FAILED (see $log)"; tail -30 "$log"; status=1
  fi
done
exit $status
