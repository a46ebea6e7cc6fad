"""Registry[T]: one per plug-in point (models, exporters, engines, transports).

A plain dict with a good miss: unknown names get a did-you-mean and the list of
valid names, as torchvision's and Ultralytics' registries do.
"""
from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from .errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ConfigError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"Unknown {self.kind} '{name}'.{hint} Available: {', '.join(names)}"

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()
