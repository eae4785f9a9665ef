"""One planned file of the synthetic corpus: who says what, in which condition, with which settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asr.data.text import Sentence
from asr.data.voices import Voice

__all__ = ["SynthJob"]


@dataclass(frozen=True)
class SynthJob:
    """One file to make: speech from a voice, or a condition derived from a clean file."""

    path: str  # relative to the corpus folder
    split: str
    sentence: Sentence
    voice: Voice
    condition: str = "clean"
    style: str = "{}"  # JSON of the engine's speaker and style settings (a string keeps the job hashable)
    seed: int = 0  # the engine's noise (piper, GnuSpeech) or the derived condition's randomness
    source: str | None = None  # the clean file a derived condition is made from

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads(self.style)
