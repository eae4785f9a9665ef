"""Phone labels for training: what a synthesizer said, split at the label's word boundaries.

A synthesizer reports its phones grouped into its own words, which are not always the label's:
espeak-ng (and piper, which phonemizes with it) says "of the" and "in the" as one word. The
lexicon decoder spells every word with a trailing boundary, so the model must learn a boundary
between every two words of the label. ``align_words`` finds, by dynamic programming over edit
distances to each word's dictionary pronunciations, which spoken words cover which label words,
and where a spoken word that covers several label words splits.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

from asr.lexicon import Pronunciation, pronounce

__all__ = ["align_words", "pronounceable", "MAX_MERGED", "MAX_PHONE_ERROR_RATE"]

MAX_MERGED = 3  # a spoken word may cover up to this many label words, and a label word up to this many spoken words
MAX_PHONE_ERROR_RATE = 0.6  # an utterance whose spoken phones differ more from the dictionary's is refused

Pronouncer = Callable[[str], Sequence[Pronunciation]]


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def align_words(spoken: Sequence[Sequence[str]], words: Sequence[str], pronounce: Pronouncer) -> list[list[str]] | None:
    """Re-cut ``spoken`` (phones per spoken word) into one phone list per label word.

    ``pronounce(word)`` gives a label word's dictionary pronunciations, used only to decide the
    cuts. Returns None when the speech strays too far from the dictionary to trust the cut
    (more than ``MAX_PHONE_ERROR_RATE`` edits per dictionary phone), e.g. when the synthesizer
    read something other than the label.
    """
    spoken = [list(word) for word in spoken if word]
    if len(spoken) == len(words) and len(words) <= 1:
        return spoken
    options = [list(pronounce(word)) for word in words]
    cost = functools.cache(lambda i, j, di, dj: _group_cost(spoken[i : i + di], options[j : j + dj]))
    inf = float("inf")
    best: dict[tuple[int, int], tuple[float, tuple[int, int] | None]] = {(0, 0): (0.0, None)}
    for i, j in itertools.product(range(len(spoken) + 1), range(len(words) + 1)):
        if (i, j) not in best:
            continue
        for di, dj in _moves():
            if i + di <= len(spoken) and j + dj <= len(words):
                total = best[(i, j)][0] + cost(i, j, di, dj)[0]
                if total < best.get((i + di, j + dj), (inf, None))[0]:
                    best[(i + di, j + dj)] = (total, (di, dj))
    end = (len(spoken), len(words))
    if end not in best:
        return None
    reference_phones = sum(min(len(p) for p in option) for option in options)
    if best[end][0] > MAX_PHONE_ERROR_RATE * max(1, reference_phones):
        return None
    result: list[list[str]] = []
    i, j = end
    while (i, j) != (0, 0):
        di, dj = best[(i, j)][1]
        i, j = i - di, j - dj
        result[:0] = cost(i, j, di, dj)[1]
    return result


def _moves() -> list[tuple[int, int]]:
    """(spoken words, label words) a step may take: one to one, one spoken to many, many to one."""
    return [(1, 1)] + [(1, n) for n in range(2, MAX_MERGED + 1)] + [(n, 1) for n in range(2, MAX_MERGED + 1)]


def _group_cost(spoken: Sequence[Sequence[str]], options: Sequence[Sequence[Pronunciation]]) -> tuple[float, list[list[str]]]:
    """The edit cost of saying ``options``' words as ``spoken``, and the spoken phones cut per label word."""
    phones = [phone for word in spoken for phone in word]
    if len(options) == 1:
        return min(_edit_distance(phones, p) for p in options[0]), [phones]
    best: tuple[float, list[list[str]]] = (float("inf"), [])
    for cuts in itertools.combinations(range(1, len(phones)), len(options) - 1):
        pieces = [phones[a:b] for a, b in zip((0, *cuts), (*cuts, len(phones)))]
        total = sum(min(_edit_distance(piece, p) for p in option) for piece, option in zip(pieces, options))
        if total < best[0]:
            best = (total, pieces)
    return best


def pronounceable(words: set[str]) -> dict[str, tuple[Pronunciation, ...]]:
    """Dictionary pronunciations of the words that CMUdict or espeak-ng can pronounce (the rest are left out)."""
    try:
        return pronounce(sorted(words))
    except ValueError:  # one odd word: pronounce them one by one, keeping the rest
        found = {}
        for word in sorted(words):
            try:
                found |= pronounce([word])
            except ValueError:
                continue
        return found
