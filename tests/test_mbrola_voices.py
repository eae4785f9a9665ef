"""MBROLA's voices through espeak-ng, its English ones and its other languages' saying English: which
are installed, their speakers, deterministic synthesis labelled with what espeak-ng sent them, and a
corpus that adds them without changing its English plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data import voices
from asr.data.synth import make_corpus, plan_mbrola, speaker_settings
from asr.data.text import Sentence
from asr.data.voices import ACCENTED_MBROLA_VOICES, MBROLA_VOICES, check_left_out_engines, is_held_out, mbrola_voices
from tests.test_synth import assert_phones_follow_the_words, corpus_adding_voices, synthesize_jobs_twice

needs_mbrola = pytest.mark.skipif(
    len(mbrola_voices()) < len(MBROLA_VOICES), reason="needs mbrola and its English voices (scripts/setup.sh installs them)"
)
needs_accented_mbrola = pytest.mark.skipif(
    len(mbrola_voices(voices=ACCENTED_MBROLA_VOICES)) < len(ACCENTED_MBROLA_VOICES),
    reason="needs mbrola and its other languages' voices (scripts/setup.sh installs them)",
)


def test_only_voices_with_an_installed_database_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "us1").mkdir()
    (tmp_path / "us1" / "us1").write_bytes(b"diphones")
    (tmp_path / "en1").mkdir()  # a folder without its database
    monkeypatch.setattr(voices.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert [str(v) for v in mbrola_voices(tmp_path)] == ["mbrola:mb-us1"]
    (tmp_path / "de4").mkdir()
    (tmp_path / "de4" / "de4").write_bytes(b"diphones")  # German: its voice says English as mb-de4-en
    assert [str(v) for v in mbrola_voices(tmp_path, voices=ACCENTED_MBROLA_VOICES)] == ["mbrola:mb-de4-en"]
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)  # no mbrola program: no voice
    assert mbrola_voices(tmp_path) == []


def test_mbrola_voices_are_training_voices_with_new_speakers() -> None:
    assert not any(is_held_out(v) for v in (*MBROLA_VOICES, *ACCENTED_MBROLA_VOICES))
    assert not set(MBROLA_VOICES) & set(ACCENTED_MBROLA_VOICES)
    check_left_out_engines(("mbrola",), "--leave-out")
    rng = np.random.default_rng(0)
    drawn = [speaker_settings(MBROLA_VOICES[0], rng) for _ in range(200)]
    assert all(140 <= s["rate"] <= 210 and 25 <= s["pitch"] <= 75 and 0 <= s["word_gap"] <= 2 for s in drawn)
    shifted = [s["formant_shift"] for s in drawn if "formant_shift" in s]
    assert 60 <= len(shifted) <= 140 and all(0.9 <= shift <= 1.2 for shift in shifted)  # about half keep their own voice


def test_the_plan_shares_utterances_equally_and_is_reproducible() -> None:
    sentences = [Sentence(f"sentence number {word}", f"sentence number {word}") for word in ("one", "two", "three")]
    jobs = plan_mbrola(8, sentences, MBROLA_VOICES, seed=3)
    assert [job.voice for job in jobs] == [*MBROLA_VOICES, *MBROLA_VOICES]
    assert all(job.split == "train" and job.sentence in sentences and job.path.startswith("train/mbrola/") for job in jobs)
    assert jobs == plan_mbrola(8, sentences, MBROLA_VOICES, seed=3) and jobs != plan_mbrola(8, sentences, MBROLA_VOICES, seed=4)
    assert plan_mbrola(0, sentences, [], seed=3) == []
    with pytest.raises(ValueError, match="no MBROLA voices installed"):
        plan_mbrola(2, sentences, [], seed=3)
    accented = plan_mbrola(12, sentences, ACCENTED_MBROLA_VOICES, seed=3, accented=True)
    assert [job.voice for job in accented] == list(ACCENTED_MBROLA_VOICES)
    assert all(job.path.startswith("train/mbrola-accented/") for job in accented)
    assert accented[0].seed != plan_mbrola(1, sentences, ACCENTED_MBROLA_VOICES, seed=3)[0].seed  # a stream of its own


@needs_mbrola
def test_mbrola_voices_are_deterministic_and_label_what_they_said(tmp_path: Path) -> None:
    sentences = [Sentence(text, text) for text in ("the quick brown fox jumps over the lazy dog", "she sells sea shells by the shore")]
    entries = synthesize_jobs_twice(plan_mbrola(4, sentences, MBROLA_VOICES, seed=0), tmp_path)
    assert [e.voice for e in entries] == [str(v) for v in MBROLA_VOICES]
    assert_phones_follow_the_words(entries)
    for entry in entries:
        assert soundfile.info(str(entry.audio)).samplerate == 16000 and entry.duration > 1.0


@needs_mbrola
def test_a_corpus_adds_mbrola_speech_without_changing_its_english_plan(tmp_path: Path) -> None:
    mixed_entries = corpus_adding_voices(tmp_path, mbrola=2)
    assert [e.voice.split(":")[0] for e in mixed_entries[2:]] == ["mbrola"] * 2
    training_text = set((tmp_path / "mixed" / "lm_text.txt").read_text().splitlines())
    assert all(e.text in training_text for e in mixed_entries[2:])
    with pytest.raises(ValueError, match="mbrola must be >= 0"):
        make_corpus(tmp_path / "bad", generated=40, dev=0, test=0, mbrola=-1)


@needs_accented_mbrola
def test_accented_voices_are_deterministic_and_label_the_english_phones_they_said(tmp_path: Path) -> None:
    sentences = [Sentence(text, text) for text in ("the quick brown fox jumps over the lazy dog", "she sells sea shells by the shore")]
    jobs = plan_mbrola(2, sentences, ACCENTED_MBROLA_VOICES[:2], seed=0, accented=True)
    entries = synthesize_jobs_twice(jobs, tmp_path)
    assert [e.voice for e in entries] == [str(v) for v in ACCENTED_MBROLA_VOICES[:2]]
    assert_phones_follow_the_words(entries)


@needs_accented_mbrola
def test_a_corpus_adds_accented_mbrola_speech_without_changing_its_english_plan(tmp_path: Path) -> None:
    mixed_entries = corpus_adding_voices(tmp_path, mbrola_accented=2)
    assert [e.voice for e in mixed_entries[2:]] == [str(v) for v in ACCENTED_MBROLA_VOICES[:2]]
    assert all("/train/mbrola-accented/" in str(e.audio) for e in mixed_entries[2:])
    with pytest.raises(ValueError, match="mbrola_accented must be >= 0"):
        make_corpus(tmp_path / "bad", generated=40, dev=0, test=0, mbrola_accented=-1)
