#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seed corpus plus a scratch corpus.
# Usage: run_fuzzer.sh BINARY SEED_DIR SECONDS [DICT]. Exits non-zero on any finding; the
# crashing input is kept in the scratch directory and its path printed.
set -euo pipefail
binary=$1 seeds=$2 seconds=$3
dict_flag=()
if [ $# -ge 4 ]; then dict_flag=(-dict="$4"); fi
scratch=$(mktemp -d /tmp/ringgate-fuzz-corpus-XXXXXX)
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${dict_flag[@]}" -artifact_prefix="$scratch/" "$scratch" "$seeds" || status=$?
if [ $status -ne 0 ]; then
  echo "fuzz finding kept in $scratch" >&2
else
  rm -rf "$scratch"
fi
exit $status
