#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make bench` (issue 7): runs every benchmark and writes docs/PERFORMANCE.md.
#
#   scripts/bench-report.sh run BUILD OUT NAME...   runs BUILD/bench/bench_NAME
#       for each NAME (from BUILD, QM_SOURCE_DIR set), output to OUT/NAME.log,
#       the last line (the JSON figures, bench/README.md) to OUT/NAME.json,
#       exit code and seconds to OUT/NAME.status; the machine to OUT/machine.
#   scripts/bench-report.sh report OUT DOC          rewrites the generated
#       blocks of DOC (between "<!-- generated:X -->" and "<!-- /generated:X -->")
#       from OUT; everything outside the markers (the explanations) is kept.
#
# A benchmark that fails or is not built is reported as such; the others
# still run and the report is still written. Needs bash and jq.
set -uo pipefail

die() { echo "bench-report: $*" >&2; exit 1; }
command -v jq >/dev/null || die "jq is missing: run scripts/install-deps.sh"

# ---------------------------------------------------------------------- run
run() {
  local build=$1 out=$2; shift 2
  local src t0 t1 rc name
  src=$(pwd)
  rm -rf "$out" && mkdir -p "$out" || die "cannot create $out"
  t0=$(date +%s)
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "cores: $(nproc)"
    echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "cpu flags: $(grep -m1 -o -w -E 'aes|vaes|avx2|avx512f|sha_ni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "system: $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r)"
    echo "compiler: $(cc --version | head -n 1)"
    echo "libraries: OpenSSL $(pkg-config --modversion openssl 2>/dev/null), libsodium $(pkg-config --modversion libsodium 2>/dev/null), SQLite $(pkg-config --modversion sqlite3 2>/dev/null), libcurl $(pkg-config --modversion libcurl 2>/dev/null)"
    echo "build: $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null) in $build"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$out/machine"
  for name in "$@"; do
    echo "== bench-$name"
    if [ ! -x "$build/bench/bench_$name" ]; then
      echo "127 0 not built" > "$out/$name.status"
      echo "bench_$name is not built in $build (its CMake condition is not met)"
      continue
    fi
    t1=$(date +%s)
    (cd "$build" && QM_SOURCE_DIR="$src" "./bench/bench_$name") 2>&1 | tee "$out/$name.log"
    rc=${PIPESTATUS[0]}
    echo "$rc $(( $(date +%s) - t1 ))" > "$out/$name.status"
    # the last JSON line (stderr of a server stopping may follow it)
    grep '^{"bench"' "$out/$name.log" | tail -n 1 > "$out/$name.json"
    jq -e 'type == "object"' "$out/$name.json" >/dev/null 2>&1 || rm -f "$out/$name.json"
  done
  {
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "seconds: $(( $(date +%s) - t0 ))"
  } >> "$out/machine"
}

# ------------------------------------------------------------------- report
OUT=
# A field of a benchmark's JSON, or "" when absent.
j() { [ -f "$OUT/$1.json" ] && jq -r --arg k "$2" '.[$k] // empty | tostring' "$OUT/$1.json"; }
# A true/false field of a benchmark's JSON ("" when absent; j drops false).
jb() { [ -f "$OUT/$1.json" ] && jq -r --arg k "$2" 'if has($k) then .[$k] | tostring else empty end' "$OUT/$1.json"; }
# The same formatted with printf (fmt), or "–" when absent.
f() { local v; v=$(j "$1" "$2"); if [ -n "$v" ] && [ "$v" != null ]; then LC_NUMERIC=C printf "$3" "$v"; else printf '–'; fi; }
m() { sed -n "s/^$1: //p" "$OUT/machine"; }
yes_no() { case "$1" in true|1) printf '**met**' ;; false|0) printf '**not met**' ;; *) printf '–' ;; esac; }
# Failures of a benchmark (bench/README.md: <p>_errors, <p>_requests and
# <p>_error_kinds, or errors with runs, operations or requests, and
# error_kinds). fails NAME [PREFIX]: "0 of 1058 (0.00%)"; kinds NAME
# [PREFIX]: one "count x kind" per line; failed NAME [PREFIX]: the count.
failed() { local p=${2:+$2_}; j "$1" "${p}errors"; }
fails() {
  local p=${2:+$2_} n t
  n=$(j "$1" "${p}errors"); [ -n "$n" ] || { printf 'not counted'; return; }
  t=$(j "$1" "${p}requests"); [ -n "$t" ] || t=$(j "$1" "${p}operations"); [ -n "$t" ] || t=$(j "$1" "${p}runs")
  if [ -n "$t" ] && [ "$t" != 0 ]; then printf '%s of %s (%s)' "$n" "$t" "$(calcf '%.2f%%' '100 * $1 / $2' "$n $t")"; else printf '%s' "$n"; fi
}
kinds() {
  local p=${2:+$2_}
  [ -f "$OUT/$1.json" ] && jq -r --arg k "${p}error_kinds" '(.[$k] // [])[] | "\(.count) x \(.kind)"' "$OUT/$1.json"
}
# A Markdown list of the kinds under a lead-in (nothing when none failed):
# kinds_list NAME [PREFIX [LABEL]]
kinds_list() {
  local k; k=$(kinds "$1" "${2:-}")
  [ -n "$k" ] || return 0
  echo; echo "Failed${3:+ in $3}, by kind:"; echo; echo "$k" | sed 's/^/- /'
}
# The summary row of a benchmark's failures: fail_row NAME [PREFIX] [WHAT]
fail_row() {
  local n; n=$(failed "$1" "${2:-}")
  echo "| $1 | ${3:-failed runs} | $(fails "$1" "${2:-}") | – | none | $( [ -n "$n" ] && yes_no "$( [ "$n" = 0 ] && echo true || echo false)" || printf '–') |"
}
# awk arithmetic on fields: calc 'expr' a b ... ($1, $2 ... in expr)
calc() { local e=$1; shift; awk "BEGIN { \$0 = \"$*\"; print $e }" </dev/null; }
# The same with a printf format: calcf fmt 'expr' a b ...
calcf() { local fmt=$1 e=$2; shift 2; awk "BEGIN { \$0 = \"$*\"; printf \"$fmt\", $e }" </dev/null; }

