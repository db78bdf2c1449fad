"""In-memory LRU cache of translations: the same text and language pair is translated once.

Entries remember which conversations asked for them, so erasing a conversation (retention)
also drops the user texts it put here.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

Key = tuple[str, str, str]  # text, source, target


@dataclass
class Entry:
    translation: str
    owners: set[str] = field(default_factory=set)


class TranslationCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_translate(self, key: Key, translate: Callable[[], str], owner: str | None = None) -> str:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
                self.hits += 1
                entry.owners.update([owner] if owner else [])
                return entry.translation
            self.misses += 1
        translation = translate()  # outside the lock: inference takes a while, other pairs need not wait
        with self.lock:
            entry = self.entries.setdefault(key, Entry(translation))
            entry.owners.update([owner] if owner else [])
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return translation

    def forget(self, owner: str) -> None:
        """Drops every entry the conversation `owner` asked for."""
        with self.lock:
            for key in [key for key, entry in self.entries.items() if owner in entry.owners]:
                del self.entries[key]

    def __len__(self) -> int:
        return len(self.entries)
