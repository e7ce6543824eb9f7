"""Counts in words for what a person reads: "1 week", "2 weeks", "1,024 rows"."""

from __future__ import annotations


def count(n: int | float, word: str, plural: str | None = None) -> str:
    """`n` and `word`, in the plural unless `n` is 1 (`plural` where adding "s" is wrong)."""
    number = f"{n:,}" if isinstance(n, int) else f"{n:,.0f}"
    return f"{number} {word if n == 1 else plural or word + 's'}"
