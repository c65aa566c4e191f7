#!/bin/sh
# llm-speed.sh — prefill and decode tokens/s of phasewatt-llm builds side by side: runs are
# interleaved (A, B, A, B, ...) so every binary sees the same load, and medians are printed.
#   bench/llm-speed.sh [BINARY...]      (default build/bin/phasewatt-llm)
#   RUNS=7 THREADS="1 2" TOKENS=32 ARCH=llama-15m PROMPT="..." bench/llm-speed.sh old new
# CHECKPOINT=model.bin runs a llama2.c checkpoint instead of the preset; with LLAMA_BENCH (a
# llama.cpp llama-bench) and LLAMA_MODEL (the same checkpoint converted to GGUF) each round
# also runs llama-bench on the same prompt length, token count and threads.
set -eu
RUNS=${RUNS:-5}
THREADS=${THREADS:-"1 2"}
TOKENS=${TOKENS:-32}
ARCH=${ARCH:-llama-15m}
PROMPT=${PROMPT:-"Once upon a time there was a little girl named Lily who loved to play outside"}
CHECKPOINT=${CHECKPOINT:-}
LLAMA_BENCH=${LLAMA_BENCH:-}
LLAMA_MODEL=${LLAMA_MODEL:-}
[ $# -gt 0 ] || set -- build/bin/phasewatt-llm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

model() { if [ -n "$CHECKPOINT" ]; then echo "--checkpoint $CHECKPOINT"; else echo "--arch $ARCH"; fi; }

# llama-bench's CSV rows: n_prompt, n_gen and avg_ts found by their header names.
llama_round() {
    "$LLAMA_BENCH" -m "$LLAMA_MODEL" -p "$1" -n "$TOKENS" -t "$2" -r 1 -o csv 2>/dev/null |
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); col[$i] = i } next }
                 { gsub(/"/, ""); if ($col["n_prompt"] > 0) p = $col["avg_ts"]; else d = $col["avg_ts"] }
                 END { print p, d }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
prompt_tokens=
for t in $THREADS; do
    r=0
    while [ "$r" -lt "$RUNS" ]; do
        i=0
        for bin in "$@"; do
            # the summary line: "... prefill N tokens in X ms (P tok/s), decode M tokens in Y ms (D tok/s)"
            # shellcheck disable=SC2046
            "$bin" $(model) --prompt "$PROMPT" -n "$TOKENS" --threads "$t" \
                --temperature 0 --phase-depth 3 2>&1 >/dev/null |
                sed -n 's/.*(\([0-9.]*\) tok\/s), decode.*(\([0-9.]*\) tok\/s).*/\1 \2/p' \
                    >>"$tmp/$i.$t"
            i=$((i + 1))
        done
        if [ -n "$LLAMA_BENCH" ]; then
            # shellcheck disable=SC2046
            [ -n "$prompt_tokens" ] || prompt_tokens=$("$1" $(model) --prompt "$PROMPT" -n 1 \
                --threads 1 2>&1 >/dev/null | sed -n 's/.*prefill \([0-9]*\) tokens.*/\1/p')
            llama_round "$prompt_tokens" "$t" >>"$tmp/llama.$t"
        fi
        r=$((r + 1))
    done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
row() {   # threads, label, file of "prefill decode" lines
    printf '%-8s %-44s %14.1f %14.1f\n' "$1" "$2" "$(cut -d' ' -f1 "$3" | median)" \
        "$(cut -d' ' -f2 "$3" | median)"
}
printf '%-8s %-44s %14s %14s\n' threads binary "prefill tok/s" "decode tok/s"
for t in $THREADS; do
    i=0
    for bin in "$@"; do
        row "$t" "$bin" "$tmp/$i.$t"
        i=$((i + 1))
    done
    [ -z "$LLAMA_BENCH" ] || row "$t" "$LLAMA_BENCH (pp$prompt_tokens, tg$TOKENS)" "$tmp/llama.$t"
done
