"""Named backends of one kind (vector stores, embedders, generators), found by the spec a user gives.

Each backend declares the name it answers to, and optionally a prefix for specs that carry an argument
(`milvus:./news.db`) and a fallback that takes every other spec (a local model folder). Choosing a
backend is then a lookup, and a spec nothing answers to is refused with the choices named:

    EMBEDDERS: Registry[EmbedderFactory] = Registry("embedding model")

    @EMBEDDERS.register("hashing", prefix="hashing-", shown="hashing-DIMENSION")
    def _hashing(name: str, threads: int | None) -> Embedder: ...

    STORES.resolve("nmupy")  # IndexStateError: unknown vector backend 'nmupy'; known: numpy, ...

The registry holds only what is registered, so a backend whose package is heavy (pymilvus, llama.cpp)
registers a small factory that imports that package when it is called, never at registration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from index.errors import NewsdeskError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One registered backend: the spec it answers to exactly, the prefix of the specs it also takes
    (None: none), and how the list of choices shows it."""

    name: str
    value: T
    prefix: str | None
    shown: str


class Registry(Generic[T]):
    """Backends of one kind by name. A spec resolves to the backend of that exact name, else to the one
    with the longest prefix the spec begins with, else to the fallback, else it is an error."""

    def __init__(self, kind: str, *, error: Callable[[str], Exception] = NewsdeskError) -> None:
        self.kind = kind  # in messages: "unknown {kind} ..."
        self._error = error
        self._entries: dict[str, Entry[T]] = {}
        self._fallback: str | None = None

    def add(
        self,
        name: str,
        value: T,
        *,
        prefix: str | None = None,
        shown: str | None = None,
        fallback: bool = False,
    ) -> T:
        """Register `value` under `name` (and the specs beginning with `prefix`); `fallback` makes it also
        the backend of every spec nothing else answers to. A name or prefix is registered once."""
        if not name:
            raise ValueError(f"a {self.kind} needs a name")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if prefix is not None:
            if not prefix:
                raise ValueError(f"the prefix of {self.kind} {name!r} is empty")
            taken = [entry.name for entry in self._entries.values() if entry.prefix == prefix]
            if taken:
                raise ValueError(f"the prefix {prefix!r} is already {self.kind} {taken[0]!r}'s")
        if fallback and self._fallback is not None:
            raise ValueError(f"{self.kind} {self._fallback!r} is already the fallback")
        self._entries[name] = Entry(name, value, prefix, shown or name)
        if fallback:
            self._fallback = name
        return value

    def register(
        self, name: str, *, prefix: str | None = None, shown: str | None = None, fallback: bool = False
    ) -> Callable[[T], T]:
        """`add` as a decorator, for a backend that is a factory function or a class."""

        def decorate(value: T) -> T:
            return self.add(name, value, prefix=prefix, shown=shown, fallback=fallback)

        return decorate

    def unregister(self, name: str) -> None:
        """Forget a backend (a test's, or a plugin's); unknown names are ignored."""
        self._entries.pop(name, None)
        if self._fallback == name:
            self._fallback = None

    def entry(self, spec: str) -> Entry[T] | None:
        """The entry `spec` resolves to, or None."""
        exact = self._entries.get(spec)
        if exact is not None:
            return exact
        prefixed = [e for e in self._entries.values() if e.prefix is not None and spec.startswith(e.prefix)]
        if prefixed:
            return max(prefixed, key=lambda e: len(e.prefix or ""))
        return None if self._fallback is None else self._entries[self._fallback]

    def resolve(self, spec: str) -> T:
        """The backend for `spec`, or the registry's error naming every choice."""
        found = self.entry(spec)
        if found is None:
            raise self._error(f"unknown {self.kind} {spec!r}; known: {', '.join(self.choices())}")
        return found.value

    def __contains__(self, spec: object) -> bool:
        return isinstance(spec, str) and self.entry(spec) is not None

    def names(self) -> tuple[str, ...]:
        """The registered names, in the order they were registered."""
        return tuple(self._entries)

    def choices(self) -> tuple[str, ...]:
        """The specs a user may give, as messages show them (`milvus:PATH_OR_URI`)."""
        return tuple(entry.shown for entry in self._entries.values())