status_line() {
  local name=$1 rc secs rest
  if [ ! -f "$OUT/$name.status" ]; then echo "Not run in this run of \`make bench\`."; return 1; fi
  read -r rc secs rest < "$OUT/$name.status"
  if [ "$rc" = 127 ] && [ "$rest" = "not built" ]; then
    echo "Not measured: \`bench_$name\` is not built here (its CMake condition is not met)."; return 1
  fi
  if [ ! -f "$OUT/$name.json" ]; then
    echo "Not measured: \`bench_$name\` exited with $rc after $secs s without its JSON line; its last output:"
    echo; echo '```'; tail -n 8 "$OUT/$name.log" | cut -c1-200; echo '```'; return 1
  fi
  if [ -n "$(j "$name" skipped)" ]; then
    echo "Skipped on this machine: $(j "$name" skipped)."; return 1
  fi
  echo "\`make bench-$name\` took $secs s in this run (exit code $rc)."
}

gen_machine() {
  echo "| | |"
  echo "| --- | --- |"
  echo "| date | $(m date) |"
  echo "| processor | $(m cpu), $(m cores) cores ($(m 'cpu flags')) |"
  echo "| memory | $(m memory) |"
  echo "| system | $(m system) |"
  echo "| compiler | $(m compiler) |"
  echo "| libraries | $(m libraries) |"
  echo "| build | $(m build) |"
  echo "| commit | $(m commit) |"
  echo "| load average (1, 5, 15 min) | $(m 'load before') before, $(m 'load after') after |"
  echo "| whole \`make bench\` | $(m seconds) s (goal: under 600 s) |"
}

