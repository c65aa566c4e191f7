"""Instance-level method wrappers that survive copy.deepcopy, pickle and torch.save: a
callable object holding its module (deepcopy's memo maps it to the copy) instead of a
closure (which deepcopy shares, so a copy would run the original's weights)."""
from __future__ import annotations

from typing import Any


class Wrapper:
    """Replaces obj.<attr> on the instance; calls the class's method (or the instance's own
    earlier override) through inner()."""

    attr = ""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.previous = obj.__dict__.get(self.attr)

    def inner(self, *args: Any, **kwargs: Any) -> Any:
        if self.previous is not None:
            return self.previous(*args, **kwargs)
        return getattr(type(self.obj), self.attr)(self.obj, *args, **kwargs)

    def install(self) -> None:
        self.obj.__dict__[self.attr] = self

    def remove(self) -> None:
        if self.obj.__dict__.get(self.attr) is self:
            if self.previous is None:
                del self.obj.__dict__[self.attr]
            else:
                self.obj.__dict__[self.attr] = self.previous

    @property
    def __wrapped__(self) -> Any:
        """The method it wraps, bound: inspect.signature(model.forward) reads it, as
        transformers does to decide which arguments (cache_position) the model takes."""
        if self.previous is not None:
            return self.previous
        return getattr(type(self.obj), self.attr).__get__(self.obj)

    def __getattr__(self, name: str) -> Any:
        # what the wrapped method is read for (functools.wraps, signature inspection);
        # guarded so unpickling (which probes attributes before __dict__ is set) cannot recurse
        if name in ("obj", "previous") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(getattr(type(self.obj), self.attr), name)


def installed(obj: Any, attr: str, kind: type) -> Any:
    """The wrapper of this kind on obj.attr, or None."""
    w = getattr(obj, "__dict__", {}).get(attr)
    return w if isinstance(w, kind) else None

