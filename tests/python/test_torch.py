"""phasewatt.instrument on a real PyTorch model (tests/python/hf_stand_in.py's TinyGPT):
default rules, per-layer names, an exception inside a hooked module, remove(), deepcopy and
pickle of an instrumented model, and a session around the model that survives an
exception, sys.exit and SIGTERM."""
import copy
import io
import os
import pickle

import pwtest
from pwtest import paths, recording

torch = pwtest.need("torch", "PyTorch is not installed (Debian: python3-torch, for "
                             "/usr/bin/python3)")
import phasewatt  # noqa: E402
from hf_stand_in import TinyGPT  # noqa: E402

IDS = torch.tensor([[1, 2, 3, 4, 5]])
EXPECTED = {"embedding", "attention", "mlp", "norm", "lm_head"}


def test_default_rules_tag_a_decoder_block_model():
    model = TinyGPT()
    tags = phasewatt.instrument(model)
    assert set(tags.phases.values()) == EXPECTED, tags.phases
    assert tags.phases["h.0.attn"] == "attention" and tags.phases["lm_head"] == "lm_head"
    with recording("torch-default.pwt") as s:
        with phasewatt.phase("decode"):
            model(input_ids=IDS)
    r = s.result
    assert paths(r) == {"decode"} | {"decode/" + p for p in EXPECTED}, paths(r)
    assert r["decode/attention"].calls == 2 and r["decode/norm"].calls == 5
    assert r["decode/embedding"].calls == 2           # wte and wpe


def test_per_layer_names():
    model = TinyGPT()
    phasewatt.instrument(model, per_layer=True)
    with recording("torch-layers.pwt") as s:
        model(input_ids=IDS)
    assert {"attention.0", "attention.1", "mlp.0", "mlp.1", "lm_head"} <= paths(s.result)


def test_rules_by_type_and_name():
    model = TinyGPT()
    tags = phasewatt.instrument(model, rules=[(torch.nn.LayerNorm, "ln"), ("name:h.1", "late")])
    assert sorted(set(tags.phases.values())) == ["late", "ln"]
    assert tags.phases["h.1"] == "late" and "h.0" not in tags.phases


def test_an_exception_inside_a_hooked_module_leaves_later_phases_nested():
    model = TinyGPT()
    phasewatt.instrument(model)
    boom = {"left": 2}
    real = type(model.h[1].mlp).forward

    def flaky(self, x):
        if boom["left"]:
            boom["left"] -= 1
            raise RuntimeError("out of memory in the MLP")
        return real(self, x)
    model.h[1].mlp.forward.previous = flaky.__get__(model.h[1].mlp)
    with recording("torch-exc.pwt") as s:
        for _ in range(4):
            with phasewatt.phase("decode"):
                try:
                    model(input_ids=IDS)
                except RuntimeError:
                    pass
    r = s.result
    assert paths(r) == {"decode"} | {"decode/" + p for p in EXPECTED}, paths(r)
    assert r["decode"].calls == 4 and r["decode/mlp"].calls == 8
    assert r["decode/lm_head"].calls == 2


def test_remove_restores_the_model():
    model = TinyGPT()
    want = model(input_ids=IDS).logits
    tags = phasewatt.instrument(model)
    assert len(tags) > 0
    tags.remove()
    assert all("forward" not in m.__dict__ for m in model.modules())
    with recording("torch-removed.pwt") as s:
        assert torch.equal(model(input_ids=IDS).logits, want)
    assert paths(s.result) == set()


def test_deepcopy_and_pickle_keep_their_own_weights():
    model = TinyGPT()
    phasewatt.instrument(model)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.lm_head.weight.zero_()
    assert torch.count_nonzero(twin(input_ids=IDS).logits) == 0
    assert torch.count_nonzero(model(input_ids=IDS).logits) > 0
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    back = torch.load(buf)
    assert torch.equal(back(input_ids=IDS).logits, model(input_ids=IDS).logits)
    again = pickle.loads(pickle.dumps(model))
    with recording("torch-pickled.pwt") as s:
        again(input_ids=IDS)
    assert "attention" in paths(s.result)


ENDINGS = {   # how the script ends inside decode, and the exit status that shows it
    "exception": ("raise RuntimeError('sampling failed')", 1),
    "sys.exit": ("sys.exit(3)", 3),
    "SIGTERM": ("os.kill(os.getpid(), signal.SIGTERM)", -15),
}
SCRIPT = """
import os, signal, sys
import torch, phasewatt
from hf_stand_in import TinyGPT
signal.signal(signal.SIGTERM, signal.SIG_DFL)     # the disposition the test relies on
model = phasewatt.instrument_generate(TinyGPT())
phasewatt.instrument(model)
steps = []
def processor(ids, scores):
    steps.append(1)
    if len(steps) == 3:
        %s
    return scores
with phasewatt.session(output=%r, sources="synthetic", synthetic="decode=10W,prefill=30W",
                       interval="1ms"):
    model.generate(input_ids=torch.tensor([[1, 2, 3, 4, 5]]), max_new_tokens=6,
                   logits_processor=[processor])
"""


def test_a_session_around_a_model_survives_an_exception_sys_exit_and_sigterm():
    for how, (ending, status) in ENDINGS.items():
        out = pwtest.tmp("torch-end-%s.pwt" % how.replace(".", "-"))
        pwtest.run_python(SCRIPT % (ending, out), expect=status)
        r = phasewatt.load(out)
        assert r.to_dict() == pwtest.report_json(out), how
        assert r.to_dict()["trace"]["complete"] is True, how
        assert r["prefill"].calls == 1 and r["decode"].calls == 2, (how, paths(r))
        assert {"prefill/attention", "decode/mlp"} <= paths(r), (how, paths(r))
        assert r["prefill"].tokens == 5, how
        assert os.path.getsize(out) > 1000, how


if __name__ == "__main__":
    pwtest.run(globals())