gen_summary() {
  echo "| benchmark | figure | QMail | baseline, same run | goal | |"
  echo "| --- | --- | --- | --- | --- | --- |"
  local r
  r=$(j e2e l2_curl_ratio)
  echo "| e2e | level 2 end to end, $(f e2e n %s) messages of 4 KiB (send + sync) | $(f e2e l2_e2e_per_s '%.1f msg/s') | plain curl $(f e2e baseline_curl_e2e_per_s '%.1f msg/s') | within 1.3x of curl | $( [ -n "$r" ] && [ "$r" != "-1.000" ] && yes_no "$(calc '($1 <= 1.3) ? "true" : "false"' "$r")" || printf '–') ($(f e2e l2_curl_ratio '%.2fx')) |"
  local pb ps pr lim lv
  pb=$(j e2e peak_bytes)
  if [ -n "$pb" ]; then
    lim=$(calc '2 * $1 / 1048576' "$pb")
    for lv in 1 2 3 4; do
      ps=$(j e2e "l${lv}_peak_send_mib"); pr=$(j e2e "l${lv}_peak_recv_mib")
      if [ -z "$ps" ] && [ -n "$(j e2e "skipped_l${lv}_peak")" ]; then
        echo "| e2e | peak memory, $(calc '$1 / 1048576' "$pb") MiB attachment, level $lv | not measured: $(j e2e "skipped_l${lv}_peak") | – | below 2x: $lim MiB | – |"
        continue
      fi
      echo "| e2e | peak memory above the unlocked idle process, sending a $(calc '$1 / 1048576' "$pb") MiB attachment at level $lv | ${ps:-–} MiB | – | below 2x: $lim MiB | $( [ -n "$ps" ] && yes_no "$(calc '($1 < $2) ? "true" : "false"' "$ps $lim")" || printf '–') |"
      echo "| e2e | the same, receiving it (one sync) | ${pr:-–} MiB | – | below $lim MiB | $( [ -n "$pr" ] && yes_no "$(calc '($1 < $2) ? "true" : "false"' "$pr $lim")" || printf '–') |"
    done
  fi
  local bs by
  for lv in 2 3 4; do
    bs=$(j e2e "l${lv}_big_send_curl_ratio"); by=$(j e2e "l${lv}_big_sync_curl_ratio")
    [ -n "$bs" ] || continue
    echo "| e2e | $(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB attachment at level $lv: send, sync | $(f e2e "l${lv}_big_send_s" '%.2f s'), $(f e2e "l${lv}_big_sync_s" '%.2f s') | plain curl $(f e2e baseline_curl_big_send_s '%.2f s'), $(f e2e baseline_curl_big_fetch_s '%.2f s') | within 1.5x of curl | $(yes_no "$(calc '($1 <= 1.5 && $2 <= 1.5) ? "true" : "false"' "$bs $by")") ($(LC_NUMERIC=C printf '%.2fx, %.2fx' "$bs" "$by")) |"
  done
  fail_row e2e "" "failed operations (a failed send, sync or curl run stops it)"
  local l1 l2 g
  l1=$(j crypto l1_memcpy_ratio); l2=$(j crypto l2_memcpy_ratio); g=$(j crypto min_gpg_factor)
  echo "| crypto | level 2 encryption, 25 MiB | $(f crypto l2_enc_25m '%.0f MB/s') | memcpy $(f crypto baseline_memcpy_25m '%.0f MB/s') | within 3x of memcpy | $( [ -n "$l2" ] && yes_no "$(calc '($1 <= 3) ? "true" : "false"' "$l2")" || printf '–') ($(f crypto l2_memcpy_ratio '%.1fx')) |"
  echo "| crypto | level 1 encryption, 25 MiB | $(f crypto l1_enc_25m '%.0f MB/s') | memcpy $(f crypto baseline_memcpy_25m '%.0f MB/s') | within 2x of memcpy | $( [ -n "$l1" ] && yes_no "$(calc '($1 <= 2) ? "true" : "false"' "$l1")" || printf '–') ($(f crypto l1_memcpy_ratio '%.1fx')) |"
  echo "| crypto | slowest level against gpg, 25 MiB | $(f crypto min_gpg_factor '%.1fx gpg') | gpg $(f crypto baseline_gpg_enc_25m '%.0f') / $(f crypto baseline_gpg_dec_25m '%.0f') MB/s | at least 5x | $( [ -n "$g" ] && yes_no "$(calc '($1 >= 5) ? "true" : "false"' "$g")" || printf '–') |"
  fail_row crypto "" "failed runs (QMail's stop it; gpg's are counted)"
  local s; s=$(j store list50_ms)
  echo "| store | newest 50 of INBOX, $(f store messages %s) messages | $(f store list50_ms '%.3f ms') | plain SQLite $(f store baseline_list50_ms '%.3f ms') | under 5 ms | $( [ -n "$s" ] && yes_no "$(calc '($1 < 5) ? "true" : "false"' "$s")" || printf '–') |"
  echo "| store | deep page (keyset) | $(f store deep_keyset_ms '%.3f ms') | plain SQLite $(f store baseline_deep_keyset_ms '%.3f ms') | under 5 ms | $( [ -n "$(j store deep_keyset_ms)" ] && yes_no "$(calc '($1 < 5) ? "true" : "false"' "$(j store deep_keyset_ms)")" || printf '–') |"
  fail_row store "" "failed operations (any stops it)"
  local k p b
  k=$(j kme keys_per_s); p=$(j kme p99_ms)
  echo "| kme | (a) enc_keys, 1 x 256-bit key, from a pool that holds the whole run | $(f kme keys_per_s '%.0f keys/s') | Get status $(f kme baseline_status_per_s '%.0f req/s') | at least 10,000 | $( [ -n "$k" ] && yes_no "$(calc '($1 >= 10000) ? "true" : "false"' "$k")" || printf '–') |"
  echo "| kme | (a) enc_keys p99 latency | $(f kme p99_ms '%.2f ms') | Get status $(f kme baseline_status_p99_ms '%.2f ms') | under 5 ms | $( [ -n "$p" ] && yes_no "$(calc '($1 < 5) ? "true" : "false"' "$p")" || printf '–') |"
  fail_row kme a "(a) failed enc_keys requests (no 503 can happen)"
  b=$(j kme sustained_other_errors)
  echo "| kme | (b) sustained, $(f kme sustained_seconds '%.0f') s after the pool ran empty: keys served; share answered 503 \"the pool is refilling\" | $(f kme sustained_keys_per_s '%.0f keys/s') ($(f kme sustained_bits_per_s '%s' | awk '{ if ($1 != "–") printf "%.2f Mbit/s", $1 / 1e6; else printf "–" }')); 503: $(f kme sustained_503_share '%s' | awk '{ if ($1 != "–") printf "%.1f%%", $1 * 100; else printf "–" }') | the link put $(f kme sustained_link_bits_per_s '%s' | awk '{ if ($1 != "–") printf "%.2f Mbit/s", $1 / 1e6; else printf "–" }') into the pool | bounded by the link; no other failure | $( [ -n "$b" ] && yes_no "$( [ "$b" = 0 ] && echo true || echo false)" || printf '–') ($(f kme sustained_other_errors '%s') other) |"
  local w rd
  w=$(j web inbox_page_ms); rd=$(j web render_ms)
  echo "| web | first inbox page at the API, $(f web messages %s) messages | $(f web inbox_page_ms '%.2f ms') | – | under 20 ms | $( [ -n "$w" ] && yes_no "$(calc '($1 < 20) ? "true" : "false"' "$w")" || printf '–') |"
  # the bench's own goal (issue 18: 200 ms), 300 ms for results of before it
  local rg
  rg=$(j web goal_render_ms); [ -n "$rg" ] && [ "$rg" != null ] || rg=300
  echo "| web | Chromium: navigation to first rows | $(f web render_ms '%.0f ms') | – | under $rg ms | $( [ -n "$rd" ] && [ "$rd" != null ] && yes_no "$(calc "(\$1 < $rg) ? \"true\" : \"false\"" "$rd")" || printf '–') |"
  fail_row web "" "failed requests and runs"
  local cl cr
  cl=$(j cli list_ms); cr=$(j cli read_ms)
  echo "| cli | \`qmail list\` (50 rows), $(f cli messages %s) messages, unlocked by the agent: wall, peak RSS | $(f cli list_ms '%.1f ms'), $(f cli list_rss_mib '%.1f MiB') | sqlite3 $(f cli baseline_sqlite3_list_ms '%.1f ms'), $(f cli baseline_sqlite3_list_rss_mib '%.1f MiB') | under 30 ms and 30 MiB, within 3x of sqlite3 | $( [ -n "$cl" ] && yes_no "$(calc '($1 < 30 && $2 < 30 && $3 <= 3) ? "true" : "false"' "$cl $(j cli list_rss_mib) $(j cli list_sqlite3_ratio)")" || printf '–') ($(f cli list_sqlite3_ratio '%.2fx')) |"
  echo "| cli | \`qmail read ID\`: wall, peak RSS | $(f cli read_ms '%.1f ms'), $(f cli read_rss_mib '%.1f MiB') | sqlite3 $(f cli baseline_sqlite3_read_ms '%.1f ms'), $(f cli baseline_sqlite3_read_rss_mib '%.1f MiB') | under 30 ms and 30 MiB, within 3x of sqlite3 | $( [ -n "$cr" ] && yes_no "$(calc '($1 < 30 && $2 < 30 && $3 <= 3) ? "true" : "false"' "$cr $(j cli read_rss_mib) $(j cli read_sqlite3_ratio)")" || printf '–') ($(f cli read_sqlite3_ratio '%.2fx')) |"
  fail_row cli "" "failed runs"
  local sr sf sc sd
  sr=$(j sync mbsync_ratio); sf=$(j sync first50_ms); sc=$(j sync nochange_sync_ms); sd=$(j sync flags100_sync_ms)
  echo "| sync | (a) first sync of an INBOX of $(f sync messages "%'.0f") plain messages (\`qmail sync\`) | $(f sync initial_sync_s '%.1f s') | mbsync $(f sync baseline_mbsync_s '%.1f s') | within 1.5x of mbsync | $( [ -n "$sr" ] && yes_no "$(jb sync goal_a_met)" || printf '–') ($(f sync mbsync_ratio '%.2fx')) |"
  echo "| sync | (b) first 50 rows listed after the sync starts | $(f sync first50_ms '%.0f ms') | – | under 2 s | $( [ -n "$sf" ] && yes_no "$(jb sync goal_b_met)" || printf '–') |"
  echo "| sync | (c) engine sync with nothing new | $(f sync nochange_sync_ms '%.1f ms') | – | under 100 ms | $( [ -n "$sc" ] && yes_no "$(jb sync goal_c_met)" || printf '–') |"
  echo "| sync | (d) engine sync, flags of 100 messages changed elsewhere | $(f sync flags100_sync_ms '%.1f ms') | – | under 300 ms | $( [ -n "$sd" ] && yes_no "$(jb sync goal_d_met)" || printf '–') |"
  fail_row sync "" "failed operations"
  local lv c50 c99 r50 r99
  for lv in 1 2 3 4; do
    c50=$(j chat "l${lv}_p50_ms"); c99=$(j chat "l${lv}_p99_ms")
    r50=$(j chat "l${lv}_p50_ratio"); r99=$(j chat "l${lv}_p99_ratio")
    if [ -z "$c50" ]; then
      [ -n "$(j chat "skipped_l$lv")" ] && echo "| chat | level $lv ping-pong | not measured: $(j chat "skipped_l$lv") | – | p50 < 1 s, p99 < 3 s, within 1.3x | – |"
      continue
    fi
    echo "| chat | level $lv ping-pong, $(f chat n %s) messages: send-to-display p50, p99 | $(f chat "l${lv}_p50_ms" '%.0f ms'), $(f chat "l${lv}_p99_ms" '%.0f ms') | curl + imaplib IDLE $(f chat baseline_p50_ms '%.0f ms'), $(f chat baseline_p99_ms '%.0f ms') | p50 < 1 s, p99 < 3 s, within 1.3x | $(yes_no "$(calc '($1 < 1000 && $2 < 3000 && $3 <= 1.3 && $4 <= 1.3) ? "true" : "false"' "$c50 $c99 $r50 $r99")") ($(LC_NUMERIC=C printf '%.2fx, %.2fx' "$r50" "$r99")) |"
  done
  [ -n "$(j chat l1_key_bytes_per_msg)" ] && echo "| chat | QKD key per level-1 chat message | $(f chat l1_key_bytes_per_msg '%.0f bytes') | – | reported | – |"
  fail_row chat "" "failed operations"
  local rr rp
  rr=$(j relay hops4_direct_ratio); rp=$(j relay hops4_p99_ms)
  echo "| relay | relayed enc_keys over 4 hops (a line of five KMEs): keys/s, p99 | $(f relay hops4_keys_per_s '%.0f keys/s'), $(f relay hops4_p99_ms '%.1f ms') | direct link $(f relay baseline_direct_keys_per_s '%.0f keys/s'), $(f relay baseline_direct_p99_ms '%.1f ms') | at least half the direct rate, p99 under 20 ms | $( [ -n "$rr" ] && yes_no "$(calc '($1 >= 0.5 && $2 < 20) ? "true" : "false"' "$rr $rp")" || printf '–') ($(f relay hops4_direct_ratio '%.2fx')) |"
  fail_row relay "" "failed requests"
  local secs; secs=$(m seconds)
  echo "| all | whole \`make bench\` | ${secs:-–} s | – | under 600 s | $( [ -n "$secs" ] && yes_no "$(calc '($1 < 600) ? "true" : "false"' "$secs")" || printf '–') |"
}

