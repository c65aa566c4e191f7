#!/bin/sh
# llm-speed.sh — prefill and decode tokens/s of phasewatt-llm builds side by side: runs are
# interleaved (A, B, A, B, ...) so every binary sees the same load, and medians are printed.
#   bench/llm-speed.sh [BINARY...]      (default build/bin/phasewatt-llm)
#   RUNS=7 THREADS="1 2" TOKENS=32 ARCH=llama-15m PROMPT="..." bench/llm-speed.sh old new
set -eu
RUNS=${RUNS:-5}
THREADS=${THREADS:-"1 2"}
TOKENS=${TOKENS:-32}
ARCH=${ARCH:-llama-15m}
PROMPT=${PROMPT:-"Once upon a time there was a little girl named Lily who loved to play outside"}
[ $# -gt 0 ] || set -- build/bin/phasewatt-llm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $THREADS; do
    r=0
    while [ "$r" -lt "$RUNS" ]; do
        i=0
        for bin in "$@"; do
            # the summary line: "... prefill N tokens in X ms (P tok/s), decode M tokens in Y ms (D tok/s)"
            "$bin" --arch "$ARCH" --prompt "$PROMPT" -n "$TOKENS" --threads "$t" \
                --temperature 0 --phase-depth 3 2>&1 >/dev/null |
                sed -n 's/.*(\([0-9.]*\) tok\/s), decode.*(\([0-9.]*\) tok\/s).*/\1 \2/p' \
                    >>"$tmp/$i.$t"
            i=$((i + 1))
        done
        r=$((r + 1))
    done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-44s %14s %14s\n' threads binary "prefill tok/s" "decode tok/s"
for t in $THREADS; do
    i=0
    for bin in "$@"; do
        p=$(cut -d' ' -f1 "$tmp/$i.$t" | median)
        d=$(cut -d' ' -f2 "$tmp/$i.$t" | median)
        printf '%-8s %-44s %14.1f %14.1f\n' "$t" "$bin" "$p" "$d"
        i=$((i + 1))
    done
done
