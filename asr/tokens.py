"""The character vocabulary and the one text normalization used by training and evaluation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["BLANK", "DEFAULT_TOKENS", "Tokenizer", "normalize_text"]

BLANK = "<blank>"
DEFAULT_TOKENS: tuple[str, ...] = (BLANK, " ", "'", *"abcdefghijklmnopqrstuvwxyz")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'"})
_OUTSIDE_VOCAB = re.compile(r"[^a-z' ]+")
_EDGE_APOSTROPHES = re.compile(r"(?<![a-z])'+|'+(?![a-z])")


def normalize_text(text: str) -> str:
    """Lower-case, strip accents, keep only a-z, apostrophes inside words, and single spaces.

    >>> normalize_text("  Don’t STOP—Café 'quoted' ")
    "don't stop cafe quoted"
    """
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _OUTSIDE_VOCAB.sub(" ", text)
    text = _EDGE_APOSTROPHES.sub(" ", text)
    return " ".join(text.split())


class Tokenizer:
    """Maps characters to ids and back; id 0 is the CTC blank."""

    def __init__(self, tokens: Sequence[str] = DEFAULT_TOKENS) -> None:
        tokens = tuple(tokens)
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"the first token must be {BLANK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must be unique")
        if any(len(token) != 1 for token in tokens[1:]):
            raise ValueError("every token but the blank must be a single character")
        self.tokens = tokens
        self._ids = {token: index for index, token in enumerate(tokens)}
        self.space_id = self._ids.get(" ")

    @property
    def blank_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Normalized text -> ids; characters outside the vocabulary raise ValueError."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Ids (blank-free) -> text."""
        return "".join(self.tokens[i] for i in ids)
