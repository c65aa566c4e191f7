"""phasewatt.instrument on a real PyTorch model (tests/python/hf_stand_in.py's TinyGPT):
default rules, per-layer names, an exception inside a hooked module, remove(), deepcopy and
pickle of an instrumented model."""
import copy
import io
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


if __name__ == "__main__":
    pwtest.run(globals())
