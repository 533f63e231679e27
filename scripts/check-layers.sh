#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The layer rule of docs/ARCHITECTURE.md section 2, checked from its one
# statement: the table between "layers:begin" and "layers:end" there.
#
#   scripts/check-layers.sh                  includes and link lines
#   scripts/check-layers.sh --symbols BUILD  undefined symbols (nm) of each
#                                            layer's built code in BUILD
#
# Includes: a file under src/<layer>/ may include its own headers and the
# public headers (any but private.h) of the layers it uses, and the headers
# of the outside libraries it uses (<sqlite3.h>, <curl/...>); a private.h
# only from its own folder, its unit tests and its fuzz targets. Outside
# src/: tests/unit/<layer>/ as that layer plus the store's public header
# (to arrange a fixture); demo/ as a program on core,
# client and web; integration and browser tests, tests/lib, bench/ and
# fuzz/ any public header. Link lines: the qm_* libraries a layer's
# CMakeLists.txt links must be layers it uses. Symbols: every qm_* function
# a layer's library calls must be defined by a layer it uses, and every
# call into an outside library must be into one it uses. Names (section 2,
# "Names"): every global symbol a layer's library defines carries the
# layer's public prefix qm_<layer>_ or its internal prefix <layer>_ (core:
# qm_<word> where the word is no other layer's name, or core_), none is a
# name libsodium exports, and no layer calls another's <layer>_ function.
set -euo pipefail
cd "$(dirname "$0")/.."

doc=docs/ARCHITECTURE.md
declare -A uses libs folder
layers=()
while IFS='|' read -r _ layer dir ul ol _; do
  layer=$(echo "$layer" | xargs)
  case "$layer" in ''|layer|---*) continue ;; esac
  layers+=("$layer")
  folder[$layer]=$(echo "$dir" | xargs)
  uses[$layer]=$(echo "$ul" | xargs)
  libs[$layer]=$(echo "$ol" | xargs)
done < <(sed -n '/<!-- layers:begin/,/<!-- layers:end/p' "$doc" | grep '^|')
if [ ${#layers[@]} -eq 0 ]; then
  echo "$doc: no layer table between layers:begin and layers:end" >&2
  exit 2
fi

bad=0
complain() { echo "$*" >&2; bad=1; }
in_list() { local w=$1; shift; for x in $*; do [ "$x" = "$w" ] && return 0; done; return 1; }

# The outside library a header belongs to ("" for the C library and the
# system: always allowed).
header_lib() {
  case "$1" in
    sodium.h|sodium/*) echo libsodium ;;
    sqlite3.h) echo sqlite3 ;;
    curl/*) echo libcurl ;;
    jansson.h) echo jansson ;;
    openssl/*) echo openssl ;;
    gmime/*|glib.h|glib/*) echo gmime ;;
    microhttpd.h) echo libmicrohttpd ;;
    gnutls/*) echo gnutls ;;
    fips202.h|crypto_kem/*|crypto_sign/*) echo pqclean ;;
    *) echo "" ;;
  esac
}

# check_file FILE WHO ALLOWED_LAYERS PRIVATE_OK_LAYER LIBS_OR_ANY
check_file() {
  local file=$1 who=$2 allowed=$3 own=$4 okl=$5 line inc other hdr lib
  while IFS= read -r line; do
    inc=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/p' <<<"$line")
    [ -n "$inc" ] || continue
    case "$inc" in
      */*) other=${inc%%/*}; hdr=${inc#*/} ;;
      *) other=""; hdr=$inc ;;
    esac
    if [ -n "$other" ] && [ -n "${folder[$other]+x}" ]; then
      if [ "$other" = "$own" ]; then continue; fi
      if ! in_list "$other" $allowed; then
        complain "$file includes \"$inc\": $who may use only: ${allowed:-nothing} (docs/ARCHITECTURE.md section 2)"
      elif [ "$hdr" = private.h ]; then
        complain "$file includes \"$inc\": another layer's private.h is for its own files, unit tests and fuzz targets"
      fi
      continue
    fi
    [ "$okl" = any ] && continue
    lib=$(header_lib "$inc")
    if [ -n "$lib" ] && ! in_list "$lib" $okl; then
      complain "$file includes <$inc> ($lib): $who may use only the outside libraries: ${okl:-none} (docs/ARCHITECTURE.md section 2)"
    fi
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$file" || true)
}

