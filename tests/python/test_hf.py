"""instrument_generate on the cases the issue lists, each against a generate() that follows
Hugging Face's contract (tests/python/hf_stand_in.py) with a real PyTorch model behind it."""
import copy
import inspect
import io
import pickle
import threading

import pwtest
from pwtest import paths, recording

torch = pwtest.need("torch", "PyTorch is not installed (Debian: python3-torch, for "
                             "/usr/bin/python3)")
import phasewatt  # noqa: E402
from hf_stand_in import TinyGPT, left_padded  # noqa: E402

PROMPT = torch.tensor([[3, 7, 1, 9, 4]])


def generated(model, name, **kw):
    """Runs model.generate(**kw) in a session; returns (output, result)."""
    with recording(name) as s:
        out = model.generate(**kw)
    return out, s.result


def tokens(r, path):
    return r[path].tokens if path in paths(r) else 0


def test_left_padded_batch_of_3_counts_no_padding():
    model = phasewatt.instrument_generate(TinyGPT())
    ids, mask = left_padded([[5, 6, 7, 8, 9], [3, 4, 5], [8, 9]])
    out, r = generated(model, "hf-pad.pwt", input_ids=ids, attention_mask=mask,
                       max_new_tokens=4)
    assert out.shape == (3, 9)
    assert tokens(r, "prefill") == 10 and r["prefill"].calls == 1
    assert tokens(r, "decode") == 12 and r["decode"].calls == 3


def test_four_beams_count_the_prompt_once_and_the_generated_tokens():
    model = phasewatt.instrument_generate(TinyGPT())
    out, r = generated(model, "hf-beams.pwt", input_ids=PROMPT, num_beams=4, max_new_tokens=4)
    assert out.shape == (1, 9)
    assert tokens(r, "prefill") == 5 and tokens(r, "decode") == 4
    assert r["prefill"].calls == 1 and r["decode"].calls == 3


def test_two_threads_sharing_a_model_each_get_their_prefill():
    model = phasewatt.instrument_generate(TinyGPT())
    both_inside = threading.Barrier(2, timeout=60)
    model.on_generate = both_inside.wait       # both calls are in generate() before a forward
    errors = []

    def run():
        try:
            model.generate(input_ids=PROMPT, max_new_tokens=3)
        except Exception as e:               # shown by the assertion below
            errors.append(e)
    with recording("hf-threads.pwt") as s:
        threads = [threading.Thread(target=run) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert not errors, errors
    r = s.result
    assert r["prefill"].calls == 2 and tokens(r, "prefill") == 10
    assert r["decode"].calls == 4 and tokens(r, "decode") == 6


def test_chunked_prefill_is_prefill():
    model = phasewatt.instrument_generate(TinyGPT())
    prompt = torch.arange(1, 13)[None]
    _, r = generated(model, "hf-chunks.pwt", input_ids=prompt, prefill_chunk_size=4,
                     max_new_tokens=3)
    assert r["prefill"].calls == 3 and tokens(r, "prefill") == 12
    assert r["decode"].calls == 2 and tokens(r, "decode") == 3


def test_assisted_decoding_counts_every_generated_token():
    model = phasewatt.instrument_generate(TinyGPT())
    out, r = generated(model, "hf-assisted.pwt", input_ids=PROMPT, max_new_tokens=29,
                       assistant_model=TinyGPT())        # same weights: every proposal kept
    assert out.shape == (1, 5 + 29)
    assert tokens(r, "decode") == 29 and tokens(r, "prefill") == 5
    assert r["decode"].calls == 6      # 28 tokens, 5 per check: 4 proposals kept + its own


def test_inputs_embeds_prefill_counts_the_prompt():
    model = phasewatt.instrument_generate(TinyGPT())
    embeds = model.wte(torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])).detach()
    out, r = generated(model, "hf-embeds.pwt", inputs_embeds=embeds, max_new_tokens=3)
    assert out.shape == (2, 3)                 # only the new tokens, as Hugging Face returns
    assert tokens(r, "prefill") == 10 and tokens(r, "decode") == 6


