"""Name → builder registries for model families and datasets."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from gan_cli.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a config name to a builder; an unknown name is a UserError listing the known ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            known = ", ".join(self.names())
            raise UserError(f"unknown {self.kind} '{name}'; registered names: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
