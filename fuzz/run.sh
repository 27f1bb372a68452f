#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/Package.swift) and runs each for FUZZ_SECONDS (default 600)
# from a copy of its committed seed corpus. A crash leaves its input in fuzz/findings/HARNESS/ and
# makes this script exit non-zero; turn every finding into a regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-600}"
swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
status=0
# FUZZ_HARNESSES (e.g. "FuzzTorchCheckpoint") runs only those.
only="${FUZZ_HARNESSES:-}"
for pair in FuzzNIfTI:nifti FuzzPipelineYAML:yaml FuzzCheckpoint:checkpoint FuzzTorchCheckpoint:torch; do
  harness="${pair%%:*}" seeds="${pair##*:}"
  if [ -n "$only" ] && [[ " $only " != *" $harness "* ]]; then continue; fi
  work="$(mktemp -d)"
  cp corpus/"$seeds"/* "$work"/
  mkdir -p findings/"$harness"
  echo "== $harness: $seconds s from $(ls corpus/"$seeds" | wc -l) seeds"
  if ! .build/release/"$harness" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
       -artifact_prefix=findings/"$harness"/ -print_final_stats=1 2>&1 | tail -n 12; then
    status=1
  fi
  rm -rf "$work"
done
exit $status