def test_scoring_calls_after_generate_are_score():
    model = phasewatt.instrument_generate(TinyGPT())
    with recording("hf-score.pwt") as s:
        model.generate(input_ids=PROMPT, max_new_tokens=3)
        with torch.no_grad():
            model(input_ids=PROMPT)
            model(input_ids=PROMPT)
    r = s.result
    assert r["score"].calls == 2 and tokens(r, "score") == 10
    assert r["decode"].calls == 2


def test_tokens_after_end_of_sequence_are_padding_not_generated():
    prompts = torch.tensor([[3, 7, 1, 9, 4], [2, 2, 8, 6, 1]])
    free = TinyGPT().generate(input_ids=prompts, max_new_tokens=6)[:, 5:].tolist()
    eos = free[0][1]                             # row 0 ends at its second token
    want = sum(row.index(eos) + 1 if eos in row else 6 for row in free)
    model = phasewatt.instrument_generate(TinyGPT(eos=eos))
    out, r = generated(model, "hf-eos.pwt", input_ids=prompts, max_new_tokens=6)
    assert out[0, 5:].tolist()[:2] == free[0][:2]
    assert tokens(r, "decode") == want < 12


def test_the_forward_keeps_its_signature():
    model = phasewatt.instrument_generate(TinyGPT())
    params = inspect.signature(model.forward).parameters      # what transformers inspects
    assert "cache_position" in params and "inputs_embeds" in params


def test_instrumenting_twice_changes_nothing():
    model = phasewatt.instrument_generate(phasewatt.instrument_generate(TinyGPT()))
    _, r = generated(model, "hf-twice.pwt", input_ids=PROMPT, max_new_tokens=3)
    assert paths(r) == {"prefill", "decode"}, paths(r)
    assert tokens(r, "prefill") == 5 and tokens(r, "decode") == 3


def test_processors_and_sampling_run_inside_the_step():
    model = phasewatt.instrument_generate(TinyGPT())

    def processor(ids, scores):
        with phasewatt.phase("processor"):
            return scores - scores.max(-1, keepdim=True).values
    torch.manual_seed(0)
    _, r = generated(model, "hf-proc.pwt", input_ids=PROMPT, max_new_tokens=4,
                     logits_processor=[processor], do_sample=True)
    assert paths(r) == {"prefill", "prefill/processor", "decode", "decode/processor"}, paths(r)
    assert r["prefill/processor"].calls == 1 and r["decode/processor"].calls == 3


def test_no_cache_generate_is_one_prefill_then_decode():
    model = phasewatt.instrument_generate(TinyGPT())
    _, r = generated(model, "hf-nocache.pwt", input_ids=PROMPT, max_new_tokens=4,
                     use_cache=False)
    assert r["prefill"].calls == 1 and tokens(r, "prefill") == 5
    assert r["decode"].calls == 3 and tokens(r, "decode") == 4


def test_a_deepcopy_runs_its_own_weights():
    model = phasewatt.instrument_generate(TinyGPT())
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.lm_head.weight.zero_()
    out, r = generated(twin, "hf-copy.pwt", input_ids=PROMPT, max_new_tokens=3)
    assert out[0, 5:].tolist() == [0, 0, 0]             # zero logits: token 0 every step
    assert model.generate(input_ids=PROMPT, max_new_tokens=3)[0, 5:].tolist() != [0, 0, 0]
    assert tokens(r, "prefill") == 5


def test_pickle_and_torch_save_round_trip():
    model = phasewatt.instrument_generate(TinyGPT())
    want = model.generate(input_ids=PROMPT, max_new_tokens=3)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    for back in (torch.load(buf), pickle.loads(pickle.dumps(model))):
        out, r = generated(back, "hf-pickle.pwt", input_ids=PROMPT, max_new_tokens=3)
        assert torch.equal(out, want) and tokens(r, "prefill") == 5


def test_uninstrument_removes_the_tags():
    model = phasewatt.uninstrument_generate(phasewatt.instrument_generate(TinyGPT()))
    assert "forward" not in model.__dict__ and "generate" not in model.__dict__
    _, r = generated(model, "hf-removed.pwt", input_ids=PROMPT, max_new_tokens=3)
    assert paths(r) == set()


if __name__ == "__main__":
    pwtest.run(globals())
