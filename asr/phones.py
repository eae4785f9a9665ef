"""The phone set of phone-CTC models, and the maps from each synthesizer's phones into it.

The units are the 39 stressless ARPAbet phones of CMUdict plus a word boundary ``|``. Training
targets come from what a synthesizer actually said: espeak-ng and piper report IPA (espeak-ng's
phoneme names, stress marks included), festival and GnuSpeech report their own phone names. Each
is mapped into ARPAbet here, one table per phone notation, so a new accent or engine only adds
table rows.

A phone string is space-separated: ``"DH AH | K W IH K"``, with ``|`` between words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "ARPABET",
    "BOUNDARY",
    "PHONE_TOKENS",
    "ipa_to_arpabet",
    "split_ipa",
    "festival_to_arpabet",
    "FESTIVAL_PHONESETS",
    "FOREIGN_PHONESETS",
    "foreign_to_arpabet",
    "ESPEAK_FOREIGN_LANGUAGES",
    "espeak_foreign_to_arpabet",
    "gnuspeech_to_arpabet",
    "join_words",
    "strip_stress",
]

ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH", "K",
    "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
BOUNDARY = "|"
PHONE_TOKENS: tuple[str, ...] = (BOUNDARY, *ARPABET)  # after the blank, in checkpoint order

# espeak-ng's IPA phoneme names (stress marks removed) as its English voices and piper say them,
# mapped to ARPAbet. Accent vowels go to the nearest General American phone; r-coloured
# and centring vowels keep their r or schwa as said, so a non-rhotic voice is labelled non-rhotic.
_IPA: dict[str, tuple[str, ...]] = {
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "t̪": ("T",), "d": ("D",), "k": ("K",), "ɡ": ("G",), "g": ("G",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",), "ʃ": ("SH",), "ʒ": ("ZH",),
    "h": ("HH",), "x": ("HH",), "ç": ("HH",), "tʃ": ("CH",), "dʒ": ("JH",), "m": ("M",), "n": ("N",), "ŋ": ("NG",),
    "l": ("L",), "ɫ": ("L",), "ɬ": ("L",), "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ʔ": ("T",), "j": ("Y",), "w": ("W",),
    "ʍ": ("W",), "ʲ": (), "n̩": ("AH", "N"), "m̩": ("AH", "M"), "l̩": ("AH", "L"), "əl": ("AH", "L"),
    # monophthongs
    "ɪ": ("IH",), "ᵻ": ("IH",), "ɨ": ("IH",), "i": ("IY",), "iː": ("IY",), "ɛ": ("EH",), "e": ("EH",),
    "æ": ("AE",), "a": ("AE",), "aa": ("AA",), "aː": ("AA",), "a:": ("AA",), "ɑ": ("AA",), "ɑː": ("AA",),
    "ɒ": ("AA",), "ɔ": ("AO",), "ɔː": ("AO",), "ʌ": ("AH",), "ə": ("AH",), "ɐ": ("AH",), "ɜ": ("ER",),
    "ɜː": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",), "ʊ": ("UH",), "u": ("UW",), "uː": ("UW",), "ʉ": ("UW",),
    "ʉː": ("UW",), "o": ("OW",), "oː": ("OW",),
    # diphthongs
    "eɪ": ("EY",), "eː": ("EY",), "ei": ("EY",), "eʲ": ("EY",), "aɪ": ("AY",), "ɑɪ": ("AY",), "əɪ": ("AY",),
    "aʊ": ("AW",), "æʊ": ("AW",), "ɔɪ": ("OY",), "oɪ": ("OY",), "oʊ": ("OW",), "əʊ": ("OW",), "əu": ("OW",),
    "ʌʊ": ("OW",), "ʌʉ": ("OW",), "iə": ("IH", "AH"), "ɪə": ("IH", "AH"), "eə": ("EH", "AH"), "ɛə": ("EH", "AH"),
    "ʊə": ("UH", "AH"), "ɔə": ("AO",), "oə": ("AO",), "ɑə": ("AA",), "aɪə": ("AY", "AH"), "aɪɚ": ("AY", "ER"),
    # r-coloured vowels, as espeak-ng's rhotic accents write them
    "ɑːɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"), "oːɹ": ("AO", "R"), "ɛɹ": ("EH", "R"), "ɪɹ": ("IH", "R"),
    "ʊɹ": ("UH", "R"), "ʉɹ": ("UW", "R"), "ʌɹ": ("ER",), "əɹ": ("ER",),
}  # fmt: skip
_IPA_MARKS = str.maketrans("", "", "ˈˌ.‿")  # primary and secondary stress, syllable and linking marks
# espeak-ng's French nasal vowels in loanwords (croissant k w ˈɑː s ɑ̃): an English speaker says the
# vowel and then an N, as CMUdict writes them (K R AH S AA N T)
_NASALIZED = "\u0303"
_IPA_LONGEST = max(map(len, _IPA))

# festival's phone names: the radio set of its US diphone voices (kal, ked). Pauses map to nothing.
_FESTIVAL: dict[str, tuple[str, ...]] = {
    **{phone.lower(): (phone,) for phone in ARPABET},
    "ax": ("AH",), "axr": ("ER",), "ix": ("IH",), "dx": ("T",), "nx": ("N",), "hv": ("HH",),
    "el": ("AH", "L"), "em": ("AH", "M"), "en": ("AH", "N"), "pau": (), "h#": (), "brth": (), "#": (),
}  # fmt: skip
# The mrpa set of its British diphone voice (rab), non-rhotic: "car" is k aa, so no R is labelled
# where none was said. Vowels go to the nearest General American phone; centring diphthongs keep
# their schwa, as espeak-ng's British voices are labelled (_IPA).
_MRPA: dict[str, tuple[str, ...]] = {
    **{phone: (phone.upper(),) for phone in ("p", "t", "k", "b", "d", "g", "s", "z", "sh", "zh", "f", "v", "th", "dh", "ch", "jh", "m", "n", "ng", "l", "y", "r", "w")},
    "h": ("HH",), "uh": ("AH",), "e": ("EH",), "a": ("AE",), "o": ("AA",), "i": ("IH",), "u": ("UH",), "ii": ("IY",),
    "uu": ("UW",), "oo": ("AO",), "aa": ("AA",), "@@": ("ER",), "ai": ("AY",), "ei": ("EY",), "oi": ("OY",),
    "au": ("AW",), "ou": ("OW",), "e@": ("EH", "AH"), "i@": ("IH", "AH"), "u@": ("UH", "AH"), "@": ("AH",), "#": (),
}  # fmt: skip
FESTIVAL_PHONESETS: dict[str, dict[str, tuple[str, ...]]] = {"radio": _FESTIVAL, "mrpa": _MRPA}


# The phone names (SAMPA-like) of festival's Italian and Czech voices, mapped to the nearest General
# American phone: these voices give the model real vocal tracts that no English voice has (women, a
# child), so their labels are an English listener's hearing of them. Sounds English lacks go to the
# closest sequence (Czech ř to ZH, a palatal stop to T Y); length is not a phoneme of the English set,
# so long vowels and geminates become one phone (``foreign_to_arpabet``). Pauses map to nothing.
FOREIGN_PHONESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "italian": {
        "i": ("IY",), "e": ("EY",), "E": ("EH",), "a": ("AA",), "o": ("OW",), "O": ("AO",), "u": ("UW",),
        **{f"{vowel}1": (arpabet,) for vowel, arpabet in (("i", "IY"), ("e", "EY"), ("E", "EH"), ("a", "AA"), ("o", "OW"), ("O", "AO"), ("u", "UW"))},
        "j": ("Y",), "w": ("W",), "p": ("P",), "t": ("T",), "k": ("K",), "b": ("B",), "d": ("D",), "g": ("G",),
        "f": ("F",), "s": ("S",), "S": ("SH",), "v": ("V",), "z": ("Z",), "Z": ("ZH",), "ts": ("T", "S"),
        "tS": ("CH",), "dz": ("D", "Z"), "dZ": ("JH",), "m": ("M",), "n": ("N",), "J": ("N", "Y"), "ng": ("NG",),
        "nf": ("N",), "l": ("L",), "L": ("L", "Y"), "r": ("R",), "#": (),
    },
    "czech": {
        "a": ("AA",), "a:": ("AA",), "e": ("EH",), "e:": ("EH",), "i": ("IH",), "i:": ("IY",), "o": ("AO",),
        "o:": ("AO",), "u": ("UH",), "u:": ("UW",), "b": ("B",), "c": ("T", "S"), "c~": ("CH",), "ch": ("HH",),
        "d": ("D",), "d~": ("D", "Y"), "dz": ("D", "Z"), "dz~": ("JH",), "f": ("F",), "g": ("G",), "h": ("HH",),
        "j": ("Y",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "n*": ("NG",), "n~": ("N", "Y"),
        "p": ("P",), "r": ("R",), "r~": ("ZH",), "r~*": ("SH",), "s": ("S",), "s~": ("SH",), "t": ("T",),
        "t~": ("T", "Y"), "v": ("V",), "z": ("Z",), "z~": ("ZH",), "#": (), "_": (),
    },
}  # fmt: skip


# espeak-ng's phoneme names in the languages of Asterisk's other prompt sets, beyond its English
# ones (_IPA), as an English listener hears them (as FOREIGN_PHONESETS): the French uvular r and
# Spanish taps and trills as R, front rounded vowels as the nearest English vowel, palatal nasals
# and laterals as N Y and L Y, Spanish lenited stops as the stop, and the pure vowels a and e as
# an English listener hears them in "pasta" and "café" (as FOREIGN_PHONESETS' Italian). espeak-ng
# writes "y" for French [y] and for Russian ы, which sound apart.
_ESPEAK_FOREIGN: dict[str, tuple[str, ...]] = {
    "a": ("AA",), "e": ("EY",),
    "ʁ": ("R",), "ɾ": ("R",), "œ": ("ER",), "ø": ("ER",), "ɵ": ("UH",), "ɲ": ("N", "Y"), "ʎ": ("L", "Y"),
    "β": ("B",), "ɣ": ("G",), "ʝ": ("Y",), "ts": ("T", "S"), "dz": ("D", "Z"), "ss": ("S",), "d̪": ("D",),
    "ɭ": ("L",), "ɕ": ("SH",), "ʑ": ("ZH",), "ja": ("Y", "AA"), "ju": ("Y", "UW"),
}  # fmt: skip
_ESPEAK_Y = {"fr": ("UW",), "ru": ("IH",), "es": ("IY",), "it": ("IY",)}
ESPEAK_FOREIGN_LANGUAGES = tuple(_ESPEAK_Y)
# length, palatalization, and espeak-ng's elision and unstressed marks: not phonemes of the English set
_ESPEAK_FOREIGN_MARKS = str.maketrans("", "", "ːʲ-^\"")


def espeak_foreign_to_arpabet(language: str, names: Iterable[str]) -> list[str]:
    """One word's espeak-ng IPA phoneme names in ``language`` (``ESPEAK_FOREIGN_LANGUAGES``) -> ARPAbet.

    espeak-ng's language switches ("(en)") are skipped; a phone repeated within the word (a
    geminate) is kept once; a nasal vowel becomes the vowel and N. ValueError names an unknown
    language or phoneme.
    """
    if language not in _ESPEAK_Y:
        raise ValueError(f"no phone map for espeak-ng language {language!r}; known: {', '.join(ESPEAK_FOREIGN_LANGUAGES)}")
    table = {**_IPA, **_ESPEAK_FOREIGN, "y": _ESPEAK_Y[language]}
    phones: list[str] = []
    for name in names:
        if name.startswith("("):
            continue
        bare = name.translate(_IPA_MARKS).translate(_ESPEAK_FOREIGN_MARKS)
        nasalized = _NASALIZED in bare
        bare = bare.replace(_NASALIZED, "")
        if not bare:
            continue
        if bare not in table:
            raise ValueError(f"unknown espeak-ng {language} phoneme {name!r}; add it to asr/phones.py")
        for phone in table[bare] + (("N",) if nasalized else ()):
            if phones[-1:] != [phone]:
                phones.append(phone)
    return phones

# GnuSpeech's postures (its monet.xml; RP-based, with r written where a rhotic speaker says it).
# Diphthongs are written as two postures; silences and closures map to nothing.
_GNUSPEECH_PAIRS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ah", "i"): ("AY",), ("ah", "uu"): ("AW",), ("aa", "u"): ("AW",), ("e", "i"): ("EY",), ("o", "i"): ("OY",),
    ("uh", "uu"): ("OW",), ("er", "r"): ("ER",), ("uh", "r"): ("ER",),
}  # fmt: skip
_GNUSPEECH: dict[str, tuple[str, ...]] = {
    **{phone.lower(): (phone,) for phone in ARPABET if phone not in ("AA", "AH", "AO", "AW", "AY", "ER", "EY", "OW", "OY", "UH", "UW")},
    "aa": ("AE",), "a": ("AH",), "ah": ("AA",), "ar": ("AA",), "aw": ("AO",), "e": ("EH",), "ee": ("IY",),
    "er": ("ER",), "i": ("IH",), "o": ("AA",), "u": ("UH",), "uh": ("AH",), "uu": ("UW",), "an": ("AA",),
    "in": ("IH",), "on": ("AA",), "un": ("AH",), "ov": ("OW",), "oh": ("OW",), "h": ("HH",), "j": ("JH",), "ll": ("L",),
    "hv": ("HH",), "hh": ("HH",), "x": ("HH",), "bx": ("B",), "dx": ("D",), "gs": ("G",), "kx": ("K",),
    "px": ("P",), "tx": ("T",), "ph": ("P",), "ls": ("L",), "rr": ("R",),
    **{silence: () for silence in ("q", "qc", "qk", "qp", "qs", "qt", "qz", "#", "^")},
}  # fmt: skip
_VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"))


def strip_stress(phone: str) -> str:
    """CMUdict's ``AH0`` -> ``AH``."""
    return phone.rstrip("012")


