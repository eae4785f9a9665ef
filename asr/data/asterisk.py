"""Debian's Asterisk phone prompts as training manifests: real people reading short sentences.

Asterisk's core sound sets are studio recordings of one speaker each, with a transcript file
(``name: text`` lines). Debian packs each language's recordings twice: 8 kHz telephone audio
(``asterisk-core-sounds-XX-wav``) and 16 kHz G.722 (``asterisk-core-sounds-XX-g722``), which
keeps the band up to 7 kHz that wideband speech has. The English set is labelled from the
lexicon at training time like any English text; the other languages' sets give the model more
real vocal tracts (a French-Canadian woman, an Italian man, a Russian woman) and carry phone
labels from espeak-ng's pronunciation of their own language, mapped into the English phone set
(``asr.phones.espeak_foreign_to_arpabet``). Measured once, at about 14% of the training hours, they
did not gain (en-phone-v25's card).
"""

from __future__ import annotations

import gzip
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from asr.audio import AudioError
from asr.data.importers import header_duration
from asr.data.manifest import ManifestEntry
from asr.lexicon import espeak_ipa_lines
from asr.phones import espeak_foreign_to_arpabet, join_words
from asr.tokens import normalize_text

__all__ = ["AsteriskVoice", "ASTERISK_VOICES", "ASTERISK_SOUNDS", "import_asterisk_prompts", "decode_g722"]

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")


@dataclass(frozen=True)
class AsteriskVoice:
    """One language's core sound set: where Debian installs it and who reads it."""

    language: str  # Asterisk's and Debian's language code, and espeak-ng's voice for the phone labels
    folder: str  # under ASTERISK_SOUNDS
    speaker: str  # the manifest voice is "asterisk:<speaker>"

    @property
    def root(self) -> Path:
        return ASTERISK_SOUNDS / self.folder

    @property
    def transcripts(self) -> Path:
        """asterisk-core-sounds-XX's transcript file."""
        return Path(f"/usr/share/doc/asterisk-core-sounds-{self.language}/core-sounds-{self.language}.txt.gz")


ASTERISK_VOICES: dict[str, AsteriskVoice] = {
    voice.language: voice
    for voice in (
        AsteriskVoice("en", "en_US_f_Allison", "allison"),
        AsteriskVoice("es", "es_MX_f_Allison", "allison-es"),  # the English set's reader, in Spanish
        AsteriskVoice("fr", "fr_CA_f_June", "june"),
        AsteriskVoice("it", "it_IT_m_Carlo", "carlo"),
        AsteriskVoice("ru", "ru_RU_f_IvrvoiceRU", "ivrvoice-ru"),
    )
}

_LINE = re.compile(r"^\ufeff?([\w-]+(?:/[\w-]+)*):\s*(.*?)\s*$")  # "digits/7: seven"; ";" starts a comment
_NOTE = re.compile(r"\[[^\]]*\]")  # "[beep]", "dash [-]": a sound or a written form, not words
_UNSAID = re.compile(r"[^\w\s.,;:!?'\"’«»-]|\d\d\d|1[1-9]|[2-9]\d")  # symbols, and numbers past ten
_DIGITS = re.compile(r"\d+")
_SPOKEN_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# Russian transcripts in Latin letters (the manifest's text is a-z; the labels are the phones)
_CYRILLIC = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
})  # fmt: skip
G722_RATE = 16_000
G722_BITRATE = 64_000  # Asterisk's .g722 files: raw 64 kbit/s G.722, no header


