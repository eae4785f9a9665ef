"""Festival's Italian and Czech voices: their sentences, their phone maps, deterministic synthesis
labelled with what they said, and a corpus that adds them without changing its English plan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data.manifest import read_manifest
from asr.data.synth import make_corpus, plan_foreign, speaker_settings
from asr.data.text import foreign_sentences
from asr.data.voices import FOREIGN_VOICES, check_left_out_engines, foreign_voice, foreign_voices, is_held_out
from asr.phones import ARPABET, BOUNDARY, FOREIGN_PHONESETS, foreign_to_arpabet
from tests.test_synth import corpus_adding_voices, synthesize_jobs_twice

needs_foreign_voices = pytest.mark.skipif(
    not shutil.which("festival") or len(foreign_voices()) < len(FOREIGN_VOICES),
    reason="needs festival and its Italian and Czech voices (scripts/setup.sh installs them)",
)


def test_foreign_phones_map_into_arpabet_with_geminates_kept_once() -> None:
    assert foreign_to_arpabet("italian", ["tS", "e", "r", "v", "E1", "l", "l", "o"]) == ["CH", "EY", "R", "V", "EH", "L", "OW"]
    assert foreign_to_arpabet("czech", ["#", "s~", "k", "o", "d", "i", "_"]) == ["SH", "K", "AO", "D", "IH"]
    assert foreign_to_arpabet("czech", ["t~", "e:"]) == ["T", "Y", "EH"]
    assert all(set(phones) <= set(ARPABET) for table in FOREIGN_PHONESETS.values() for phones in table.values())
    with pytest.raises(ValueError, match="unknown czech phone 'q'"):
        foreign_to_arpabet("czech", ["a", "q"])
    with pytest.raises(ValueError, match="unknown foreign phoneset 'klingon'"):
        foreign_to_arpabet("klingon", ["a"])


def test_foreign_sentences_are_writable_in_the_voice_encoding(tmp_path: Path) -> None:
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "proverbi").write_text(
        "Il cervello e' un organo favoloso.  Comincia a lavorare\ndal mattino.\n\t\t-- Robert Frost\n%\n"
        "- No, e' diventato socialista.\n%\nHo 25 anni.\n%\nUN ALTRO GIORNO PERFETTO.\n%\n\tuna poesia in colonna\n"
    )
    (tmp_path / "it" / "proverbi.dat").write_bytes(b"\0")  # strfile's index, not text
    sentences = foreign_sentences("italian", "iso-8859-1", tmp_path)
    assert [s.spoken for s in sentences] == [
        "Il cervello è un organo favoloso.",
        "Comincia a lavorare dal mattino.",
        "No, è diventato socialista.",
        "Un altro giorno perfetto.",
    ]
    assert sentences[0].text == "il cervello è un organo favoloso"
    (tmp_path / "cs").mkdir()
    (tmp_path / "cs" / "citace").write_text("Není větší škody nad ztracený čas.\n%\nTo je ἀρχή všeho zla.\n")
    assert [s.text for s in foreign_sentences("czech", "iso-8859-2", tmp_path)] == ["není větší škody nad ztracený čas"]
    with pytest.raises(ValueError, match="fortunes-cs"):
        foreign_sentences("czech", "iso-8859-2", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no sentences for language 'finnish'"):
        foreign_sentences("finnish", "iso-8859-1", tmp_path)


def test_foreign_voices_are_training_voices_with_their_own_speakers() -> None:
    assert not any(is_held_out(v.voice) for v in FOREIGN_VOICES)
    check_left_out_engines(("festival-foreign",), "train.leave_out_engines")
    assert foreign_voice(FOREIGN_VOICES[0].voice) is FOREIGN_VOICES[0]
    with pytest.raises(ValueError, match="not a foreign festival voice"):
        foreign_voice(FOREIGN_VOICES[0].voice.__class__("festival", "kal_diphone"))
    rng = np.random.default_rng(0)
    for _ in range(50):
        settings = speaker_settings(FOREIGN_VOICES[3].voice, rng)
        assert 0.88 <= settings["formant_shift"] <= 1.12 and abs(settings["pitch_semitones"]) <= 3 and 0.8 <= settings["rate"] <= 1.2


@needs_foreign_voices
def test_the_phone_maps_cover_every_phone_of_the_installed_voices(tmp_path: Path) -> None:
    for phoneset in FOREIGN_PHONESETS:
        voice = next(v for v in FOREIGN_VOICES if v.phoneset == phoneset).voice
        script = tmp_path / f"{phoneset}.scm"
        script.write_text(f"(voice_{voice.name})\n(mapcar (lambda (p) (format t \"PHONE %s\\n\" (car p))) (cadr (assoc 'phones (PhoneSet.description))))\n")
        said = subprocess.run(["festival", "--batch", str(script)], capture_output=True, text=True, check=True, timeout=60).stdout
        assert {line.split()[1] for line in said.splitlines() if line.startswith("PHONE ")} == set(FOREIGN_PHONESETS[phoneset]), phoneset


@needs_foreign_voices
def test_foreign_voices_are_deterministic_and_label_what_they_said(tmp_path: Path) -> None:
    voices = [v for v in FOREIGN_VOICES if v.voice.name in ("lp_diphone", "czech_krb")]
    jobs = plan_foreign(4, voices, seed=0)
    assert {job.voice.name for job in jobs} == {"lp_diphone", "czech_krb"}
    for entry in synthesize_jobs_twice(jobs, tmp_path):
        assert entry.phones and entry.voice.startswith("festival-foreign:")
        words = entry.phones.split(f" {BOUNDARY} ")
        assert len(words) >= len(entry.text.split()) - 1 and all(phone in ARPABET for word in words for phone in word.split())
        assert soundfile.info(str(entry.audio)).samplerate == 16000 and entry.duration > 0.5


@needs_foreign_voices
def test_a_corpus_adds_foreign_speech_without_changing_its_english_plan(tmp_path: Path) -> None:
    mixed_entries = corpus_adding_voices(tmp_path, foreign=2)
    assert [e.voice.split(":")[0] for e in mixed_entries[2:]] == ["festival-foreign"] * 2
    left_out = make_corpus(tmp_path / "left-out", generated=40, dev=0, test=0, seed=4, processes=2, fortunes=False, train_utterances=2, foreign=2, leave_out=("festival-foreign",))
    assert len(read_manifest(left_out["train"])) == 2
    with pytest.raises(ValueError, match="foreign must be >= 0"):
        make_corpus(tmp_path / "bad", generated=40, dev=0, test=0, foreign=-1)


def test_english_fortunes_skip_other_languages_linked_into_their_folder(tmp_path: Path) -> None:
    """fortunes-it links its files from the English folder (italia -> it/italia): English text must not read them."""
    from asr.data.text import fortune_sentences

    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "italia").write_text("Non vorrei mai far parte di un club.\n")
    (tmp_path / "italia").symlink_to("it/italia")
    (tmp_path / "wisdom").write_text("A penny saved is a penny earned.\n")
    (tmp_path / "wisdom.u8").symlink_to("wisdom")
    assert [s.text for s in fortune_sentences(tmp_path)] == ["a penny saved is a penny earned"]
