"""Exchanging identity terms in a sentence, keeping each word's capitalisation.

A ``Swapper`` replaces every whole-word occurrence of its terms at once, so "he told her"
with he<->she and her<->his becomes "she told his" in one pass, never "he told his" after a
second rewrite. It also counts, per text, how many of its terms come from each side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from audit.text.identity import normalized, term_pattern


def _cased_like(original: str, replacement: str) -> str:
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@dataclass(frozen=True)
class Swapper:
    """Replaces each term of ``mapping`` by its partner; ``side`` says which side a term is on
    (0 for the first group's terms, 1 for the second's)."""

    mapping: Mapping[str, str]
    side: Mapping[str, int]
    pattern: re.Pattern[str]

    def swap(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            return _cased_like(found, self.mapping[normalized(found)])

        return self.pattern.sub(replace, text)

    def sides(self, text: str) -> tuple[int, int]:
        """How many matches of the first side's terms and of the second side's."""
        counts = [0, 0]
        for match in self.pattern.finditer(text):
            counts[self.side[normalized(match.group(0))]] += 1
        return counts[0], counts[1]


def swapper(pairs: Iterable[tuple[str, str]]) -> Swapper:
    """Each pair exchanges its two terms; a term named by several pairs keeps its first."""
    mapping: dict[str, str] = {}
    side: dict[str, int] = {}
    for first, second in pairs:
        a, b = normalized(first), normalized(second)
        mapping.setdefault(a, b)
        mapping.setdefault(b, a)
        side.setdefault(a, 0)
        side.setdefault(b, 1)
    return Swapper(mapping, side, term_pattern(mapping))
