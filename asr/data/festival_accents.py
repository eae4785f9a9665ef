"""English through festival's voices of other languages: lexicon entries in their own phones.

The six voices of ``FOREIGN_VOICES`` (an Italian woman and man, a Czech woman, a child and two
men) and the three of ``MORE_ACCENTED_FESTIVAL_VOICES`` (a Finnish woman and man, a Spanish man)
say English words once festival's lexicon has an entry for each: the word's dictionary
pronunciation with every ARPAbet phone replaced by the nearest phone of the voice's language
(``FESTIVAL_ACCENTS``), cut into syllables at its vowels with the first one stressed, under a
made-up name (``entry_name``) that the voice's text rules leave alone. festival then times and
intones them as it would its own words. The label is the English phones asked for, as with
MBROLA's and Pico's accented voices.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["FESTIVAL_ACCENTS", "entry_name", "lexicon_entry"]

# The vowels (AA to UW), then the consonants, each line in ARPAbet's order. Italian's and Spanish's
# stressed vowels are written with a 1; Czech and Finnish stress every first syllable.
FESTIVAL_ACCENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "italian": {
        "AA": ("a",), "AE": ("E",), "AH": ("a",), "AO": ("O",), "AW": ("a", "u"), "AY": ("a", "j"), "EH": ("E",),
        "ER": ("E", "r"), "EY": ("e", "j"), "IH": ("i",), "IY": ("i",), "OW": ("o", "w"), "OY": ("O", "j"), "UH": ("u",), "UW": ("u",),
        "B": ("b",), "CH": ("tS",), "D": ("d",), "DH": ("d",), "F": ("f",), "G": ("g",), "HH": (), "JH": ("dZ",), "K": ("k",),
        "L": ("l",), "M": ("m",), "N": ("n",), "NG": ("n", "g"), "P": ("p",), "R": ("r",), "S": ("s",), "SH": ("S",), "T": ("t",),
        "TH": ("t",), "V": ("v",), "W": ("w",), "Y": ("j",), "Z": ("z",), "ZH": ("Z",),
    },
    "czech": {
        "AA": ("a:",), "AE": ("e",), "AH": ("a",), "AO": ("o:",), "AW": ("a", "u"), "AY": ("a", "j"), "EH": ("e",),
        "ER": ("e", "r"), "EY": ("e", "j"), "IH": ("i",), "IY": ("i:",), "OW": ("o", "u"), "OY": ("o", "j"), "UH": ("u",), "UW": ("u:",),
        "B": ("b",), "CH": ("c~",), "D": ("d",), "DH": ("d",), "F": ("f",), "G": ("g",), "HH": ("h",), "JH": ("dz~",), "K": ("k",),
        "L": ("l",), "M": ("m",), "N": ("n",), "NG": ("n", "g"), "P": ("p",), "R": ("r",), "S": ("s",), "SH": ("s~",), "T": ("t",),
        "TH": ("t",), "V": ("v",), "W": ("u",), "Y": ("j",), "Z": ("z",), "ZH": ("z~",),
    },
    "finnish": {  # Suopuhe's voices lack diphones for S, w and & and crash on the last two
        "AA": ("a:",), "AE": ("@",), "AH": ("a",), "AO": ("o:",), "AW": ("a", "u"), "AY": ("a", "i"), "EH": ("e",),
        "ER": ("7", "r"), "EY": ("e", "i"), "IH": ("i",), "IY": ("i:",), "OW": ("o", "u"), "OY": ("o", "i"), "UH": ("u",), "UW": ("u:",),
        "B": ("b",), "CH": ("t", "s"), "D": ("d",), "DH": ("d",), "F": ("f",), "G": ("g",), "HH": ("h",), "JH": ("d", "j"), "K": ("k",),
        "L": ("l",), "M": ("m",), "N": ("n",), "NG": ("N",), "P": ("p",), "R": ("r",), "S": ("s",), "SH": ("s",), "T": ("t",),
        "TH": ("t",), "V": ("v",), "W": ("v",), "Y": ("j",), "Z": ("s",), "ZH": ("s",),
    },
    "spanish": {
        "AA": ("a",), "AE": ("e",), "AH": ("a",), "AO": ("o",), "AW": ("a", "u0"), "AY": ("a", "i0"), "EH": ("e",),
        "ER": ("e", "r"), "EY": ("e", "i0"), "IH": ("i",), "IY": ("i",), "OW": ("o", "u0"), "OY": ("o", "i0"), "UH": ("u",), "UW": ("u",),
        "B": ("b",), "CH": ("ch",), "D": ("d",), "DH": ("d",), "F": ("f",), "G": ("g",), "HH": ("x",), "JH": ("ll",), "K": ("k",),
        "L": ("l",), "M": ("m",), "N": ("n",), "NG": ("n", "g"), "P": ("p",), "R": ("r",), "S": ("s",), "SH": ("ch",), "T": ("t",),
        "TH": ("th",), "V": ("b",), "W": ("u0",), "Y": ("i0",), "Z": ("s",), "ZH": ("ll",),
    },
}  # fmt: skip
"""festival phoneset -> ARPAbet phone (no stress) -> the phones that voice says for it; () where it has none near."""

_ARPABET_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
_STRESS_MARKED = {"italian": {"a", "e", "E", "i", "o", "O", "u"}, "spanish": {"a", "e", "i", "o", "u"}}
"""The phonesets whose stressed vowels are written with a 1, and those vowels."""


def entry_name(index: int) -> str:
    """A made-up word for the ``index``-th word of a sentence: "zaa", "zab", ..., "zaba".

    Letters only, one of them a vowel, which festival's Italian and Czech text rules pass to the
    lexicon unchanged (they spell out a word of consonants). English words themselves would not
    do: the Italian rules merge "you're" into one accented word, the Czech ones split it in three.
    """
    letters = ""
    while True:
        index, digit = divmod(index, 26)
        letters = chr(ord("a") + digit) + letters
        if index == 0:
            return "za" + letters


def lexicon_entry(name: str, phones: Sequence[str], phoneset: str) -> str:
    """The festival expression that adds the word ``name`` said as ``phones`` (ARPAbet) in ``phoneset``'s sounds.

    Each syllable is an English vowel with the consonants before it; consonants after the last
    vowel join the last syllable. The first syllable is stressed (in Italian its vowel also carries
    the mark, as in Spanish). KeyError names an unknown phoneset or phone.
    """
    accent = FESTIVAL_ACCENTS[phoneset]
    syllables: list[list[str]] = [[]]
    for phone in phones:
        syllables[-1] += accent[phone]
        if phone in _ARPABET_VOWELS:
            syllables.append([])
    if len(syllables) > 1 and not set(phones[-1:]) & _ARPABET_VOWELS:
        coda = syllables.pop()
        syllables[-1] += coda  # the consonants after the last vowel join its syllable
    syllables = [syllable for syllable in syllables if syllable]
    if phoneset in _STRESS_MARKED and syllables:
        first = next((i for i, sound in enumerate(syllables[0]) if sound in _STRESS_MARKED[phoneset]), None)
        if first is not None:
            syllables[0][first] += "1"
    written = " ".join(f"(({' '.join(syllable)}) {int(index == 0)})" for index, syllable in enumerate(syllables))
    return f'(lex.add.entry \'("{name}" nil ({written})))'
