"""Hugging Face generate() as phases: prefill and decode told apart by what each forward pass
processes, tokens that are real (no padding, prompt counted once however many beams),
sampling and logits processors inside the decode step, per-call state."""
from __future__ import annotations

import contextvars
from typing import Any, Iterable, List, Optional, Set, Tuple

from . import _tags
from ._patch import Wrapper, installed

PREFILL, DECODE, SCORE = "prefill", "decode", "score"


def _shape(x: Any) -> Tuple[int, ...]:
    s = getattr(x, "shape", None)
    return tuple(int(d) for d in s) if s is not None else ()


def _as_rows(x: Any) -> List[List[int]]:
    rows = x.tolist() if hasattr(x, "tolist") else list(x)
    return [list(r) if isinstance(r, (list, tuple)) else [r] for r in rows] \
        if rows and isinstance(rows[0], (list, tuple)) else [list(rows)]


def _mask_sum(mask: Any, lo: int, hi: int) -> int:
    """Real (unpadded) positions in columns [lo, hi) of an attention mask."""
    return sum(sum(1 for v in row[lo:hi] if v) for row in _as_rows(mask))


def _cached_length(kwargs: dict) -> int:
    """Positions already in the KV cache: cache_position[0], else the cache's length."""
    pos = kwargs.get("cache_position")
    if isinstance(pos, (list, tuple)) and pos:
        return int(pos[0])
    if pos is not None and _shape(pos) and _shape(pos)[-1] > 0:
        first = pos.reshape(-1)[0] if hasattr(pos, "reshape") else pos[0]
        return int(first)
    past = kwargs.get("past_key_values")
    if past is None:
        return 0
    if hasattr(past, "get_seq_length"):
        return int(past.get_seq_length())
    try:                                        # legacy: ((key, value), ...) per layer
        return _shape(past[0][0])[-2]
    except (IndexError, TypeError, KeyError):
        return 0


def _processed(args: tuple, kwargs: dict) -> Tuple[int, int]:
    """(batch, new positions) this forward pass processes."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is None:
        ids = kwargs.get("inputs_embeds")
        s = _shape(ids)
        return (s[0], s[1]) if len(s) >= 3 else (1, s[0] if s else 0)
    s = _shape(ids)
    return (s[0], s[-1]) if len(s) > 1 else (1, s[0] if s else 0)


class _Call:
    """One generate() call: its prompt, how far prefill got, the open step phase."""
    __slots__ = ("model", "prompt_len", "mask", "prompt_tokens", "covered", "step", "label",
                 "forwards", "from_ids")

    def __init__(self, model: Any, args: tuple, kwargs: dict) -> None:
        self.model = model
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        self.mask = kwargs.get("attention_mask")
        self.from_ids = ids is not None
        prompt = ids if ids is not None else embeds
        s = _shape(prompt)
        batch, self.prompt_len = ((s[0], s[1]) if len(s) >= 2 else (1, s[0] if s else 0))
        self.prompt_tokens = batch * self.prompt_len
        self.covered = 0
        self.step: Optional[_tags.Handle] = None
        self.label = ""
        self.forwards = 0

    def open_step(self, label: str) -> None:
        if self.step is not None:
            _tags.end(self.step)
        self.step, self.label = _tags.begin(label), label

    def prompt_tokens_in(self, lo: int, hi: int) -> int:
        hi = min(hi, self.prompt_len)
        if hi <= lo:
            return 0
        if self.mask is not None:
            return _mask_sum(self.mask, lo, hi)
        return self.prompt_tokens * (hi - lo) // max(self.prompt_len, 1)


_calls: contextvars.ContextVar[Tuple[_Call, ...]] = contextvars.ContextVar(
    "phasewatt_generate_calls", default=())


def _current(model: Any) -> Optional[_Call]:
    for call in reversed(_calls.get()):
        if call.model is model:
            return call
    return None


class _Forward(Wrapper):
    """The instance's forward: opens the step phase it belongs to."""
    attr = "forward"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = _current(self.obj)
        if call is None:
            return self._score(args, kwargs)
        past = _cached_length(kwargs)
        _, new = _processed(args, kwargs)
        prefill = call.covered < call.prompt_len if call.prompt_len else call.forwards == 0
        call.open_step(PREFILL if prefill else DECODE)
        call.forwards += 1
        if prefill:     # a forward without a cache starts at 0 again: count what is new
            _tags.count("tokens", call.prompt_tokens_in(call.covered, past + new))
        call.covered = max(call.covered, past + new)
        return self.inner(*args, **kwargs)

    def _score(self, args: tuple, kwargs: dict) -> Any:
        batch, new = _processed(args, kwargs)
        mask = kwargs.get("attention_mask")
        with _tags.phase(SCORE):
            _tags.count("tokens", _mask_sum(mask, 0, new) if mask is not None else batch * new)
            return self.inner(*args, **kwargs)


