"""The model's units (characters or phones) and the one text normalization used by training and evaluation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from asr.phones import BOUNDARY, PHONE_TOKENS

__all__ = ["BLANK", "CHARACTERS", "PHONES", "UNITS", "DEFAULT_TOKENS", "PHONE_MODEL_TOKENS", "Tokenizer", "normalize_text"]

BLANK = "<blank>"
CHARACTERS, PHONES = "characters", "phones"
UNITS = (CHARACTERS, PHONES)
DEFAULT_TOKENS: tuple[str, ...] = (BLANK, " ", "'", *"abcdefghijklmnopqrstuvwxyz")
PHONE_MODEL_TOKENS: tuple[str, ...] = (BLANK, *PHONE_TOKENS)

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
    """Maps a model's units to ids and back; id 0 is the CTC blank.

    Character models spell text: each character is a token and a space separates words.
    Phone models read phone strings (``"DH AH | K W IH K"``): each space-separated phone is a
    token and ``|`` separates words.
    """

    def __init__(self, tokens: Sequence[str] = DEFAULT_TOKENS, units: str = CHARACTERS) -> None:
        tokens = tuple(tokens)
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"the first token must be {BLANK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must be unique")
        if units == CHARACTERS and any(len(token) != 1 for token in tokens[1:]):
            raise ValueError("every character token but the blank must be a single character")
        if units == PHONES and (BOUNDARY not in tokens or any(not token or " " in token for token in tokens)):
            raise ValueError(f"phone tokens must include the word boundary {BOUNDARY!r} and contain no spaces")
        self.tokens, self.units = tokens, units
        self._ids = {token: index for index, token in enumerate(tokens)}
        self.separator = " " if units == CHARACTERS else BOUNDARY
        self.separator_id = self._ids.get(self.separator)

    @classmethod
    def for_units(cls, units: str) -> Tokenizer:
        """The standard token set of ``units``: 26 letters, space and apostrophe; or 39 ARPAbet phones and ``|``."""
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        return cls(DEFAULT_TOKENS if units == CHARACTERS else PHONE_MODEL_TOKENS, units)

    @property
    def blank_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, labels: str) -> list[str]:
        """A label string -> its tokens: characters, or space-separated phones."""
        return list(labels) if self.units == CHARACTERS else labels.split()

    def encode(self, labels: str) -> list[int]:
        """Labels (normalized text, or a phone string) -> ids; a unit outside the vocabulary raises ValueError."""
        try:
            return [self._ids[token] for token in self.split(labels)]
        except KeyError as error:
            raise ValueError(f"{self.units[:-1]} {error.args[0]!r} is not in the vocabulary") from None

    def collapse(self, path: Sequence[int]) -> list[int]:
        """A CTC path's ids, one per step -> its token ids: repeats merged, then blanks dropped."""
        return [token for step, token in enumerate(path) if token != self.blank_id and (step == 0 or token != path[step - 1])]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids (blank-free) -> labels: text for characters, a phone string for phones."""
        joiner = "" if self.units == CHARACTERS else " "
        return joiner.join(self.tokens[i] for i in ids)
