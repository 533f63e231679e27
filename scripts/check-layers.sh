#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the layering of DESIGN.md section 1: a folder under src/ includes
# only its own headers and the public header (<layer>/<layer>.h) of the
# layers below it; private.h never crosses a folder.
set -euo pipefail
cd "$(dirname "$0")/.."
# The order, bottom to top. kme is a separate program over core (and kms
# types, no more); cli and web are the top.
declare -A below=(
  [core]=""
  [store]="core"
  [kms]="core store"
  [crypto]="core store kms"
  [mail]="core store kms crypto"
  [client]="core store kms crypto mail"
  [web]="core store kms crypto mail client"
  [cli]="core store kms crypto mail client web"
  [kme]="core"
)
bad=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [ -z "${below[$layer]+x}" ]; then
    echo "src/$layer is not a known layer: add it to scripts/check-layers.sh" >&2
    bad=1
    continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -nE 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' <<<"$line")
    [ -n "$inc" ] || continue
    case "$inc" in
      */*) other=${inc%%/*}; hdr=${inc#*/} ;;
      *) continue ;; # same-folder include
    esac
    if [ "$other" = "$layer" ]; then continue; fi
    ok=0
    for l in ${below[$layer]}; do
      [ "$l" = "$other" ] && [ "$hdr" = "$other.h" ] && ok=1
      # store/types.h: the store's records without its API (client.h
      # gives them to the interfaces)
      [ "$l" = "$other" ] && [ "$inc" = "store/types.h" ] && ok=1
    done
    if [ $ok -eq 0 ]; then
      echo "$file includes \"$inc\": src/$layer may include only the public headers of: ${below[$layer]:-nothing}" >&2
      bad=1
    fi
  done < <(grep -nH '#[[:space:]]*include[[:space:]]*"' "$dir"*.c "$dir"*.h 2>/dev/null || true)
done
exit $bad
