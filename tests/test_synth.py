"""The synthetic corpus: held-out voices stay out of training, splits are disjoint, runs are reproducible."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.data.manifest import read_manifest
from asr.data.synth import (
    TEST_VOICES,
    Voice,
    espeak_voices,
    is_held_out,
    make_corpus,
    plan_corpus,
    shift_formants,
    split_sentences,
    synthesize_corpus,
    training_voices,
)
from asr.data.text import Sentence, fortune_sentences, generated_sentences, word_list

needs_engines = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("espeak-ng", "festival", "flite")),
    reason="needs espeak-ng, festival and flite (scripts/setup.sh installs them)",
)

SENTENCES = [Sentence(f"sentence number {word}", f"sentence number {word}") for word in "one two three four five six seven eight".split()]


def test_held_out_voices_are_recognized_and_refused_for_training() -> None:
    assert all(is_held_out(v) for v in TEST_VOICES)
    assert is_held_out(Voice("festival", "cmu_us_slt_arctic_hts"))
    assert not is_held_out(Voice("espeak", "en-us+f3"))
    with pytest.raises(ValueError, match="held-out voices"):
        plan_corpus(split_sentences(SENTENCES, 1, 1, 0), [Voice("espeak", "en"), Voice("flite", "slt")], seed=0)


@needs_engines
def test_training_voices_cover_espeak_variants_and_festival_but_no_held_out_voice() -> None:
    voices = training_voices()
    assert not any(is_held_out(v) for v in voices)
    engines = {v.engine for v in voices}
    assert engines == {"espeak", "festival"}
    espeak = espeak_voices()
    assert len(espeak) > 100 and any("+f" in v.name for v in espeak) and any(v.name.startswith("en-us") for v in espeak)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), dev=st.integers(1, 3), test=st.integers(1, 3))
def test_splits_share_no_sentence(seed: int, dev: int, test: int) -> None:
    doubled = SENTENCES + SENTENCES[:3]  # duplicates must not leak across splits either
    splits = split_sentences(doubled, dev, test, seed)
    texts = {name: {s.text for s in items} for name, items in splits.items()}
    assert len(texts["dev"]) == dev and len(texts["test"]) == test
    assert not (texts["train"] & texts["dev"]) and not (texts["train"] & texts["test"]) and not (texts["dev"] & texts["test"])
    assert sum(map(len, texts.values())) == len(SENTENCES)


def test_plan_is_deterministic_and_tags_conditions() -> None:
    voices = [Voice("espeak", "en-us"), Voice("festival", "kal_diphone")]
    splits = split_sentences(SENTENCES, 2, 2, seed=1)
    first, again, other = (plan_corpus(splits, voices, seed) for seed in (5, 5, 6))
    assert first == again and first != other
    test_jobs = [j for j in first if j.split == "test"]
    assert {j.condition for j in test_jobs} == {"clean", "noisy", "telephone"}
    assert all(j.voice in TEST_VOICES for j in test_jobs)
    assert all(not is_held_out(j.voice) for j in first if j.split != "test")


def test_festival_jobs_get_a_new_speaker_and_others_keep_their_voice() -> None:
    voices = [Voice("espeak", "en-us"), Voice("festival", "kal_diphone")]
    jobs = plan_corpus(split_sentences(SENTENCES, 2, 2, seed=1), voices, seed=3, train_repeats=20)
    festival = [j for j in jobs if j.voice.engine == "festival" and j.source is None]
    assert festival and all(0.9 <= j.formant_shift <= 1.25 and 79 < j.f0 * j.formant_shift < 251 for j in festival)
    assert len({j.formant_shift for j in festival}) > 5
    assert all(j.formant_shift == 1.0 and j.f0 == 0 for j in jobs if j.voice.engine != "festival")


def test_formant_shift_scales_frequencies_and_duration() -> None:
    tone = torch.sin(2 * math.pi * 500 * torch.arange(16000) / 16000)
    shifted = shift_formants(tone, 1.2)
    assert abs(shifted.numel() - 16000 / 1.2) <= 1
    spectrum = torch.fft.rfft(shifted).abs()
    assert abs(float(spectrum.argmax()) * 16000 / shifted.numel() - 600) < 2
    assert shift_formants(tone, 1.0) is tone


def test_sentence_sources_are_speakable_and_normalized() -> None:
    words, names = word_list()
    generated = list(generated_sentences(50, seed=3, words=words, names=names))
    assert generated == list(generated_sentences(50, seed=3, words=words, names=names))
    fortunes = fortune_sentences()
    assert len(fortunes) > 3000
    for sentence in generated + fortunes[:500]:
        assert sentence.text and not any(ch.isdigit() for ch in sentence.spoken)
        assert set(sentence.text) <= set("abcdefghijklmnopqrstuvwxyz' ")


@needs_engines
def test_synthesis_is_deterministic_resumable_and_writes_manifests(tmp_path: Path) -> None:
    voices = [Voice("espeak", "en-us+f3"), Voice("festival", "kal_diphone")]
    splits = split_sentences(SENTENCES[:6], dev=1, test=1, seed=2)
    jobs = plan_corpus(splits, voices, seed=2)
    manifests = synthesize_corpus(jobs, tmp_path / "a", processes=2)
    synthesize_corpus(jobs, tmp_path / "b", processes=1)
    for job in jobs:
        assert (tmp_path / "a" / job.path).read_bytes() == (tmp_path / "b" / job.path).read_bytes(), job.path

    victim = tmp_path / "a" / jobs[0].path
    before = {job.path: (tmp_path / "a" / job.path).stat().st_mtime_ns for job in jobs}
    victim.unlink()
    synthesize_corpus(jobs, tmp_path / "a", processes=1)
    assert victim.read_bytes() == (tmp_path / "b" / jobs[0].path).read_bytes()
    assert all((tmp_path / "a" / p).stat().st_mtime_ns == t for p, t in before.items() if p != jobs[0].path)

    test = read_manifest(manifests["test"])
    assert sorted(e.condition for e in test) == ["clean", "noisy", "telephone"]
    assert all(e.voice.startswith("flite:") for e in test)
    train = read_manifest(manifests["train"])
    assert len(train) == 4 and {e.voice.split(":")[0] for e in train} <= {"espeak", "festival"}
    for entry in train + test:
        info = soundfile.info(str(entry.audio))
        assert info.samplerate == 16000 and abs(info.duration - entry.duration) < 1e-3 and entry.duration > 0.5


@needs_engines
def test_a_corpus_cut_to_fewer_training_utterances_keeps_the_full_corpus_split(tmp_path: Path) -> None:
    manifests = make_corpus(tmp_path, generated=40, dev=1, test=1, seed=4, processes=2, fortunes=False, train_utterances=2)

    words, names = word_list()
    full = split_sentences(list(generated_sentences(40, 4, words, names)), dev=1, test=1, seed=4)
    train = read_manifest(manifests["train"])
    assert [e.text for e in train] == [s.text for s in full["train"][:2]]
    for split in ("dev", "test"):
        assert {e.text for e in read_manifest(manifests[split])} == {s.text for s in full[split]}
    with pytest.raises(ValueError, match="train_utterances"):
        make_corpus(tmp_path, generated=40, dev=1, test=1, train_utterances=-1)