gen_relay() {
  status_line relay || return
  echo
  echo "A line of $(f relay kmes %s) KMEs; SAE_A at KME_A asks for $(f relay keys_per_target %s) keys of 256 bits per target over $(f relay conns %s) connections; the last key of each target is fetched at the far KME and must be the same."
  echo
  echo "| target | keys/s | p50 | p99 |"
  echo "| --- | --- | --- | --- |"
  echo "| SAE_B, the direct link (baseline) | $(f relay baseline_direct_keys_per_s '%.0f') | $(f relay baseline_direct_p50_ms '%.2f ms') | $(f relay baseline_direct_p99_ms '%.2f ms') |"
  echo "| SAE_C, relayed over 2 hops | $(f relay hops2_keys_per_s '%.0f') | $(f relay hops2_p50_ms '%.2f ms') | $(f relay hops2_p99_ms '%.2f ms') |"
  echo "| SAE_E, relayed over 4 hops | $(f relay hops4_keys_per_s '%.0f') | $(f relay hops4_p50_ms '%.2f ms') | $(f relay hops4_p99_ms '%.2f ms') |"
  echo
  echo "Goal (4 hops at least half the direct rate, p99 under 20 ms): $(yes_no "$(jb relay goal_met)"). Failed requests: $(fails relay)."
  kinds_list relay
}

