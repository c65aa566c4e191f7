"""PyTorch: tags the modules of an nn.Module tree as phases, chosen by type or name pattern,
each ending even when its forward raises; the tags are removable."""
from __future__ import annotations

import fnmatch
import re
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _tags
from ._patch import Wrapper, installed

Matcher = Union[type, Tuple[type, ...], str, Callable[[str, Any], bool]]

# Defaults that fit common decoder blocks (GPT-2, Llama, Mistral, nanoGPT...): class names
# first, then attribute names; the first rule that matches a module names its phase.
DEFAULT_RULES: List[Tuple[Matcher, str]] = [
    ("re:(?i).*embedding.*", "embedding"),
    ("re:(?i).*(attention|attn).*", "attention"),
    ("re:(?i).*(mlp|feedforward|ffn).*", "mlp"),
    ("re:(?i).*(layernorm|rmsnorm|norm)$", "norm"),
    ("name:lm_head", "lm_head"),
    ("name:*.lm_head", "lm_head"),
    ("name:wte", "embedding"), ("name:*.wte", "embedding"),
    ("name:wpe", "embedding"), ("name:*.wpe", "embedding"),
    ("name:*.attn", "attention"), ("name:*.self_attn", "attention"),
    ("name:*.mlp", "mlp"),
    ("name:*.ln_*", "norm"), ("name:ln_f", "norm"), ("name:*.ln_f", "norm"),
]


def _matches(matcher: Matcher, qualname: str, module: Any) -> bool:
    """A type (isinstance), "re:PATTERN" on the class name, "name:GLOB" on the module's
    dotted name in the tree, a bare string as a glob on either, or a callable(name, module)."""
    if isinstance(matcher, (type, tuple)):
        return isinstance(module, matcher)
    if callable(matcher):
        return bool(matcher(qualname, module))
    cls = type(module).__name__
    if matcher.startswith("re:"):
        return re.fullmatch(matcher[3:], cls) is not None
    if matcher.startswith("name:"):
        return fnmatch.fnmatchcase(qualname, matcher[5:])
    return fnmatch.fnmatchcase(cls, matcher) or fnmatch.fnmatchcase(qualname, matcher)


def _layer(qualname: str) -> Optional[str]:
    m = re.search(r"(?:^|\.)(\d+)(?:\.|$)", qualname)
    return m.group(1) if m else None


class _Tagged(Wrapper):
    """A module's forward inside its phase (`with`: the phase ends even if forward raises)."""
    attr = "forward"

    def __init__(self, module: Any, name: str, qualname: str) -> None:
        super().__init__(module)
        self.name, self.qualname = name, qualname
        self.tag = _tags.phase(name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.tag:
            return self.inner(*args, **kwargs)

    def __getstate__(self) -> dict:
        return {"obj": self.obj, "previous": self.previous, "name": self.name,
                "qualname": self.qualname}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.tag = _tags.phase(state["name"])


class Instrumentation:
    """What instrument() tagged: .phases maps each module's dotted name to its phase name;
    remove() undoes it (also usable as a context manager)."""

    def __init__(self, wrappers: List[_Tagged]) -> None:
        self._wrappers = wrappers

    @property
    def phases(self) -> dict:
        return {w.qualname: w.name for w in self._wrappers}

    def remove(self) -> None:
        for w in reversed(self._wrappers):
            w.remove()
        self._wrappers = []

    def __enter__(self) -> "Instrumentation":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.remove()
        return False

    def __len__(self) -> int:
        return len(self._wrappers)


def instrument(model: Any, rules: Optional[Sequence[Tuple[Matcher, str]]] = None,
               per_layer: bool = False) -> Instrumentation:
    """Tags model's submodules as phases: each module matching a rule runs inside a phase
    of the rule's name (nested modules nest). per_layer=True names them by layer
    ("attention.3" for blocks.3.attn); the default merges every layer into one phase.

    rules: [(matcher, phase name), ...], the first match wins; a matcher is a module type,
    "re:REGEX" on the class name, "name:GLOB" on the dotted module name, or callable(name,
    module). A module already tagged is left as it is."""
    if not hasattr(model, "named_modules"):
        raise TypeError("phasewatt.instrument: expected a torch.nn.Module, got %s"
                        % type(model).__name__)
    chosen = list(DEFAULT_RULES if rules is None else rules)
    for _, name in chosen:
        _tags.check_name(name, "instrument")
    wrappers: List[_Tagged] = []
    for qualname, module in model.named_modules():
        if not qualname or installed(module, "forward", _Tagged) is not None:
            continue
        name = next((n for m, n in chosen if _matches(m, qualname, module)), None)
        if name is None:
            continue
        layer = _layer(qualname) if per_layer else None
        w = _Tagged(module, name + "." + layer if layer else name, qualname)
        w.install()
        wrappers.append(w)
    return Instrumentation(wrappers)
