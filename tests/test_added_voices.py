"""Voices a corpus can add (``asr synth --pico N --pico-accented N --festival-accented N
--festival-accented-more N --rab N --mbrola-accented-more N``): SVOX Pico's two English women and
its four others saying English in their own sounds, festival's Italian, Czech, Finnish and Spanish
voices doing the same, festival's British rab, and fourteen more MBROLA databases saying English
through voice definitions of our own. Their plans, their speakers, deterministic synthesis labelled
with what they said, and a corpus that adds them without changing its English plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.data import voices
from asr.data.espeak_accents import accent_data_path
from asr.data.festival_accents import FESTIVAL_ACCENTS, entry_name, lexicon_entry
from asr.data.pico_accents import PICO_ACCENTS, accented_markup
from asr.data.synth import make_corpus, plan_added_voices, plan_mbrola, speaker_settings
from asr.data.text import Sentence
from asr.data.voices import (
    ACCENTED_FESTIVAL_VOICES,
    ACCENTED_MBROLA_VOICES,
    FESTIVAL_VOICES,
    FOREIGN_VOICES,
    MBROLA_VOICES,
    MORE_ACCENTED_FESTIVAL_VOICES,
    MORE_ACCENTED_MBROLA_VOICES,
    PICO_ACCENTED_VOICES,
    PICO_VOICES,
    RAB_VOICE,
    accented_festival_voices,
    festival_voices,
    is_held_out,
    mbrola_voices,
    pico_voices,
)
from asr.lexicon import pronounce
from asr.phones import ARPABET, join_words
from tests.test_synth import assert_phones_follow_the_words, corpus_adding_voices, synthesize_jobs_twice

needs_pico = pytest.mark.skipif(not pico_voices(), reason="needs SVOX Pico's pico2wave (scripts/setup.sh installs libttspico-utils)")
needs_festival_accents = pytest.mark.skipif(
    len(accented_festival_voices()) < len(ACCENTED_FESTIVAL_VOICES), reason="needs festival's Italian and Czech voices (scripts/setup.sh installs them)"
)
needs_more_festival_accents = pytest.mark.skipif(
    len(accented_festival_voices(more=True)) < len(MORE_ACCENTED_FESTIVAL_VOICES),
    reason="needs festival's Finnish and Spanish voices (scripts/setup.sh installs them)",
)
needs_rab = pytest.mark.skipif(not festival_voices(voices=(RAB_VOICE,)), reason="needs festival's rab voice (scripts/setup.sh installs festvox-rablpc16k)")
needs_more_accents = pytest.mark.skipif(
    len(mbrola_voices(voices=MORE_ACCENTED_MBROLA_VOICES)) < len(MORE_ACCENTED_MBROLA_VOICES),
    reason="needs mbrola and the databases of MORE_ACCENTED_MBROLA_VOICES (scripts/setup.sh installs them)",
)
SENTENCES = [Sentence(text, text) for text in ("the quick brown fox jumps over the lazy dog", "the car is here tonight")]


def assert_labelled_with_dictionary_phones(entries: list) -> None:
    """Each entry's phones are its words' first dictionary pronunciations, as they were asked for."""
    assert_phones_follow_the_words(entries)
    for entry in entries:
        dictionary = pronounce(entry.text.split())
        assert entry.phones == join_words([dictionary[word][0] for word in entry.text.split()])


def test_added_voices_are_training_voices_outside_the_english_plan(tmp_path: Path) -> None:
    more_festival = [v.voice for v in MORE_ACCENTED_FESTIVAL_VOICES]
    assert not any(is_held_out(v) for v in (*PICO_VOICES, *PICO_ACCENTED_VOICES, *ACCENTED_FESTIVAL_VOICES, *more_festival, RAB_VOICE, *MORE_ACCENTED_MBROLA_VOICES))
    assert not set(MORE_ACCENTED_MBROLA_VOICES) & set(ACCENTED_MBROLA_VOICES)
    assert RAB_VOICE not in FESTIVAL_VOICES  # installing rab never changes an English plan
    for voice in (*FESTIVAL_VOICES, RAB_VOICE):
        (tmp_path / voice.name).mkdir()
    assert festival_voices(tmp_path) == list(FESTIVAL_VOICES)
    assert festival_voices(tmp_path, voices=(RAB_VOICE,)) == [RAB_VOICE]


def test_pico_speakers_vary_speed_pitch_and_half_their_vocal_tracts() -> None:
    rng = np.random.default_rng(0)
    drawn = [speaker_settings(PICO_VOICES[0], rng) for _ in range(200)]
    assert all(80 <= s["speed"] <= 125 and 75 <= s["pitch"] <= 130 for s in drawn)
    shifted = [s["formant_shift"] for s in drawn if "formant_shift" in s]
    assert 60 <= len(shifted) <= 140 and all(0.8 <= shift <= 1.05 for shift in shifted)
    rab = speaker_settings(RAB_VOICE, rng)
    assert set(rab) == {"formant_shift", "f0", "rate"}  # a new vocal tract, as kal and ked get


def test_each_kind_is_planned_in_turns_from_a_stream_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(voices.shutil, "which", lambda name: f"/usr/bin/{name}")
    jobs = plan_added_voices("pico", 4, SENTENCES, seed=3)
    assert [job.voice for job in jobs] == [*PICO_VOICES, *PICO_VOICES]
    assert all(job.split == "train" and job.sentence in SENTENCES and job.path.startswith("train/pico/000/") for job in jobs)
    assert jobs == plan_added_voices("pico", 4, SENTENCES, seed=3) and jobs != plan_added_voices("pico", 4, SENTENCES, seed=4)
    assert jobs[0].seed != plan_mbrola(1, SENTENCES, MBROLA_VOICES, seed=3)[0].seed
    with pytest.raises(ValueError, match="unknown kind of added voices 'sam'"):
        plan_added_voices("sam", 1, SENTENCES, seed=3)
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    assert plan_added_voices("pico", 0, SENTENCES, seed=3) == []
    with pytest.raises(ValueError, match="no pico voices installed.*libttspico-utils"):
        plan_added_voices("pico", 2, SENTENCES, seed=3)


@needs_pico
def test_pico_is_deterministic_and_its_british_voice_is_labelled_as_british(tmp_path: Path) -> None:
    entries = synthesize_jobs_twice(plan_added_voices("pico", 2, SENTENCES, seed=1), tmp_path)
    us, british = entries
    assert (us.voice, british.voice) == ("pico:en-US", "pico:en-GB")
    assert us.phones is None  # Pico reports no phones: the lexicon's stand in when training
    assert_phones_follow_the_words([british])
    if british.text == "the quick brown fox jumps over the lazy dog":
        assert "| OW V AH |" in british.phones  # "over" without CMUdict's r
    else:
        assert "| K AA R |" in british.phones  # "car", its r linking it to "is"


@needs_rab
def test_rab_is_deterministic_and_labels_its_mrpa_phones(tmp_path: Path) -> None:
    entries = synthesize_jobs_twice(plan_added_voices("rab", 2, SENTENCES, seed=1), tmp_path)
    assert [e.voice for e in entries] == [str(RAB_VOICE)] * 2
    assert_phones_follow_the_words(entries)


@needs_pico
def test_a_corpus_adds_pico_speech_without_changing_its_english_plan(tmp_path: Path) -> None:
    mixed_entries = corpus_adding_voices(tmp_path, added={"pico": 2})
    assert [e.voice for e in mixed_entries[2:]] == [str(v) for v in PICO_VOICES]
    assert all("/train/pico/" in str(e.audio) for e in mixed_entries[2:])
    with pytest.raises(ValueError, match="rab must be >= 0"):
        make_corpus(tmp_path / "bad", generated=40, dev=0, test=0, added={"rab": -1})
    with pytest.raises(ValueError, match=r"unknown kind\(s\) of added voices \['sam'\]"):
        make_corpus(tmp_path / "bad", generated=40, dev=0, test=0, added={"sam": 1})


def test_every_english_phone_has_a_sound_in_each_pico_accent() -> None:
    assert sorted(PICO_ACCENTS) == sorted(v.name for v in PICO_ACCENTED_VOICES)
    for language, accent in PICO_ACCENTS.items():
        assert set(accent) == set(ARPABET), language
    assert accented_markup("de-DE", [["DH", "AH"], ["HH", "AE", "T"]], speed=90, pitch=110) == (
        "<speed level='90'><pitch level='110'>"
        '<phoneme alphabet="xsampa" ph="d a"/> <phoneme alphabet="xsampa" ph="h E t"/>'
        "</pitch></speed>"
    )
    assert 'ph="E t"' in accented_markup("fr-FR", [["HH", "AE", "T"]])  # French has no h: the word starts at its vowel


@needs_pico
def test_pico_accents_are_deterministic_and_labelled_with_the_phones_they_were_given(tmp_path: Path) -> None:
    entries = synthesize_jobs_twice(plan_added_voices("pico-accented", 4, SENTENCES, seed=1), tmp_path)
    assert [e.voice for e in entries] == [str(v) for v in PICO_ACCENTED_VOICES]
    assert_labelled_with_dictionary_phones(entries)


def test_festival_accents_write_a_lexicon_entry_in_the_voices_own_phones() -> None:
    assert sorted(FESTIVAL_ACCENTS) == sorted({v.phoneset for v in (*FOREIGN_VOICES, *MORE_ACCENTED_FESTIVAL_VOICES)})
    for phoneset, accent in FESTIVAL_ACCENTS.items():
        assert set(accent) == set(ARPABET), phoneset
    assert [entry_name(i) for i in (0, 1, 25, 26, 27)] == ["zaa", "zab", "zaz", "zaba", "zabb"]
    # syllables at English vowels, the coda joining the last one, the first stressed (in Italian, its vowel too)
    assert lexicon_entry("zaa", ["OW", "V", "ER"], "italian") == """(lex.add.entry '("zaa" nil (((o1 w) 1) ((v E r) 0))))"""
    assert lexicon_entry("zab", ["HH", "AE", "T", "S"], "czech") == """(lex.add.entry '("zab" nil (((h e t s) 1))))"""
    assert lexicon_entry("zac", ["HH", "AE", "T"], "italian") == """(lex.add.entry '("zac" nil (((E1 t) 1))))"""  # no h in Italian
    assert lexicon_entry("zad", ["W", "EY", "V"], "spanish") == """(lex.add.entry '("zad" nil (((u0 e1 i0 b) 1))))"""


@needs_festival_accents
def test_festival_accents_are_deterministic_and_labelled_with_the_phones_they_were_given(tmp_path: Path) -> None:
    said = [Sentence("the car isn't here you're late", "the car isn't here you're late")]  # apostrophes: made-up names carry them
    entries = synthesize_jobs_twice(plan_added_voices("festival-accented", 6, said, seed=2), tmp_path)
    assert [e.voice for e in entries] == [str(v) for v in ACCENTED_FESTIVAL_VOICES]
    assert_labelled_with_dictionary_phones(entries)


@needs_more_festival_accents
def test_festivals_finnish_and_spanish_voices_say_english_deterministically(tmp_path: Path) -> None:
    entries = synthesize_jobs_twice(plan_added_voices("festival-accented-more", 3, SENTENCES, seed=2), tmp_path)
    assert [e.voice for e in entries] == [str(v.voice) for v in MORE_ACCENTED_FESTIVAL_VOICES]
    assert_labelled_with_dictionary_phones(entries)


def test_the_accent_data_folder_adds_english_voices_and_links_the_rest(tmp_path: Path) -> None:
    installed = tmp_path / "espeak-ng-data"
    (installed / "voices" / "mb").mkdir(parents=True)
    (installed / "voices" / "!v").mkdir()
    (installed / "en_dict").write_bytes(b"dictionary")
    (installed / "voices" / "mb" / "mb-es1").write_text("name spanish-mbrola-1\nlanguage es 7\ngender male\n\nmbrola es1 es_phtrans\n")
    (installed / "voices" / "mb" / "mb-de4-en").write_text("name en-german-4\nlanguage en 9\n")
    root = accent_data_path(tmp_path / "overlay", ["es1", "de4"], installed)
    data = root / "espeak-ng-data"
    assert (data / "en_dict").resolve() == installed / "en_dict" and (data / "voices" / "!v").is_symlink()
    assert (data / "voices" / "mb" / "mb-es1-en").read_text() == "name en-accent-es1\nlanguage en 9\ngender male\nmbrola es1 es_phtrans\n"
    assert (data / "voices" / "mb" / "mb-de4-en").is_symlink()  # espeak-ng's own English voice stays
    assert not (installed / "voices" / "mb" / "mb-es1-en").exists()  # nothing written where espeak-ng lives
    with pytest.raises(ValueError, match="no voice for the MBROLA database 'xx9'"):
        accent_data_path(tmp_path / "other", ["xx9"], installed)


@needs_more_accents
def test_more_accented_voices_are_deterministic_and_label_the_english_phones_they_said(tmp_path: Path) -> None:
    jobs = plan_added_voices("mbrola-accented-more", 2, SENTENCES, seed=0)
    entries = synthesize_jobs_twice(jobs, tmp_path)
    assert [e.voice for e in entries] == [str(v) for v in MORE_ACCENTED_MBROLA_VOICES[:2]]
    assert_phones_follow_the_words(entries)
