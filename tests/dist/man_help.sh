#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The manual pages agree with the programs' help (issue 21):
# - qmail.1: every command of `qmail --help` has an entry in COMMANDS and
#   every entry is a command; every --option that `qmail --help` and
#   `qmail CMD --help` print appears in the page, and every --option the
#   page names is one of them; every $VARIABLE of the help and every
#   getenv("QMAIL_...") of src/ is in ENVIRONMENT; every exit code of the
#   help is in EXIT STATUS.
# - qkme.8: the same for `qkme --help` (commands, --options, variables).
# Usage: man_help.sh SOURCE_DIR QMAIL QKME
set -euo pipefail
src=$1 qmail=$2 qkme=$3
man=$src/dist/man
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# the lines of section NAME ("# NAME" up to the next "# ") of a page
section() { awk -v s="# $2" '$0 == s {on = 1; next} /^# / {on = 0} on' "$1"; }
# --options in a text (comment lines of the scdoc source left out)
options() { grep -v '^;' | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u; }
# compare two sorted lists; what, the missing side's name
same() {
    local what=$1 a=$2 b=$3
    if ! diff -q "$a" "$b" >/dev/null; then
        echo "FAIL: $what"
        comm -23 "$a" "$b" | sed 's/^/  in the help, not in the page: /'
        comm -13 "$a" "$b" | sed 's/^/  in the page, not in the help: /'
        fail=1
    fi
}

# ---- qmail(1)
"$qmail" --help > "$tmp/help"
# the commands: first column of the "Commands" table ("move, copy ID F")
awk '/^Commands/ {on = 1; next} /^Options/ {on = 0} on && /^  [a-z]/' "$tmp/help" |
    sed -E 's/^  //; s/ {2,}.*$//' | tr ',' '\n' |
    awk '{print $1}' | grep -E '^[a-z]+$' | sort -u > "$tmp/help-cmds"
[ -s "$tmp/help-cmds" ] || { echo "FAIL: no commands found in qmail --help"; exit 1; }
# the page's entries: lines of COMMANDS that start with a bold word, and
# the bold words after ", " on them ("*move* _ID_ _FOLDER_, *copy* ...")
section "$man/qmail.1.scd" COMMANDS | grep -E '^\*' |
    grep -oE '(^|, )\*[a-z]+' | sed -E 's/^, //' | tr -d '*' |
    sort -u > "$tmp/page-cmds"
same "qmail commands: qmail --help against qmail.1 COMMANDS" \
    "$tmp/help-cmds" "$tmp/page-cmds"

# every command's help; `account discover` and `account signin` have their own
cp "$tmp/help" "$tmp/all-help"
while read -r c; do
    "$qmail" "$c" --help >> "$tmp/all-help" ||
        { echo "FAIL: qmail $c --help exits non-zero"; fail=1; }
done < "$tmp/help-cmds"
for sub in discover signin; do
    "$qmail" account "$sub" --help >> "$tmp/all-help"
done
options < "$tmp/all-help" > "$tmp/help-opts"
options < "$man/qmail.1.scd" > "$tmp/page-opts"
same "qmail options: qmail --help and qmail CMD --help against qmail.1" \
    "$tmp/help-opts" "$tmp/page-opts"

# variables: named in the help, or read by the code
{
    grep -oE '\$[A-Z][A-Z0-9_]+' "$tmp/all-help" | tr -d '$'
    grep -rhoE 'getenv\("QMAIL_[A-Z0-9_]+"\)' "$src/src" | sed -E 's/getenv\("(.*)"\)/\1/'
} | sort -u > "$tmp/vars"
section "$man/qmail.1.scd" ENVIRONMENT > "$tmp/page-env"
while read -r v; do
    grep -q "_${v}_" "$tmp/page-env" ||
        { echo "FAIL: qmail.1 ENVIRONMENT lacks $v"; fail=1; }
done < "$tmp/vars"

# exit codes of the help ("Exit codes: 0 success; 1 error; ...")
sed -n '/^Exit codes/,$p' "$tmp/help" | grep -oE '(^|; |: )[0-9]+ ' | grep -oE '[0-9]+' |
    sort -u > "$tmp/codes"
[ "$(wc -l < "$tmp/codes")" -ge 7 ] || { echo "FAIL: exit codes not found in qmail --help"; fail=1; }
section "$man/qmail.1.scd" "EXIT STATUS" > "$tmp/page-exit"
while read -r c; do
    grep -qx "\*$c\*" "$tmp/page-exit" ||
        { echo "FAIL: qmail.1 EXIT STATUS lacks $c"; fail=1; }
done < "$tmp/codes"

# ---- qkme(8)
"$qkme" --help > "$tmp/khelp"
grep -oE '^  qkme [a-z-]+( [A-Z]+ [a-z-]+)?' "$tmp/khelp" |
    awk '{print ($3 ~ /^[A-Z]+$/) ? $2 " " $4 : $2}' | grep -v '^--' |
    sort -u > "$tmp/khelp-cmds"
[ -s "$tmp/khelp-cmds" ] || { echo "FAIL: no commands found in qkme --help"; exit 1; }
while read -r c; do
    w=($c)
    if [ ${#w[@]} -eq 2 ]; then pat="^\*qkme ${w[0]}\* _[A-Z]+_ \*${w[1]}\*"; else pat="^\*qkme ${w[0]}\*"; fi
    section "$man/qkme.8.scd" COMMANDS | grep -qE "$pat" ||
        { echo "FAIL: qkme.8 COMMANDS lacks qkme $c"; fail=1; }
done < "$tmp/khelp-cmds"
options < "$tmp/khelp" > "$tmp/khelp-opts"
options < "$man/qkme.8.scd" > "$tmp/kpage-opts"
same "qkme options: qkme --help against qkme.8" "$tmp/khelp-opts" "$tmp/kpage-opts"
{
    grep -oE 'QKME_[A-Z0-9_]+' "$tmp/khelp"
    grep -rhoE 'getenv\("QKME_[A-Z0-9_]+"\)' "$src/src/kme" | sed -E 's/getenv\("(.*)"\)/\1/'
} | sort -u > "$tmp/kvars"
section "$man/qkme.8.scd" ENVIRONMENT > "$tmp/kpage-env"
while read -r v; do
    grep -q "_${v}_" "$tmp/kpage-env" ||
        { echo "FAIL: qkme.8 ENVIRONMENT lacks $v"; fail=1; }
done < "$tmp/kvars"

[ $fail -eq 0 ] && echo "the manual pages agree with qmail --help and qkme --help"
exit $fail