def split_ipa(word: str) -> list[str]:
    """An unseparated IPA word (as piper reports it) -> espeak-ng phoneme names, longest match first.

    ValueError names the first symbol that no known phoneme starts with.
    """
    word = word.translate(_IPA_MARKS)
    names, position = [], 0
    while position < len(word):
        for length in range(min(_IPA_LONGEST, len(word) - position), 0, -1):
            if word[position : position + length] in _IPA:
                names.append(word[position : position + length])
                position += length
                break
        else:
            raise ValueError(f"unknown IPA symbol {word[position]!r} (U+{ord(word[position]):04X}) in {word!r}")
    return names


def ipa_to_arpabet(names: Iterable[str]) -> list[str]:
    """espeak-ng IPA phoneme names of one word (stress marks allowed) -> ARPAbet phones.

    A name outside the table (espeak-ng sometimes writes a doubled vowel as one) is split into
    known names, longest first; ValueError if that fails too. An r right after ER is dropped, as
    CMUdict writes it, and a nasal vowel becomes the vowel and N.
    """
    phones: list[str] = []
    for name in names:
        bare = name.translate(_IPA_MARKS)
        nasalized = _NASALIZED in bare
        bare = bare.replace(_NASALIZED, "")
        for part in [bare] if bare in _IPA or not bare else split_ipa(bare):
            for phone in _IPA.get(part, ()):
                # espeak-ng writes an r after an r-coloured vowel before a vowel ("hurry" hˈɜːɹi, the
                # linking r of "figure of" fˈɪɡjɚɹ ʌv); CMUdict's ER already holds it (HH ER IY)
                if not (phone == "R" and phones[-1:] == ["ER"]):
                    phones.append(phone)
        if nasalized:
            phones.append("N")
    return phones


