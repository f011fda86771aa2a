#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time, starting from its committed seed
# corpus (fuzz/corpus/<target>/), on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# The targets are built the way `cargo fuzz build -s none` builds them, without cargo-fuzz
# (which needs nightly for -Zsanitizer): libFuzzer's coverage instrumentation via stable
# `-Cpasses=sancov-module`, overflow checks and debug assertions on. New inputs libFuzzer finds
# go to fuzz/target/corpus/<target>/ (not committed); a crash is written to
# fuzz/artifacts/<target>/ and the script exits 1 after running the remaining targets. Turn
# every crash into a regression test in the crate concerned, then add the input to the seeds.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then targets=("$@"); else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sigil-fuzz$')
fi

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Copt-level=1 -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off the build scripts and proc macros (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --quiet --target "$host" "${bins[@]}"

failed=()
for t in "${targets[@]}"; do
  seeds="corpus/$t"
  [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "error: no seed corpus in fuzz/$seeds" >&2; exit 1; }
  work="target/corpus/$t"
  mkdir -p "$work" "artifacts/$t"
  echo "==> fuzz $t for ${seconds}s"
  # The first corpus directory collects new inputs; the committed seeds are only read.
  if ! "target/$host/debug/$t" "$work" "$seeds" -max_total_time="$seconds" -max_len=65536 \
      -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
      2> "target/$t.log"; then
    failed+=("$t")
    tail -n 40 "target/$t.log" >&2
  fi
  grep -a -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)' "target/$t.log" || true
  echo "corpus: $(ls "$work" | wc -l) new inputs kept"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