check_includes() {
  local l f t base
  for dir in src/*/; do
    l=$(basename "$dir")
    if [ -z "${folder[$l]+x}" ]; then
      complain "src/$l is not a layer of $doc: add it to the table"
      continue
    fi
  done
  for l in "${layers[@]}"; do
    for f in "${folder[$l]}"/*.[ch]; do
      [ -e "$f" ] || continue
      if [ "$f" = src/cli/lazylib.c ]; then
        # the program's loader of the libraries the layers call
        # (docs/ARCHITECTURE.md section 2): their headers, no call
        check_file "$f" "src/$l" "${uses[$l]}" "$l" "libcurl libmicrohttpd"
        continue
      fi
      check_file "$f" "src/$l" "${uses[$l]}" "$l" "${libs[$l]}"
    done
  done
  # unit tests of a layer: that layer (private.h too), what it uses, and
  # the store's public header to arrange what the store holds
  for t in tests/unit/*/; do
    l=$(basename "$t")
    [ -n "${folder[$l]+x}" ] || { complain "$t: no layer $l in $doc"; continue; }
    for f in "$t"*.[ch]; do
      [ -e "$f" ] || continue
      check_file "$f" "tests/unit/$l" "${uses[$l]} store" "$l" any
    done
  done
  # demo: a program on the engine, as the command line is
  for f in demo/*.[ch]; do
    [ -e "$f" ] || continue
    check_file "$f" "demo/" "core client web" "" any
  done
  # everything else exercises the whole: any public header; private.h
  # only of the layer a fuzz target is named after
  for f in tests/integration/*.[ch] tests/e2e/*.[ch] tests/lib/*.[ch] \
           bench/*.[ch] fuzz/*.[ch]; do
    [ -e "$f" ] || continue
    base=$(basename "$f" .c)
    own=""
    case "$base" in fuzz_*) own=${base#fuzz_}; own=${own%%_*} ;; esac
    if [ -n "$own" ] && [ -z "${folder[$own]+x}" ]; then own=""; fi
    check_file "$f" "$(dirname "$f")/" "${layers[*]}" "$own" any
  done
}

# The qm_* libraries named in a layer's CMakeLists.txt (qm_layer and
# qm_program DEPS) must be layers it uses, or its own parts.
check_cmake() {
  local l cm dep dl
  for l in "${layers[@]}"; do
    cm="${folder[$l]}/CMakeLists.txt"
    [ -e "$cm" ] || continue
    for dep in $(tr '\n' ' ' <"$cm" | grep -oE 'DEPS[^)]*' | grep -oE '\bqm_[a-z0-9_]+' | sort -u); do
      dl=${dep#qm_}
      case "$dl" in
        pq_*|"$l"|"$l"_*) continue ;; # third-party code or the layer's own parts
      esac
      if [ -z "${folder[$dl]+x}" ]; then
        complain "$cm links $dep, which is no layer of $doc"
      elif ! in_list "$dl" ${uses[$l]}; then
        complain "$cm links $dep: src/$l may use only: ${uses[$l]:-nothing} (docs/ARCHITECTURE.md section 2)"
      fi
    done
  done
}

# The object files that make up a layer in a build tree.
layer_objects() {
  local build=$1 l=$2
  if [ "$l" = cli ]; then
    find "$build/src/cli" -path '*qmail.dir*' -name '*.o' 2>/dev/null
  else
    find "$build/src/$l" -maxdepth 1 -name 'libqm_*.a' 2>/dev/null
  fi
}

# The functions libsodium exports (their names begin with crypto_, as
# crypto's internal ones do): "sodium SYMBOL" lines.
sodium_symbols() {
  local so dir
  dir=$(pkg-config --variable=libdir libsodium 2>/dev/null || true)
  so=$(ls "${dir:-/nonexistent}"/libsodium.so* 2>/dev/null | head -n 1 || true)
  [ -n "$so" ] || so=$(ldconfig -p 2>/dev/null | awk '/libsodium\.so/ {print $NF; exit}')
  if [ -z "$so" ]; then
    echo "missing-sodium"
    return
  fi
  nm -D --defined-only "$so" | awk 'NF == 3 {print "sodium", $3}'
}

# Lines "def LAYER SYMBOL" and "use LAYER SYMBOL" for every layer's code,
# then one awk pass: a qm_* symbol must come from the layer itself or a
# layer it uses; a call into an outside library (by its symbols' prefix)
# must be into one the layer uses; qm_client_store (the store under the
# engine, for tests) is no door for an interface; every symbol a layer
# defines is named as section 2 "Names" says, and no layer calls another
# layer's internal function.
check_symbols() {
  local build=$1 l objs
  [ -d "$build/src" ] || { echo "check-layers: no build in $build" >&2; exit 2; }
  {
    sodium_symbols
    for l in "${layers[@]}"; do
      printf 'layer\t%s\t%s\t%s\n' "$l" "${uses[$l]}" "${libs[$l]}"
      objs=$(layer_objects "$build" "$l")
      if [ -z "$objs" ]; then echo "missing $l"; continue; fi
      nm --defined-only -g $objs 2>/dev/null |
        awk -v l="$l" 'NF == 3 && $2 ~ /[TDBRVW]/ {print "def", l, $3}'
      nm --undefined-only -g $objs 2>/dev/null |
        awk -v l="$l" '$1 == "U" {print "use", l, $2}' | sort -u
    done
  } | awk '
    function lib(s) {
      if (s ~ /^sqlite3_/) return "sqlite3"
      if (s ~ /^(curl_|Curl_)/) return "libcurl"
      if (s ~ /^(json_|jansson_)/) return "jansson"
      if (s ~ /^(g_mime_|internet_address_|g_object_|g_type_|g_free$|g_malloc|g_byte_array_|g_ptr_array_|g_strfreev$|g_list_)/) return "gmime"
      if (s ~ /^MHD_/) return "libmicrohttpd"
      if (s ~ /^gnutls_/) return "gnutls"
      if (s ~ /^(sodium_|crypto_|randombytes)/) return "libsodium"
      if (s ~ /^(EVP_|SSL_|OPENSSL_|X509_|ERR_|BIO_|PEM_|OSSL_|RAND_|ASN1_|CRYPTO_)/) return "openssl"
      if (s ~ /^PQCLEAN_/) return "pqclean"
      return ""
    }
    $1 == "layer" {
      # layer <tab> NAME <tab> USES <tab> LIBS (space-separated lists)
      split($0, f, "\t")
      L = f[2]; usesof[L] = " " f[3] " "; libsof[L] = " " f[4] " "
      next
    }
    $1 == "missing" { print "nothing built for layer " $2; bad = 1; next }
    $1 == "missing-sodium" { print "libsodium not found: cannot check names against it"; bad = 1; next }
    $1 == "sodium" { sodium[$2] = 1; next }
    $1 == "def" { owner[$3] = $2; nd++; dl[nd] = $2; ds[nd] = $3; next }
    $1 == "use" { nu++; ul[nu] = $2; us[nu] = $3 }
    # The name rule (docs/ARCHITECTURE.md section 2, "Names"): 1 if layer
    # L may define symbol s.
    function named_ok(L, s,   w) {
      if (s == "main") return 1                        # a program
      if (s ~ /^__/) return 1     # made by the compiler (__odr_asan.x under ASan)
      if (L == "crypto" && s == "PQCLEAN_randombytes") return 1  # PQClean calls it so
      if (index(s, "qm_" L "_") == 1 || index(s, L "_") == 1) return 1
      if (L != "core" || s !~ /^qm_[a-z0-9]/) return 0
      w = substr(s, 4); sub(/_.*/, "", w)              # qm_<word>...
      return !(w in usesof) || w == "core"
    }
    END {
      for (i = 1; i <= nd; i++) {
        L = dl[i]; s = ds[i]
        if (!named_ok(L, s)) {
          print "src/" L " defines " s ": a global name of src/" L " begins with qm_" L "_ (public) or " L "_ (internal), or is static (docs/ARCHITECTURE.md section 2, \"Names\")"
          bad = 1
        }
        if (s in sodium) {
          print "src/" L " defines " s ", a name libsodium exports: rename it (docs/ARCHITECTURE.md section 2, \"Names\")"
          bad = 1
        }
      }
      for (i = 1; i <= nu; i++) {
        L = ul[i]; s = us[i]; o = owner[s]
        if (s == "qm_client_store" && (L == "web" || L == "cli")) {
          print "src/" L " calls qm_client_store: the user interfaces go through the engine, never to the store under it"
          bad = 1
        } else if (o != "") {
          if (o != L && index(usesof[L], " " o " ") == 0) {
            print "src/" L " calls " s " of src/" o ": src/" L " may use only:" usesof[L] "(docs/ARCHITECTURE.md section 2)"
            bad = 1
          } else if (o != L && index(s, o "_") == 1) {
            print "src/" L " calls " s ", internal to src/" o ": only qm_" o "_ functions are its door (docs/ARCHITECTURE.md section 2, \"Names\")"
            bad = 1
          }
        } else if ((x = lib(s)) != "" && index(libsof[L], " " x " ") == 0) {
          print "src/" L " calls " s " (" x "): src/" L " may use only the outside libraries:" libsof[L]
          bad = 1
        }
      }
      exit bad
    }' >&2 || bad=1
}

if [ "${1:-}" = --symbols ]; then
  check_symbols "${2:?usage: $0 --symbols BUILD_DIR}"
else
  check_includes
  check_cmake
fi
exit $bad