def import_asterisk_prompts(
    root: str | Path | None = None, transcripts: str | Path | None = None, language: str = "en", wideband_to: str | Path | None = None
) -> list[ManifestEntry]:
    """One language's Asterisk prompts (``ASTERISK_VOICES``) as manifest entries, sorted by audio path.

    ``root`` and ``transcripts`` default to where Debian installs that language's set. Prompts
    whose transcript is a sound ("[beep]"), or holds a symbol or number the speaker may read
    several ways, are left out, as are transcripts without a recording; English digits up to ten
    are spelled out, other languages' prompts with digits are left out. Without ``wideband_to``
    the entries are the 8 kHz ``.wav`` recordings, condition "telephone"; with it, each prompt's
    16 kHz ``.g722`` recording is decoded into a FLAC file under that folder (the prompt's name
    as its path), condition "clean". Non-English entries carry phone labels (a prompt that leaves
    no letters or phones is left out). ValueError names a missing file or language.
    """
    if language not in ASTERISK_VOICES:
        raise ValueError(f"no Asterisk prompt set for language {language!r}; known: {', '.join(ASTERISK_VOICES)}")
    voice = ASTERISK_VOICES[language]
    root = Path(root) if root is not None else voice.root
    transcripts = Path(transcripts) if transcripts is not None else voice.transcripts
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder; install Debian's 'asterisk-core-sounds-{language}-{'g722' if wideband_to else 'wav'}'")
    extension = ".g722" if wideband_to is not None else ".wav"
    prompts = {
        name: spoken
        for name, transcript in _read_transcripts(transcripts, language).items()
        if (spoken := _spoken_prompt(transcript, language)) and (root / f"{name}{extension}").is_file()
    }
    if not prompts:
        raise ValueError(f"{transcripts}: no transcribed prompt has a {extension} recording under {root}")
    phones = _phone_labels(prompts, language) if language != "en" else {}
    entries = []
    for name, text in prompts.items():
        words = text if language == "en" else normalize_text(text.lower().translate(_CYRILLIC))
        if not words or (language != "en" and not phones[name]):
            continue  # nothing left to label it with
        if wideband_to is not None:
            audio, condition = Path(wideband_to) / f"{name}.flac", "clean"
            samples = decode_g722(root / f"{name}{extension}")
            audio.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(audio), samples, G722_RATE)
            duration = len(samples) / G722_RATE
        else:
            audio, condition = root / f"{name}{extension}", "telephone"
            duration = header_duration(audio)
        entries.append(ManifestEntry(audio, words, round(duration, 3), condition, f"asterisk:{voice.speaker}", phones.get(name)))
    return sorted(entries, key=lambda entry: entry.audio)


def decode_g722(path: Path) -> np.ndarray:
    """A raw 64 kbit/s G.722 file -> float32 samples at 16 kHz, shape (samples,). AudioError names the file."""
    import G722  # PyPI 'G722' (Sippy's libg722, public domain)

    data = path.read_bytes()
    if not data:
        raise AudioError(f"{path}: contains no audio samples")
    pcm = G722.G722(G722_RATE, G722_BITRATE).decode(data)
    return np.frombuffer(array("h", pcm).tobytes(), dtype=np.int16).astype(np.float32) / 32768.0


def _read_transcripts(path: Path, language: str) -> dict[str, str]:
    """The ``name: text`` lines of a transcript file (gzipped or not)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise ValueError(f"{path}: cannot read ({error}); install Debian's 'asterisk-core-sounds-{language}'") from None
    return {match.group(1): match.group(2) for line in lines if (match := _LINE.match(line))}


def _spoken_prompt(transcript: str, language: str) -> str:
    """A prompt's words as spoken, normalized for English (other languages keep their letters); ""
    when the transcript does not say exactly what is heard."""
    transcript = _NOTE.sub(" ", transcript).strip()
    if not transcript or _UNSAID.search(transcript):
        return ""
    if language != "en":
        return "" if _DIGITS.search(transcript) else transcript
    return normalize_text(_DIGITS.sub(lambda digits: _SPOKEN_NUMBERS[int(digits.group())], transcript))


def _phone_labels(prompts: dict[str, str], language: str) -> dict[str, str]:
    """Each prompt's phone string, from espeak-ng's pronunciation in ``language`` (one process for all)."""
    lines = espeak_ipa_lines([f"{text}." for text in prompts.values()], language)
    labels = {}
    for name, line in zip(prompts, lines):
        try:
            labels[name] = join_words([espeak_foreign_to_arpabet(language, word.split("_")) for word in line.split()])
        except ValueError as error:
            raise ValueError(f"prompt {name!r} ({prompts[name]!r}): {error}") from None
    return labels
