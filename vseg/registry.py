"""A small name -> object registry, the one behind the formats, layouts and metainfo tables.

(mmengine's ``Registry`` builds classes from configs and imports torch; these registries hold
ready objects and must stay importable without it.)
"""
from typing import Dict, Generic, List, TypeVar

T = TypeVar('T')


class NamedRegistry(Generic[T]):
    """Unique names mapped to objects, with errors that list the known names.

    Args:
        what: what the entries are, for the error messages (e.g. ``'annotation format'``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: Dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name``; a name can be registered once."""
        if not name or name in self._items:
            raise KeyError(f'{self.what} name {name!r} is empty or already registered')
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The entry ``name``."""
        if name not in self._items:
            raise KeyError(f'unknown {self.what} {name!r}; known: {self.names()}')
        return self._items[name]

    def names(self) -> List[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
