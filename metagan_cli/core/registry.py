"""Named choices: one record per name, one registry per kind (algorithms, GAN losses,
optimisers, models).  Config validation, the core, checkpoints and the benchmark read
the same registry, so a new choice is one record and nothing else lists its name."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Iterator, TypeVar

from metagan_cli.config import ConfigError

Record = TypeVar("Record")


class Registry(Generic[Record]):
    """Records with a ``name``, looked up by the config key ``key`` (for error messages)."""

    def __init__(self, key: str):
        self.key = key
        self._records: dict[str, Record] = {}

    def register(self, record: Record) -> Record:
        name = record.name
        if name in self._records:
            raise ValueError(f"two records for {self.key}={name}")
        self._records[name] = record
        return record

    def get(self, name: str, key: str | None = None) -> Record:
        """The record called ``name``; otherwise a one-line ConfigError that names the
        config key (``key``, default the registry's) and the choices."""
        try:
            return self._records[name]
        except KeyError:
            raise ConfigError(f"{key or self.key} must be one of {', '.join(self.names())}; "
                              f"got '{name}'") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records.values())

    def __contains__(self, name: object) -> bool:
        return name in self._records


def import_submodules(package: str, path) -> None:
    """Imports every module of a package, so the records they register exist: a new
    algorithm or model is a new module in its package, found without being listed."""
    for module in sorted(m.name for m in pkgutil.iter_modules(path)):
        if not module.startswith("_"):
            importlib.import_module(f"{package}.{module}")
