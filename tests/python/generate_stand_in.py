"""A stand-in for a Hugging Face causal LM with generate()'s call shape (the first forward
gets the whole prompt, each later one a single token per sequence, cache_position says
where), tagged through the binding: the test records it with
`phasewatt record -- python3 this.py`."""
import time

import phasewatt


class Shape:
    def __init__(self, *shape):
        self.shape = shape


class StandInLM:
    def forward(self, input_ids=None, cache_position=None, **kwargs):
        time.sleep(0.02)
        return input_ids

    def __call__(self, **kwargs):            # what torch.nn.Module.__call__ does
        return self.forward(**kwargs)

    def generate(self, input_ids, max_new_tokens=4):
        batch, length = input_ids.shape
        self(input_ids=input_ids, cache_position=[0])
        for step in range(1, max_new_tokens):
            self(input_ids=Shape(batch, 1), cache_position=[length + step - 1])
        return [[1] * (length + max_new_tokens)] * batch


@phasewatt.phase("post-inference")
def post_inference():
    with phasewatt.phase("detokenize"):
        time.sleep(0.003)


phasewatt.track_name("generate-loop")
model = phasewatt.instrument_generate(StandInLM())
with phasewatt.phase("pre-inference"):
    time.sleep(0.005)
model.generate(Shape(2, 5), max_new_tokens=6)     # batch 2, prompt 5, 6 new: 10 + 12 tokens
post_inference()
phasewatt.end()                                   # unbalanced: counted, never raised
print("unbalanced ends:", phasewatt.health()["unbalanced_ends"])
