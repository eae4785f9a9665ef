"""Sentences to synthesize: quotations from Debian's fortunes, and generated everyday speech.

Each sentence is a pair: what the speech engine is asked to say (with punctuation, for
prosody) and its label (``normalize_text`` of the same words). A sentence is kept only
when an engine would say exactly its label: no digits, symbols, abbreviations or acronyms,
which engines expand in their own ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from num2words import num2words

from asr.tokens import normalize_text

__all__ = ["Sentence", "fortune_sentences", "generated_sentences", "word_list", "FORTUNES_DIR", "WORDS_FILE"]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDS_FILE = Path("/usr/share/dict/american-english")

MIN_WORDS, MAX_WORDS = 3, 24
_SPEAKABLE = re.compile(r"^[A-Za-z ,.;:!?'\"()\-]+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b|\b(?:[A-Za-z]\.){2,}")
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr vs etc co inc ltd no vol ch fig ave mt ft".split())


@dataclass(frozen=True)
class Sentence:
    spoken: str  # given to the speech engine
    text: str  # the label: normalize_text(spoken)


def _speakable(raw: str) -> Sentence | None:
    raw = " ".join(raw.replace("--", ", ").split())
    if not _SPEAKABLE.match(raw) or _ACRONYM.search(raw):
        return None
    words = re.findall(r"[A-Za-z']+(?=\.)", raw)
    if any(word.lower() in _ABBREVIATIONS for word in words):
        return None
    text = normalize_text(raw)
    if not MIN_WORDS <= len(text.split()) <= MAX_WORDS:
        return None
    return Sentence(spoken=raw.replace('"', ""), text=text)


def fortune_sentences(folder: Path = FORTUNES_DIR) -> list[Sentence]:
    """Every speakable sentence in the fortune files (plain-text files without an extension)."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not found; install Debian's 'fortunes' package")
    found: dict[str, Sentence] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.suffix):
        for record in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            if "\t" in record or "  --" in record:  # poems, tables and attributions read badly
                continue
            for raw in _SENTENCE_END.split(record.replace("\n", " ")):
                sentence = _speakable(raw)
                if sentence is not None:
                    found.setdefault(sentence.text, sentence)
    return list(found.values())


def word_list(path: Path = WORDS_FILE) -> tuple[list[str], list[str]]:
    """(common lower-case words, capitalized names) from a Debian word list such as wamerican."""
    if not path.is_file():
        raise ValueError(f"{path}: not found; install Debian's 'wamerican' package")
    words, names = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.isascii() or not line.isalpha() or not 2 <= len(line) <= 12:
            continue
        (names if line[0].isupper() and line[1:].islower() else words if line.islower() else []).append(line)
    return words, names


_MONTHS = "january february march april may june july august september october november december".split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_ROOMS = "kitchen bedroom living room hallway garage office bathroom basement porch".split()
_DEVICES = ["lights", "heating", "fan", "radio", "television", "alarm", "coffee machine", "music", "oven"]
_TEMPLATES = [
    "turn {onoff} the {room} {device}",
    "set a timer for {number} minutes",
    "wake me up at {time} on {day}",
    "call {name} and tell {pronoun} i will be late",
    "what is the weather like in {place} on {day}",
    "remind me to call {name} on the {ordinal} of {month}",
    "my appointment is on {day} the {ordinal} of {month} at {time}",
    "the meeting starts at {time}",
    "please send {number} copies to {name}",
    "how far is it from {place} to {place2}",
    "add {number} {word}s to my shopping list",
    "is {name} coming to dinner on {day}",
    "the train to {place} leaves at {time} from platform {small}",
    "{name} was born in {year}",
    "we need {number} more chairs for the {word} party",
    "play something by {name} in the {room}",
    "how do you spell {word}",
    "the total comes to {number} dollars and {small} cents",
    "i have lived in {place} since {year}",
    "did you see the {word} near the {room} window",
    "my phone number ends in {digits}",
    "it is {number} degrees outside and the wind is strong",
    "{name} and {name2} met in {place} last {month}",
    "the {word} and the {word2} are on the table",
    "can you turn the volume down to {small}",
]


def _number_words(value: float | int, **kwargs: str) -> str:
    return normalize_text(num2words(value, **kwargs).replace("-", " ").replace(",", ""))


def _time_words(rng: np.random.Generator) -> str:
    hour, minute = int(rng.integers(1, 13)), int(rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50]))
    minutes = "o'clock" if minute == 0 else _number_words(minute) if minute >= 10 else f"oh {_number_words(minute)}"
    return f"{_number_words(hour)} {minutes} {rng.choice(['in the morning', 'in the evening', 'at night', ''])}".strip()


def _pick(items: Sequence[str], rng: np.random.Generator) -> str:
    """One item; ``rng.choice`` would copy a 60,000-word list into an array on every call."""
    return items[int(rng.integers(len(items)))]


def _fill(template: str, rng: np.random.Generator, words: list[str], names: list[str]) -> str:
    slots = {
        "onoff": rng.choice(["on", "off"]),
        "room": rng.choice(_ROOMS),
        "device": rng.choice(_DEVICES),
        "number": _number_words(int(rng.integers(2, 1000))),
        "small": _number_words(int(rng.integers(1, 20))),
        "ordinal": _number_words(int(rng.integers(1, 32)), to="ordinal"),
        "year": _number_words(int(rng.integers(1900, 2030)), to="year"),
        "digits": " ".join(_number_words(int(d)) for d in rng.integers(0, 10, size=4)),
        "time": _time_words(rng),
        "day": rng.choice(_DAYS),
        "month": rng.choice(_MONTHS),
        "pronoun": rng.choice(["him", "her", "them"]),
        "name": _pick(names, rng),
        "name2": _pick(names, rng),
        "place": _pick(names, rng),
        "place2": _pick(names, rng),
        "word": _pick(words, rng),
        "word2": _pick(words, rng),
    }
    return template.format(**slots)


def generated_sentences(count: int, seed: int, words: list[str], names: list[str]) -> Iterator[Sentence]:
    """``count`` everyday sentences (commands, numbers, dates, times, names, questions), plus
    random word sequences for pronunciation coverage; the same seed gives the same sentences."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        if rng.random() < 0.2:
            spoken = " ".join(_pick(words, rng) for _ in range(int(rng.integers(MIN_WORDS, 9))))
        else:
            spoken = _fill(str(rng.choice(_TEMPLATES)), rng, words, names)
        yield Sentence(spoken=spoken, text=normalize_text(spoken))