gen_chat() {
  status_line chat || return
  echo
  echo "Ping-pong of $(f chat n %s) chat messages per level, alice and bob in turn; latency from the send call to the message shown in the other side's conversation, in ms. Steps: medians of the send call, of the time from its return until the receiver's IMAP IDLE said news (the servers' delivery), of the sync, of reading the conversation."
  echo
  echo "| | p50 | p99 | max | p50, p99 / baseline | steps: send + to news + sync + read | QKD key per message | run |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  echo "| plain: curl + imaplib IDLE (baseline) | $(f chat baseline_p50_ms '%.0f') | $(f chat baseline_p99_ms '%.0f') | $(f chat baseline_max_ms '%.0f') | 1, 1 | – | – | $(f chat baseline_seconds '%.0f s') |"
  local lv
  for lv in 1 2 3 4; do
    if [ -z "$(j chat "l${lv}_p50_ms")" ]; then
      [ -n "$(j chat "skipped_l$lv")" ] && echo "| QMail level $lv | not measured: $(j chat "skipped_l$lv") | | | | | | |"
      continue
    fi
    echo "| QMail level $lv | $(f chat "l${lv}_p50_ms" '%.0f') | $(f chat "l${lv}_p99_ms" '%.0f') | $(f chat "l${lv}_max_ms" '%.0f') | $(f chat "l${lv}_p50_ratio" '%.2f'), $(f chat "l${lv}_p99_ratio" '%.2f') | $(f chat "l${lv}_send_p50_ms" '%.0f') + $(f chat "l${lv}_to_news_p50_ms" '%.0f') + $(f chat "l${lv}_sync_p50_ms" '%.0f') + $(f chat "l${lv}_read_p50_ms" '%.1f') | $( [ "$lv" -le 2 ] && f chat "l${lv}_key_bytes_per_msg" '%.0f bytes' || printf 'none') | $(f chat "l${lv}_seconds" '%.0f s') |"
  done
  echo
  echo "Goal (every level: p50 under 1 s, p99 under 3 s, each within 1.3x of the baseline's): $(yes_no "$(jb chat goal_met)"). One Get status from the engine to its KME (a new mutual-TLS connection, as each key request): $(f chat kme_status_ms '%.1f ms'). Failed operations: $(fails chat)."
  kinds_list chat
}

gen_qkd() {
  if [ ! -f "$OUT/e2e.json" ]; then status_line e2e; return; fi
  local m4 mb
  m4=$(j e2e l2_mime_bytes); mb=$(j e2e l2_big_mime_bytes)
  echo "Per message and recipient, counted from the key IDs each outbox entry"
  echo "reserved times the size of the keys the KME handed out (e2e run), beside"
  echo "the formula. The 4 KiB message is ${m4:-–} bytes of plaintext MIME, the"
  echo "$(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB attachment ${mb:-–} bytes (base64 inside the MIME)."
  echo
  echo "| level | 4 KiB message, measured | formula | $(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB attachment, measured | formula |"
  echo "| --- | --- | --- | --- | --- |"
  local l1big l1f
  if [ -n "$(j e2e l1_key_bytes_10m)" ]; then
    l1big="$(f e2e l1_key_bytes_10m '%s bytes')"
  else
    l1big="not measured: $(j e2e skipped_l1_10m)"
  fi
  l1f=$( [ -n "$mb" ] && calc '$1 + 32' "$mb")
  echo "| 1 one-time pad | $( [ -n "$(j e2e l1_key_bytes_4k)" ] && f e2e l1_key_bytes_4k '%s bytes' || echo "not measured: $(j e2e skipped_l1_4k)") ($(f e2e l1_key_ids_4k '%.0f') keys) | MIME + 32 = $(f e2e l1_key_formula_4k '%s') bytes | $l1big | MIME + 32 = ${l1f:-–} bytes |"
  echo "| 2 QKD + AES-256-GCM | $(f e2e l2_key_bytes_4k '%s bytes') ($(f e2e l2_key_ids_4k '%.0f') key) | 32 bytes | $(f e2e l2_key_bytes_10m '%s bytes') | 32 bytes |"
  echo "| 3 post-quantum | none | none | none | none |"
  echo "| 4 classical | none | none | none | none |"
  echo
  local lk le
  lk=$(j kme link_bits_per_s); le=$(j e2e link_bits_per_s)
  echo "The client takes level-1 key in whole keys of the KME's largest size"
  echo "(1 KiB here), so up to 1,023 bytes more than the formula leave the pool"
  echo "per recipient and are destroyed unused. The simulated link distilled"
  echo "$(f kme link_bits_per_s '%.2f' | awk '{ if ($1 != "–") printf "%.2f", $1 / 1e6; else printf "–" }') Mbit/s in bench-kme (two KMEs) and $( [ -n "$le" ] && calcf %.2f '$1 / 1e6' "$le" || echo –) Mbit/s alice -> bob during"
  echo "bench-e2e (three KMEs, three links sharing the machine); at that rate a"
  echo "4 KiB level-1 message costs $( [ -n "$le" ] && [ -n "$m4" ] && calcf %.0f '($1 + 32) * 8 / $2 * 1000' "$m4 $le" || echo –) ms of distillation and the"
  echo "$(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB attachment $( [ -n "$le" ] && [ -n "$mb" ] && calcf %.0f '($1 + 32) * 8 / $2' "$mb $le" || echo –) s."
}

