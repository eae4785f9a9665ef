"""English through SVOX Pico's German, French, Italian and Spanish women: X-SAMPA phoneme markup.

Pico reads ``<phoneme alphabet="xsampa" ph="..."/>`` in any of its languages, but each voice says
only its own language's phones and silently drops the rest. ``PICO_ACCENTS`` therefore maps every
ARPAbet phone to the nearest sound each voice has (German "d" for DH, Spanish "x" for HH, nothing
where a language has no near sound, as French and Italian have no h), which is how a speaker of
that language would say the English word. The label stays the English phones that were asked for,
as with MBROLA's accented voices: four more real vocal tracts, at the cost of an accent.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["PICO_ACCENTS", "accented_markup"]

# The vowels (AA to UW), then the consonants, each line in ARPAbet's order.
PICO_ACCENTS: dict[str, dict[str, str]] = {
    "de-DE": {
        "AA": "a:", "AE": "E", "AH": "a", "AO": "O:", "AW": "aU", "AY": "aI", "EH": "E", "ER": "9 6", "EY": "eI",
        "IH": "I", "IY": "i:", "OW": "@U", "OY": "OI", "UH": "U", "UW": "u:",
        "B": "b", "CH": "tS", "D": "d", "DH": "d", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k", "L": "l",
        "M": "m", "N": "n", "NG": "N", "P": "p", "R": "R", "S": "s", "SH": "S", "T": "t", "TH": "s", "V": "v",
        "W": "u", "Y": "j", "Z": "z", "ZH": "Z",
    },
    "fr-FR": {
        "AA": "a", "AE": "E", "AH": "9", "AO": "O", "AW": "a u", "AY": "a j", "EH": "E", "ER": "9 R", "EY": "e",
        "IH": "i", "IY": "i", "OW": "o", "OY": "O j", "UH": "u", "UW": "u",
        "B": "b", "CH": "tS", "D": "d", "DH": "z", "F": "f", "G": "g", "HH": "", "JH": "dZ", "K": "k", "L": "l",
        "M": "m", "N": "n", "NG": "N", "P": "p", "R": "R", "S": "s", "SH": "S", "T": "t", "TH": "s", "V": "v",
        "W": "w", "Y": "j", "Z": "z", "ZH": "Z",
    },
    "it-IT": {
        "AA": "a", "AE": "E", "AH": "a", "AO": "O", "AW": "a u", "AY": "a i", "EH": "E", "ER": "e r", "EY": "e i",
        "IH": "i", "IY": "i", "OW": "o", "OY": "O i", "UH": "u", "UW": "u",
        "B": "b", "CH": "tS", "D": "d", "DH": "d", "F": "f", "G": "g", "HH": "", "JH": "dZ", "K": "k", "L": "l",
        "M": "m", "N": "n", "NG": "n g", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t", "TH": "t", "V": "v",
        "W": "u", "Y": "i", "Z": "z", "ZH": "dZ",
    },
    "es-ES": {
        "AA": "a", "AE": "e", "AH": "a", "AO": "o", "AW": "a u", "AY": "a i", "EH": "e", "ER": "e r", "EY": "e i",
        "IH": "i", "IY": "i", "OW": "o", "OY": "o i", "UH": "u", "UW": "u",
        "B": "b", "CH": "tS", "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "x", "JH": "dZ", "K": "k", "L": "l",
        "M": "m", "N": "n", "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "tS", "T": "t", "TH": "T", "V": "b",
        "W": "u", "Y": "j", "Z": "s", "ZH": "j",
    },
}  # fmt: skip
"""ARPAbet phone (no stress) -> the language's X-SAMPA, space-separated; "" where it has no near sound."""


def accented_markup(language: str, words: Sequence[Sequence[str]], speed: int = 100, pitch: int = 100) -> str:
    """Pico markup that has the ``language`` voice say ``words`` (ARPAbet phones per word) at
    ``speed`` and ``pitch`` percent: one phoneme element per word, so the words keep
    their own stress and the pauses between them. KeyError names an unknown language or phone.
    """
    accent = PICO_ACCENTS[language]
    elements = []
    for phones in words:
        sounds = " ".join(sound for phone in phones if (sound := accent[phone]))
        elements.append(f'<phoneme alphabet="xsampa" ph="{html.escape(sounds)}"/>')
    return f"<speed level='{speed}'><pitch level='{pitch}'>{' '.join(elements)}</pitch></speed>"
