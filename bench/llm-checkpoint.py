#!/usr/bin/env python3
"""llm-checkpoint.py: writes a llama2.c legacy (v0) checkpoint of stories15M's shape with
seeded random weights, for measuring phasewatt-llm and llama.cpp on the same file
(llama.cpp's convert-llama2c-to-ggml reads this format).
usage: bench/llm-checkpoint.py OUT.bin"""
import array
import math
import random
import struct
import sys

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ = 288, 768, 6, 6, 6, 32000, 256


def matrix(n, fan_in):
    """Uniform weights with variance 1/fan_in, like the engine's synthetic presets."""
    a = math.sqrt(3.0 / fan_in)
    return array.array("f", (random.uniform(-a, a) for _ in range(n)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    random.seed(42)
    d, h, L = DIM, HIDDEN, LAYERS
    with open(sys.argv[1], "wb") as f:
        # positive vocab_size: the output head shares the token embedding
        f.write(struct.pack("7i", d, h, L, HEADS, KV_HEADS, VOCAB, SEQ))
        matrix(VOCAB * d, d).tofile(f)
        array.array("f", [1.0] * (L * d)).tofile(f)          # attention norms
        for _ in range(4):                                   # wq, wk, wv, wo
            matrix(L * d * d, d).tofile(f)
        array.array("f", [1.0] * (L * d)).tofile(f)          # MLP norms
        matrix(L * h * d, d).tofile(f)                       # w1
        matrix(L * d * h, h).tofile(f)                       # w2
        matrix(L * h * d, d).tofile(f)                       # w3
        array.array("f", [6.0] * d).tofile(f)                # final norm: peaked logits
        array.array("f", [0.0] * (SEQ * (d // HEADS))).tofile(f)   # RoPE tables, unused


if __name__ == "__main__":
    main()