class _Generate(Wrapper):
    """The instance's generate: per-call state, the last step closed however it ends, and
    the tokens it generated counted in decode."""
    attr = "generate"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = _Call(self.obj, args, kwargs)
        token = _calls.set(_calls.get() + (call,))
        try:
            out = self.inner(*args, **kwargs)
            if call.label != DECODE:       # generated tokens are decode's, even for one
                call.open_step(DECODE)
            _tags.count("tokens", _generated(self.obj, out, kwargs, call))
            return out
        finally:
            if call.step is not None:
                _tags.end(call.step)
            _calls.reset(token)


def _ids(v: Any) -> Set[int]:
    """Token ids from a config or argument value: None, one id, or a list of them."""
    if v is None:
        return set()
    return {int(x) for x in (v if isinstance(v, (list, tuple)) else [v])}


def _generated(model: Any, out: Any, kwargs: dict, call: _Call) -> int:
    """Tokens generate() returned beyond the prompt, each row up to its first end-of-sequence
    token (what follows is padding)."""
    seqs = getattr(out, "sequences", out)
    if not (hasattr(seqs, "tolist") or isinstance(seqs, (list, tuple))):
        return 0
    start = call.prompt_len if call.from_ids else 0   # embeds only: HF returns new tokens only
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)
    eos = _ids(getattr(config, "eos_token_id", None)) | _ids(kwargs.get("eos_token_id"))
    pad = _ids(getattr(config, "pad_token_id", None)) | _ids(kwargs.get("pad_token_id"))
    return sum(_row_tokens(row[start:], eos, pad) for row in _as_rows(seqs))


def _row_tokens(row: Iterable[int], eos: set, pad: set) -> int:
    n = 0
    for tok in row:
        n += 1
        if tok in eos:
            return n
    if pad and not eos:
        return sum(1 for tok in row if tok not in pad)
    return n


def instrument_generate(model: Any) -> Any:
    """Splits a Hugging Face causal LM's generate() into phases with token counts.

    Each forward pass is labelled by what it processes: ``prefill`` while prompt positions
    are not yet in the cache (chunked prefill included), ``decode`` after; a step phase
    lasts until the next forward pass, so logits processors and sampling are in it.
    Forward passes outside generate() are ``score``. Tokens: the prompt's real tokens in
    prefill (padding excluded, counted once for all beams); the generated tokens in decode.
    Patches only the instance; instrumenting twice changes nothing; survives
    copy.deepcopy, pickle and torch.save; undo with uninstrument_generate(model)."""
    if installed(model, "forward", _Forward) is None:
        _Forward(model).install()
    if installed(model, "generate", _Generate) is None:
        _Generate(model).install()
    return model


def uninstrument_generate(model: Any) -> Any:
    """Removes what instrument_generate put on model."""
    for attr, kind in (("generate", _Generate), ("forward", _Forward)):
        w = installed(model, attr, kind)
        if w is not None:
            w.remove()
    return model
