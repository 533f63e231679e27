#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every libFuzzer target built in BUILD/fuzz for SECONDS each, one at a
# time in one process (the machine is shared), and prints executions, coverage and
# crashes per target. New inputs go to BUILD/fuzz-work/<target>/ (the seed
# corpus fuzz/corpus/<target>/ is read, never written); crashes go to
# BUILD/fuzz-crashes/<target>/ and must be fixed, then copied into
# fuzz/corpus/<target>/ as regression inputs (replayed by make check).
# Usage: fuzz/run.sh BUILD SECONDS [target...]
set -u
build=${1:?usage: fuzz/run.sh BUILD SECONDS [target...]}
secs=${2:-60}
shift 2 || true
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$build"/fuzz/fuzz_*; do
		n=$(basename "$f")
		case $n in *_replay|fuzz_gen_corpus|fuzz_all) continue ;; esac
		[ -x "$f" ] && targets+=("${n#fuzz_}")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz targets in $build/fuzz (configure with CC=clang -DQM_FUZZ=ON)" >&2
	exit 1
fi
status=0
printf '%-10s %12s %8s %8s %8s\n' target execs exec/s cov crashes
for t in "${targets[@]}"; do
	work=$build/fuzz-work/$t crashes=$build/fuzz-crashes/$t
	log=$build/fuzz-logs/$t.log
	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	dict=()
	[ -f "$src/dict/$t.dict" ] && dict=(-dict="$src/dict/$t.dict")
	before=$(ls "$crashes" | wc -l)
	FUZZ_QUIET_MS=${FUZZ_QUIET_MS:-5} \
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$build/fuzz/fuzz_$t" -max_total_time="$secs" \
		-print_final_stats=1 -max_len=${FUZZ_MAX_LEN:-65536} -timeout=${FUZZ_TIMEOUT:-10} \
		-rss_limit_mb=${FUZZ_RSS_MB:-2048} -artifact_prefix="$crashes/" \
		"${dict[@]}" "$work" "$src/corpus/$t" >"$log" 2>&1
	after=$(ls "$crashes" | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	new=$((after - before))
	[ "$new" -gt 0 ] && status=1
	printf '%-10s %12s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "$new"
	[ "$new" -gt 0 ] && ls "$crashes" | sed 's/^/    /'
done
exit $status