# One row of the e2e table: name prefix
e2e_row() {
  local name=$1 p=$2
  if [ -n "$(j e2e "${p}_send_per_s")" ]; then
    echo "| $name | $(f e2e "${p}_send_per_s" '%.1f') | $(f e2e "${p}_sync_per_s" '%.1f') | $(f e2e "${p}_e2e_per_s" '%.1f') | $(f e2e "${p}_send_cpu_ms" '%.1f') | $(f e2e "${p}_sync_cpu_ms" '%.1f') | $(f e2e "${p}_big_send_s" '%.2f') | $(f e2e "${p}_big_sync_s" '%.2f') |"
  else
    echo "| $name | skipped: $(j e2e "skipped_${p}_4k") | | | | | | |"
  fi
}

gen_e2e() {
  status_line e2e || return
  local n; n=$(j e2e n)
  echo
  echo "$n messages of 4 KiB (text) and one $(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB attachment per level, alice -> bob."
  echo "Rates in messages per second of wall-clock time; CPU in ms per message"
  echo "(QMail: the client's own process; curl: the curl processes)."
  echo
  echo "| | send msg/s | sync + decrypt msg/s | end to end msg/s | send CPU ms | sync CPU ms | 10 MiB send s | 10 MiB sync s |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  e2e_row "level 1" l1
  e2e_row "level 2" l2
  e2e_row "level 3" l3
  e2e_row "level 4" l4
  echo "| baseline: plain curl | $(f e2e baseline_curl_send_per_s '%.1f') | $(f e2e baseline_curl_fetch_per_s '%.1f') | $(f e2e baseline_curl_e2e_per_s '%.1f') | $(f e2e baseline_curl_send_cpu_ms '%.1f') | $(f e2e baseline_curl_fetch_cpu_ms '%.1f') | $(f e2e baseline_curl_big_send_s '%.2f') | $(f e2e baseline_curl_big_fetch_s '%.2f') |"
  echo
  echo "- Level 2 end to end takes $(f e2e l2_curl_ratio '%.2fx') the time of plain curl (goal: within 1.3x)."
  if [ -n "$(j e2e skipped_l1_10m)" ]; then
    echo "- Level 1, $(calc '$1 / 1048576' "$(j e2e big_bytes)") MiB: skipped, $(j e2e skipped_l1_10m)."
  fi
  local lv
  for lv in 1 2 3 4; do
    if [ -n "$(j e2e "l${lv}_peak_send_mib")" ]; then
      echo "- Peak memory, $(calc '$1 / 1048576' "$(j e2e peak_bytes)") MiB attachment at level $lv, above the unlocked idle process (VmHWM reset after unlock):"
      echo "  sending $(j e2e "l${lv}_peak_send_mib") MiB (the whole process $(f e2e "l${lv}_peak_send_rss_mib" %s) MiB), receiving $(f e2e "l${lv}_peak_recv_mib" %s) MiB (process $(f e2e "l${lv}_peak_recv_rss_mib" %s) MiB); goal below 2x the attachment."
    elif [ -n "$(j e2e "skipped_l${lv}_peak")" ]; then
      echo "- Peak memory at level $lv: not measured, $(j e2e "skipped_l${lv}_peak")."
    fi
    if [ -n "$(j e2e "l${lv}_peak_note")" ]; then
      echo "- Note, level $lv: $(j e2e "l${lv}_peak_note")."
    fi
  done
  if [ -n "$(j e2e peak_note)" ]; then
    echo "- Note: $(j e2e peak_note)."
  fi
  echo "- Failed operations that did not stop the run: $(fails e2e) (a failed send, sync or curl run stops it)."
  kinds e2e | sed 's/^/  - /'
}

gen_crypto() {
  status_line crypto || return
  echo
  echo "| level | enc 1 KiB | dec 1 KiB | enc 1 MiB | dec 1 MiB | enc 25 MiB | dec 25 MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  local names=("" "1 one-time pad + Poly1305" "2 QKD key, HKDF, AES-256-GCM" "3 ML-KEM-768 + X25519, ML-DSA-65 + Ed25519" "4 X25519, Ed25519")
  for l in 1 2 3 4; do
    printf '| %s' "${names[$l]}"
    for s in 1k 1m 25m; do printf ' | %s | %s' "$(f crypto "l${l}_enc_$s" "%'.1f")" "$(f crypto "l${l}_dec_$s" "%'.1f")"; done
    echo " |"
  done
  echo "| baseline memcpy (25 MiB) | | | | | $(f crypto baseline_memcpy_25m "%'.0f") | |"
  echo "| baseline gpg AES256 (25 MiB) | | | | | $(f crypto baseline_gpg_enc_25m '%.1f') | $(f crypto baseline_gpg_dec_25m '%.1f') |"
  echo
  echo "MB/s of plaintext per second of CPU time. Ratios at 25 MiB: memcpy / level 1 $(f crypto l1_memcpy_ratio '%.1fx') (goal 2x), memcpy / level 2 $(f crypto l2_memcpy_ratio '%.1fx') (goal 3x), slowest level / gpg $(f crypto min_gpg_factor '%.1fx') (goal 5x)."
  echo "Failed runs: $(fails crypto) (a QMail run that fails stops the benchmark; gpg's are counted)."
  kinds_list crypto
}

