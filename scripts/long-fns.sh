#!/usr/bin/env bash
# Lists the longest functions of the product code (crates/*/src and the CLI, test modules
# left out) and fails when one is over the limit and not exempt.
#
#   scripts/long-fns.sh            the ten longest, then any over the limit (exit 1 if so)
#   LONG_FNS_MOST=30 scripts/...   more rows
#
# A function's length is the lines from its `fn` line to its closing brace. Braces inside
# string and character literals are ignored; a `#[cfg(test)] mod` is skipped whole.
set -euo pipefail
cd "$(dirname "$0")/.."

# The limit, in lines.
limit=100
# Functions allowed over the limit for now, as `path:name`, each with the reason. Remove a
# row when the function is split; the check turns strict when this list is empty.
exempt=()
most=${LONG_FNS_MOST:-10}

lengths=$(find crates -path '*/src/*' -name '*.rs' ! -name tests.rs ! -path '*/tests/*' | sort | while read -r f; do
    awk -v file="$f" '
        function strip(s) {
            gsub(/\\\\/, "", s)            # escaped backslashes
            gsub(/\\"/, "", s)             # escaped quotes
            gsub(/"[^"]*"/, "\"\"", s)     # string literals (one line)
            gsub(/'\''.'\''/, "", s)       # char literals
            sub(/\/\/.*/, "", s)           # line comments
            return s
        }
        function count(s, c,   n) { n = gsub(c, "", s); return n }
        {
            line = strip($0)
            opens = count(line, "{"); closes = count(line, "}")
            if (skip_depth > 0 || pending_test) {
                if (pending_test && line ~ /^[[:space:]]*(pub[^ ]* )?mod /) {
                    pending_test = 0; skip_depth = depth + 0.5
                } else if (pending_test && line !~ /^[[:space:]]*#\[/) {
                    pending_test = 0
                }
            }
            if (line ~ /^[[:space:]]*#\[cfg\(test\)\]/) pending_test = 1
            if (skip_depth == 0 && fn_depth == "" && \
                match(line, /(^|[[:space:]])fn [A-Za-z_][A-Za-z0-9_]*/)) {
                name = substr(line, RSTART, RLENGTH); sub(/.*fn /, "", name)
                fn_name = name; fn_start = NR; fn_depth = depth; fn_open = 0
            }
            depth += opens - closes
            if (fn_depth != "") {
                if (opens > 0) fn_open = 1
                if (!fn_open && line ~ /;[[:space:]]*$/) { fn_depth = "" }   # a declaration
                else if (fn_open && depth <= fn_depth) {
                    printf "%d %s:%d:%s\n", NR - fn_start + 1, file, fn_start, fn_name
                    fn_depth = ""
                }
            }
            if (skip_depth > 0 && depth < skip_depth) skip_depth = 0
        }' "$f"
done | sort -rn)

echo "longest functions in the product code (limit $limit lines):"
sed -n "1,${most}p" <<<"$lengths" | while read -r n where; do
    printf '%5d  %s\n' "$n" "$where"
done

over=0
while read -r n where; do
    [ -n "$n" ] && [ "$n" -gt "$limit" ] || continue
    file=${where%%:*}
    name=${where##*:}
    if printf '%s\n' "${exempt[@]}" | grep -qxF "$file:$name"; then
        echo "exempt: $where, $n lines" >&2
    else
        echo "error: $where is $n lines (limit $limit); split it into named steps" >&2
        over=1
    fi
done <<<"$lengths"
exit "$over"