def festival_to_arpabet(names: Iterable[str], phoneset: str = "radio") -> list[str]:
    """festival phone names of an English voice's ``phoneset`` (``FESTIVAL_PHONESETS``) -> ARPAbet phones (pauses dropped)."""
    table = FESTIVAL_PHONESETS[phoneset]
    phones: list[str] = []
    for name in names:
        if name not in table:
            raise ValueError(f"unknown festival {phoneset} phone {name!r}; add it to asr/phones.py")
        phones.extend(table[name])
    return phones


def foreign_to_arpabet(phoneset: str, names: Iterable[str]) -> list[str]:
    """One word's phones in a foreign festival phoneset (``FOREIGN_PHONESETS``) -> ARPAbet.

    A phone repeated within the word (a geminate, or a long vowel said as two) is kept once.
    ValueError names an unknown phoneset or phone.
    """
    if phoneset not in FOREIGN_PHONESETS:
        raise ValueError(f"unknown foreign phoneset {phoneset!r}; known: {sorted(FOREIGN_PHONESETS)}")
    table, phones = FOREIGN_PHONESETS[phoneset], []
    for name in names:
        if name not in table:
            raise ValueError(f"unknown {phoneset} phone {name!r}; add it to asr/phones.py")
        for phone in table[name]:
            if phones[-1:] != [phone]:
                phones.append(phone)
    return phones