gen_store() {
  status_line store || return
  echo
  echo "| figure | store | plain SQLite table |"
  echo "| --- | --- | --- |"
  echo "| insert | $(f store insert_per_s "%'.0f") messages/s | $(f store baseline_insert_per_s "%'.0f") messages/s |"
  echo "| list newest 50 of INBOX | $(f store list50_ms '%.3f') ms | $(f store baseline_list50_ms '%.3f') ms |"
  echo "| deep page, keyset | $(f store deep_keyset_ms '%.3f') ms | $(f store baseline_deep_keyset_ms '%.3f') ms |"
  echo "| deep page, OFFSET | $(f store deep_offset_ms '%.1f') ms | $(f store baseline_deep_offset_ms '%.1f') ms |"
  echo "| search: first query, builds the in-memory FTS5 index | $(f store search_build_ms "%'.0f") ms | – |"
  echo "| search: next query (a phrase) | $(f store search_ms '%.3f') ms | – |"
  echo "| unlock (Argon2id, 256 MiB), wall clock | $(f store unlock_ms "%'.0f") ms | open plain database: $(f store baseline_open_ms '%.3f') ms |"
  echo "| unlock, CPU time | $(f store unlock_cpu_ms "%'.0f") ms | – |"
  echo
  echo "$(f store messages "%'.0f") messages; the list query uses the \`msg_list\` index: $(f store plan_index %s). Failed operations: $(fails store) (any failure stops the benchmark)."
}

# mbit NAME FIELD: a bits/s field in Mbit/s, or "–"
mbit() { f "$1" "$2" '%s' | awk '{ if ($1 != "–") printf "%.2f Mbit/s", $1 / 1e6; else printf "–" }'; }

gen_kme() {
  status_line kme || return
  echo
  echo "**(a) API throughput**: the pool held every key the run took, so no request could get a 503."
  echo
  echo "| figure | qkme | baseline: Get status, same connections | goal |"
  echo "| --- | --- | --- | --- |"
  echo "| enc_keys, 1 x 256-bit key, $(f kme connections %s) connections | $(f kme keys_per_s "%'.0f") keys/s ($(f kme keys "%'.0f") keys in $(f kme seconds '%.2f') s) | $(f kme baseline_status_per_s "%'.0f") requests/s | >= 10,000 |"
  echo "| p50 latency | $(f kme p50_ms '%.3f') ms | $(f kme baseline_status_p50_ms '%.3f') ms | |"
  echo "| p99 latency | $(f kme p99_ms '%.2f') ms | $(f kme baseline_status_p99_ms '%.2f') ms | < 5 ms |"
  echo "| failed requests | $(fails kme a) | $(fails kme baseline_status) | none |"
  kinds_list kme a "(a)"; kinds_list kme baseline_status "Get status"
  echo
  if [ "$(j kme pool_ran_empty)" = false ]; then
    echo "**(b) Sustained rate**: the same connections kept asking for $(f kme sustained_seconds '%.0f') s after $(f kme drain_seconds '%.1f') s of load, which did not empty the pool: the link kept up with this load."
  else
    echo "**(b) Sustained rate**: the same connections kept asking for $(f kme sustained_seconds '%.0f') s after the pool ran empty ($(f kme drain_seconds '%.1f') s of load emptied it)."
  fi
  echo
  echo "| figure | qkme |"
  echo "| --- | --- |"
  echo "| keys served | $(f kme sustained_keys_per_s "%'.0f") keys/s, $(mbit kme sustained_bits_per_s) (p50 $(f kme sustained_p50_ms '%.3f') ms, p99 $(f kme sustained_p99_ms '%.2f') ms) |"
  echo "| requests answered 503 \"the pool is refilling\" | $(f kme sustained_503_share '%s' | awk '{ if ($1 != "–") printf "%.1f%%", $1 * 100; else printf "–" }') of $(f kme b_requests "%'.0f") |"
  echo "| other failures | $(f kme sustained_other_errors %s) |"
  echo "| key the link put into this direction meanwhile | $(mbit kme sustained_link_bits_per_s) ($(f kme sustained_link_blocks %s) blocks; its threads used $(f kme sustained_link_cpu_s '%.1f') s of CPU, all of KME_A $(f kme sustained_kme_cpu_s '%.1f') s) |"
  echo "| keys KME_B holds for its slave (never fetched here); peak memory | $(f kme peer_reserved_keys "%'.0f"); KME_A $(f kme kme_a_peak_mib %s) MiB, KME_B $(f kme kme_b_peak_mib %s) MiB |"
  kinds_list kme b "(b)"
  echo
  echo "| the link | |"
  echo "| --- | --- |"
  echo "| BB84 distilled rate, one thread, simulator alone | $(mbit kme bb84_bits_per_s_one_thread) (QBER $(f kme bb84_qber '%.4f')) |"
  echo "| distilled rate the link reported before the load | $(mbit kme link_bits_per_s) |"
  echo "| 1 MiB level-1 attachment from an empty pool | $(f kme attachment_1mib_s '%.1f') s at the link's idle rate, $(f kme attachment_1mib_sustained_s '%.1f') s at its rate in (b) |"
  echo "| load average | $(f kme load_before '%.2f') before, $(f kme load_after '%.2f') after |"
}

gen_web() {
  status_line web || return
  echo
  echo "| figure | median | p95 | goal |"
  echo "| --- | --- | --- | --- |"
  echo "| first inbox page, cold (50 rows + counts) | $(f web inbox_page_cold_ms '%.2f') ms | | |"
  echo "| first inbox page (50 rows + counts) | $(f web inbox_page_ms '%.2f') ms | $(f web inbox_page_p95_ms '%.2f') ms | < 20 ms |"
  echo "| deep page through the cursor | $(f web deep_page_ms '%.2f') ms | | |"
  echo "| open a cached message | $(f web open_message_ms '%.2f') ms | $(f web open_message_p95_ms '%.2f') ms | |"
  echo "| Chromium: navigation to first rows | $(f web render_ms '%.0f') ms | | < $(f web goal_render_ms '%.0f') ms |"
  echo
  echo "$(f web messages "%'.0f") messages in the store. Failed requests and runs: $(fails web) (left out of the timings)."
  kinds_list web
}

