"""GnuSpeech, an articulatory synthesizer: new speakers from continuous vocal-tract settings.

GnuSpeech models the vocal tract as a tube driven by a glottal pulse, so a speaker is a set of
numbers: tract length, glottal pulse shape, breathiness, reference pitch, mouth and nose
radiation. ``sample_speaker`` draws a new one per utterance from ranges that stay intelligible
(male, female and child tracts). The engine is npm's ``@echogarden/gnuspeech-wasm`` under
Node.js, driven by ``scripts/gnuspeech/say.mjs``; ``scripts/setup.sh`` installs both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from asr.phones import gnuspeech_to_arpabet

__all__ = ["GNUSPEECH_DIR", "gnuspeech_installed", "sample_speaker", "GnuSpeech", "spoken_words"]

GNUSPEECH_DIR = Path(__file__).resolve().parents[2] / "scripts" / "gnuspeech"
# (tract length cm, reference pitch in semitones from middle C) per kind of speaker, and how often each is drawn
_SPEAKER_KINDS = {"male": ((15.5, 19.0), (-16.0, -8.0), 0.45), "female": ((13.5, 16.0), (-4.0, 4.0), 0.45), "child": ((10.5, 13.0), (2.0, 8.0), 0.10)}


def gnuspeech_installed() -> bool:
    return (GNUSPEECH_DIR / "node_modules" / "@echogarden" / "gnuspeech-wasm" / "package.json").exists()


def sample_speaker(rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """A new GnuSpeech speaker and speaking style: {"voice": {...}, "control": {...}, "trm": {...}}."""
    kinds = list(_SPEAKER_KINDS)
    kind = kinds[int(rng.choice(len(kinds), p=[weight for *_, weight in _SPEAKER_KINDS.values()]))]
    (tract_low, tract_high), (pitch_low, pitch_high), _ = _SPEAKER_KINDS[kind]
    tp = rng.uniform(30, 50)
    tn_min = rng.uniform(16, 34)
    tn_max = min(rng.uniform(tn_min, 40), 99 - tp)
    voice = {
        "vocal_tract_length": rng.uniform(tract_low, tract_high),
        "reference_glottal_pitch": rng.uniform(pitch_low, pitch_high),
        "glottal_pulse_tp": tp,
        "glottal_pulse_tn_min": tn_min,
        "glottal_pulse_tn_max": tn_max,
        "breathiness": rng.uniform(0, 5),
        "aperture_radius": rng.uniform(2.5, 4.5),
        "global_nose_radius_coef": rng.uniform(0.7, 1.3),
    }
    control = {"tempo": rng.uniform(0.8, 1.25), "drift_deviation": rng.uniform(0.2, 1.5), "tonic_range": rng.uniform(-10, -5), "notional_pitch": rng.uniform(0, 4)}
    trm = {"mouth_coefficient": rng.uniform(3500, 7000), "nose_coefficient": rng.uniform(3500, 8000), "throat_volume": rng.uniform(3, 10)}
    return {part: {key: round(float(value), 3) for key, value in values.items()} for part, values in (("voice", voice), ("control", control), ("trm", trm))}


def spoken_words(phonetic: str) -> list[list[str]]:
    """GnuSpeech's phonetic string -> ARPAbet phones per word (``/w`` starts a word; ``.`` a syllable)."""
    words = []
    for part in phonetic.split("/w")[1:]:
        syllables: list[list[str]] = [[]]
        for token in part.split():
            token = token.replace("/_", "").replace("/*", "").replace('/"', "")
            if not token or token.startswith("/") or token in ("#", "^"):
                continue
            for index, syllable in enumerate(token.split(".")):
                if index:
                    syllables.append([])
                syllables[-1].extend(name for name in syllable.split("_") if name)
        phones = gnuspeech_to_arpabet(s for s in syllables if s)
        if phones:
            words.append(phones)
    return words


class GnuSpeech:
    """One GnuSpeech process for many utterances (it takes ~0.3 s to start)."""

    def __enter__(self) -> GnuSpeech:
        if not gnuspeech_installed():
            raise ValueError(f"GnuSpeech is not installed in {GNUSPEECH_DIR}; run scripts/setup.sh")
        try:
            self._process = subprocess.Popen(
                ["node", str(GNUSPEECH_DIR / "say.mjs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=GNUSPEECH_DIR
            )
        except FileNotFoundError:
            raise ValueError("GnuSpeech needs Node.js; install Debian's 'nodejs'") from None
        return self

    def say(self, text: str, out: Path, seed: int, speaker: dict[str, dict[str, Any]]) -> str:
        """Synthesize ``text`` into the WAV file ``out`` (44.1 kHz); returns GnuSpeech's phonetic string."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"text": text, "out": str(out), "seed": seed, **speaker}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise ValueError(f"GnuSpeech stopped (exit status {self._process.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise ValueError(f"GnuSpeech could not say {text!r}: {reply['error']}")
        return reply["phonetic"]

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