def gnuspeech_to_arpabet(syllables: Iterable[Sequence[str]]) -> list[str]:
    """GnuSpeech postures of one word, grouped by syllable (marked ``'`` variants allowed) -> ARPAbet.

    A syllable without a vowel whose nucleus is the dark l (``l_i.t_ll``) gets a schwa: AH L.
    """
    phones: list[str] = []
    for syllable in syllables:
        names = [name.rstrip("'") for name in syllable]
        mapped: list[str] = []
        index = 0
        while index < len(names):
            pair = tuple(names[index : index + 2])
            if pair in _GNUSPEECH_PAIRS and (pair[1] != "r" or pair[0] == "er" or index + 2 == len(names)):
                mapped.extend(_GNUSPEECH_PAIRS[pair])  # an r-coloured schwa only where the r ends the syllable
                index += 2
                continue
            if names[index] not in _GNUSPEECH:
                raise ValueError(f"unknown GnuSpeech posture {names[index]!r}; add it to asr/phones.py")
            mapped.extend(_GNUSPEECH[names[index]])
            index += 1
        if "ll" in names and not _VOWELS & set(mapped):
            at = mapped.index("L")
            mapped[at:at] = ["AH"]
        phones.extend(mapped)
    return phones


def join_words(words: Sequence[Sequence[str]]) -> str:
    """Per-word phone lists -> one phone string with ``|`` between words (empty words dropped)."""
    return f" {BOUNDARY} ".join(" ".join(word) for word in words if word)
