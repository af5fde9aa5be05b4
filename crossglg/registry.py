"""One shape for every plug-in point: names registered in the code, plus Python entry points.

Encoders, LLM backends, skeleton readers, text embedders and one-shot protocols each have a
:class:`Registry`. Built-in entries register themselves with ``@REGISTRY.register(name)``;
another installed distribution adds entries by declaring entry points in the registry's group
(docs/PLUGINS.md). Listing names never imports a plug-in (the names come from the installed
distributions' metadata), so ``--help`` stays cheap and a broken plug-in cannot break it; a
plug-in is imported only when a name that is not built in is looked up, and one that fails to
load is reported in one line naming its entry point.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Generic, TypeVar

from crossglg.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → object for one plug-in point.

    ``what`` names an entry in messages ("encoder"); ``group`` is the entry-point group that
    other distributions add to; ``modules`` hold the built-in entries and are imported on the
    first lookup or listing (so a registry can be declared where importing them would be too
    early); ``check`` returns why a plug-in's object is unusable (or None); ``adopt`` registers a
    loaded plug-in object (default: under its entry point's name).
    """

    def __init__(
        self,
        what: str,
        group: str,
        modules: Iterable[str] = (),
        check: Callable[[object], str | None] | None = None,
        adopt: Callable[[str, T], None] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self._modules = tuple(modules)
        self._check = check
        self._adopt = adopt
        self._entries: dict[str, T] = {}
        self._builtins_loaded = not self._modules
        self._pending: list[importlib.metadata.EntryPoint] | None = None  # plug-ins not imported yet

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator (or ``register(name)(obj)``): make ``obj`` available as ``name``; a name is taken once."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise UserError(
                    f"{self.what} {name!r} is registered twice ({self._entries[name]!r} and {obj!r})"
                )
            self._entries[name] = obj
            return obj

        return add

    def names(self) -> list[str]:
        """Every name a lookup can succeed with: the registered ones, then the plug-ins' (not imported)."""
        self._load_builtins()
        plugin_names = sorted({ep.name for ep in self._entry_points()} - set(self._entries))
        return [*self._entries, *plugin_names]

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        A name that is not registered imports the plug-ins declared under that name first, and only
        if that does not register it, the group's other plug-ins (one may register several names):
        a broken plug-in stops only the commands that need it, or that ask for an unknown name.
        """
        self._load_builtins()
        for wanted in (name, None):
            if name not in self._entries:
                self._load_plugins(wanted)
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for module in self._modules:
            importlib.import_module(module)
        # a module imported earlier on its own registered first: list in the order of ``modules``
        rank = {module: i for i, module in enumerate(self._modules)}
        self._entries = dict(
            sorted(self._entries.items(), key=lambda item: rank.get(_home(item[1]), len(rank)))
        )

    def _entry_points(self) -> list[importlib.metadata.EntryPoint]:
        if self._pending is None:
            self._pending = list(importlib.metadata.entry_points(group=self.group))
        return self._pending

    def _load_plugins(self, name: str | None) -> None:
        """Import the pending plug-ins declared as ``name`` (None: all of them)."""
        for ep in [ep for ep in self._entry_points() if name in (None, ep.name)]:
            self._entry_points().remove(ep)
            where = f"plug-in entry point {ep.name} = {ep.value} in group {self.group}{_distribution(ep)}"
            try:
                obj = ep.load()
            except Exception as err:  # any failure inside someone else's import is theirs to fix
                raise UserError(
                    f"{where}: cannot be loaded ({type(err).__name__}: {_first_line(err)})"
                ) from None
            problem = self._check(obj) if self._check else None
            if problem:
                raise UserError(f"{where}: {problem}")
            if ep.name in self._entries and self._entries[ep.name] is obj:
                continue  # the plug-in's module registered itself with the decorator
            if ep.name in self._entries:
                raise UserError(f"{where}: the {self.what} name {ep.name!r} is already taken")
            try:
                if self._adopt:
                    self._adopt(ep.name, obj)
                else:
                    self.register(ep.name)(obj)
            except UserError as err:
                raise UserError(f"{where}: {err}") from None


def _home(obj: object) -> str | None:
    """The module an entry was defined in (a module entry, such as a reader, is its own)."""
    return obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None)


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f" (distribution {dist.name} {dist.version})" if dist is not None else ""


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else "no message"