gen_cli() {
  status_line cli || return
  echo
  echo "A home of $(f cli messages "%'.0f") messages, unlocked once by \`qmail unlock\` (the agent); each figure the median wall time (fork to reap) of $(f cli runs_per_figure %s) runs of the real program, and the largest peak RSS (\`wait4\`)."
  echo
  echo "| figure | wall | peak RSS | baseline, same run | goal |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| \`qmail list\` (50 rows) | $(f cli list_ms '%.1f') ms | $(f cli list_rss_mib '%.1f') MiB | \`sqlite3\` $(f cli baseline_sqlite3_list_ms '%.1f') ms, $(f cli baseline_sqlite3_list_rss_mib '%.1f') MiB ($(f cli list_sqlite3_ratio '%.2fx')) | < 30 ms, < 30 MiB, within 3x |"
  echo "| \`qmail read ID\` | $(f cli read_ms '%.1f') ms | $(f cli read_rss_mib '%.1f') MiB | \`sqlite3\` $(f cli baseline_sqlite3_read_ms '%.1f') ms, $(f cli baseline_sqlite3_read_rss_mib '%.1f') MiB ($(f cli read_sqlite3_ratio '%.2fx')) | < 30 ms, < 30 MiB, within 3x |"
  echo "| \`qmail list\` with the passphrase (Argon2id per command, as before) | $(f cli list_passphrase_ms '%.0f') ms | $(f cli list_passphrase_rss_mib '%.0f') MiB | | |"
  echo "| \`qmail unlock\` (once per session) | $(f cli unlock_ms '%.0f') ms | | | |"
  echo "| \`qmail --version\`: starting the program alone (loader, 52 shared libraries, their constructors) | $(f cli start_ms '%.1f') ms | $(f cli start_rss_mib '%.1f') MiB | | |"
  echo
  echo "Goal met: $(yes_no "$(jb cli goal_met)"). Failed runs: $(fails cli)."
  kinds_list cli
}

gen_sync() {
  status_line sync || return
  echo
  echo "An INBOX of $(f sync messages "%'.0f") generated plain messages ($(f sync fixture_mib '%.0f') MiB, median $(f sync fixture_median_kib '%.1f') KiB) in the test Dovecot, stored as $(f sync storage %s)."
  echo
  echo "| figure | QMail | baseline, same run | goal |"
  echo "| --- | --- | --- | --- |"
  echo "| (a) first sync, the whole \`qmail sync\` | $(f sync initial_sync_s '%.2f') s | \`mbsync\` $(f sync baseline_mbsync_s '%.2f') s ($(f sync baseline_mbsync_messages %s) messages) | within 1.5x: $(f sync mbsync_ratio '%.2fx') |"
  echo "| (b) first 50 rows at the list API after the sync started | $(f sync first50_ms '%.0f') ms | | under 2 s |"
  echo "| (c) engine sync, nothing new (median of $(f sync runs %s)) | $(f sync nochange_sync_ms '%.1f') ms | | under 100 ms |"
  echo "| (c) the same as a \`qmail sync\` command (start, unlock, sync) | $(f sync nochange_command_ms '%.0f') ms | | |"
  echo "| (d) engine sync, flags of 100 messages changed by another client | $(f sync flags100_sync_ms '%.1f') ms | | under 300 ms |"
  echo "| peak memory of the first sync (above an idle \`qmail list\`) | $(f sync initial_sync_peak_mib '%.1f') MiB ($(f sync initial_sync_above_idle_mib '%.1f') MiB) | mbsync $(f sync baseline_mbsync_peak_mib '%.1f') MiB | |"
  echo
  echo "Failed operations: $(fails sync)."
  kinds_list sync
}

report() {
  OUT=$1
  local doc=$2 tmp block
  [ -f "$OUT/machine" ] || die "no results in $OUT: run 'scripts/bench-report.sh run' first"
  [ -f "$doc" ] || die "$doc is missing"
  tmp=$(mktemp "$doc.XXXXXX") || die "cannot write next to $doc"
  # Copy the document, replacing each generated block.
  local skipping=
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -n "$skipping" ]; then
      if [ "$line" = "<!-- /generated:$skipping -->" ]; then
        echo "$line" >> "$tmp"; skipping=
      fi
      continue
    fi
    echo "$line" >> "$tmp"
    case "$line" in
      '<!-- generated:'*' -->')
        block=${line#<!-- generated:}; block=${block% -->}
        case "$block" in
          machine|summary|qkd|e2e|crypto|store|kme|web|cli|sync|relay|chat) "gen_$block" >> "$tmp" ;;
          *) rm -f "$tmp"; die "unknown generated block '$block' in $doc" ;;
        esac
        skipping=$block ;;
    esac
  done < "$doc"
  if [ -n "$skipping" ]; then rm -f "$tmp"; die "block '$skipping' in $doc has no end marker"; fi
  chmod 644 "$tmp" && mv "$tmp" "$doc" || die "cannot replace $doc"
  echo "bench-report: wrote $doc"
}

case "${1:-}" in
  run) shift; [ $# -ge 2 ] || die "usage: $0 run BUILD OUT NAME..."; run "$@" ;;
  report) shift; [ $# -eq 2 ] || die "usage: $0 report OUT DOC"; report "$@" ;;
  *) die "usage: $0 run BUILD OUT NAME... | report OUT DOC" ;;
esac
