"""Asterisk's prompt sets: what is said as written, 8 kHz or decoded 16 kHz audio, foreign phone labels."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from array import array
from pathlib import Path

import G722
import numpy as np
import pytest
import soundfile

from asr.audio import AudioError
from asr.data.asterisk import ASTERISK_VOICES, decode_g722, import_asterisk_prompts
from asr.data.manifest import read_manifest
from asr.phones import ARPABET, BOUNDARY
from tests.test_importers import assert_round_trip, write_audio, write_text

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

PROMPT_TRANSCRIPTS = """; Core Asterisk Sounds in English

vm-press: Press
digits/7: seven
agent-pass: Please enter your password followed by the pound key.
conf-usermenu: Please press 1 to mute, 2 to lock or 10 for help.
letters/dash: dash [-]
beep: [this is a simple beep tone]
dictate/forhelp: press * for help
conf-adminmenu: press 162 to exit
demo-moreinfo: Press 28 for more.
vm-login: Comedian Mail (login)
hello-world: Hello world.
"""

FRENCH_TRANSCRIPTS = """\ufeff; Core Asterisk Sounds in French

conf-onlyone: Il n’y a qu’un seul participant dans cette conférence.
vm-goodbye: Au revoir!
digits/7: 7
conf-usermenu: Appuyez sur 1 pour couper le son.
"""


def write_g722(path: Path, seconds: float) -> Path:
    """A 16 kHz tone encoded as Asterisk's raw 64 kbit/s G.722."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = (8000 * np.sin(np.arange(int(16000 * seconds)) * 0.05)).astype(np.int16)
    path.write_bytes(G722.G722(16000, 64000).encode(array("h", tone.tobytes())))
    return path


def write_transcripts(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_asterisk_prompts_keep_what_is_said_as_written(tmp_path: Path) -> None:
    """Sounds, symbols and numbers past ten are not words she says as written; digits up to ten are spelled out."""
    recorded = ["vm-press", "digits/7", "agent-pass", "conf-usermenu", "letters/dash", "beep", "dictate/forhelp", "conf-adminmenu", "demo-moreinfo", "vm-login"]
    for name in recorded:  # hello-world has no recording
        write_audio(tmp_path / "sounds" / f"{name}.wav", 4000, sample_rate=8000)
    transcripts = write_transcripts(tmp_path / "core-sounds-en.txt.gz", PROMPT_TRANSCRIPTS)
    entries = import_asterisk_prompts(tmp_path / "sounds", transcripts)
    assert [(e.audio.relative_to(tmp_path / "sounds").as_posix(), e.text, e.duration) for e in entries] == [
        ("agent-pass.wav", "please enter your password followed by the pound key", 0.5),
        ("conf-usermenu.wav", "please press one to mute two to lock or ten for help", 0.5),
        ("digits/7.wav", "seven", 0.5),
        ("letters/dash.wav", "dash", 0.5),
        ("vm-press.wav", "press", 0.5),
    ]
    assert {(e.condition, e.voice, e.phones) for e in entries} == {("telephone", "asterisk:allison", None)}
    assert_round_trip(entries, tmp_path / "asterisk.jsonl")


def test_wideband_prompts_are_decoded_into_flac_under_the_folder_given(tmp_path: Path) -> None:
    for name, seconds in (("vm-press", 0.5), ("digits/7", 1.25)):
        write_g722(tmp_path / "sounds" / f"{name}.g722", seconds)
    transcripts = write_transcripts(tmp_path / "core-sounds-en.txt.gz", PROMPT_TRANSCRIPTS)
    entries = import_asterisk_prompts(tmp_path / "sounds", transcripts, wideband_to=tmp_path / "out")
    assert [(e.audio, e.text, e.duration, e.condition) for e in entries] == [
        (tmp_path / "out" / "digits" / "7.flac", "seven", 1.25, "clean"),
        (tmp_path / "out" / "vm-press.flac", "press", 0.5, "clean"),
    ]
    samples, rate = soundfile.read(entries[0].audio, dtype="float32")
    assert rate == 16000
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.fft.rfftfreq(len(samples), 1 / 16000)[np.argmax(spectrum)]
    assert peak_hz == pytest.approx(0.05 * 16000 / (2 * np.pi), abs=1.0)  # the tone encoded, at its pitch and level
    assert np.sqrt(np.mean(samples[400:] ** 2)) == pytest.approx(8000 / 32768 / np.sqrt(2), rel=0.05)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["core-sounds-en.txt.gz", "out/digits/7.flac", "out/vm-press.flac", "sounds/digits/7.g722", "sounds/vm-press.g722"]


@needs_espeak
def test_foreign_prompts_carry_phone_labels_and_leave_digits_out(tmp_path: Path) -> None:
    """Other languages' digits are left out (their spoken form is the language's); letters keep their accents
    out of the text, and the labels are espeak-ng's French in the English phone set."""
    for name in ("conf-onlyone", "vm-goodbye", "digits/7", "conf-usermenu"):
        write_g722(tmp_path / "sounds" / f"{name}.g722", 0.5)
    transcripts = write_transcripts(tmp_path / "core-sounds-fr.txt.gz", FRENCH_TRANSCRIPTS)
    entries = import_asterisk_prompts(tmp_path / "sounds", transcripts, language="fr", wideband_to=tmp_path / "out")
    assert [(e.audio.name, e.text, e.voice) for e in entries] == [
        ("conf-onlyone.flac", "il n'y a qu'un seul participant dans cette conference", "asterisk:june"),
        ("vm-goodbye.flac", "au revoir", "asterisk:june"),
    ]
    goodbye = entries[1].phones.split(f" {BOUNDARY} ")
    assert goodbye == ["OW", "R AH V W AA R"] or goodbye == ["OW", "R V W AA R"]  # espeak-ng may drop the schwa
    assert all(phone in ARPABET or phone == BOUNDARY for e in entries for phone in e.phones.split())


def test_bad_asterisk_inputs_are_refused_with_their_names(tmp_path: Path) -> None:
    (tmp_path / "sounds").mkdir()
    with pytest.raises(ValueError, match="missing.txt.gz: cannot read .*asterisk-core-sounds-en"):
        import_asterisk_prompts(tmp_path / "sounds", tmp_path / "missing.txt.gz")
    transcripts = write_text(tmp_path / "core-sounds-en.txt", PROMPT_TRANSCRIPTS)
    with pytest.raises(ValueError, match="core-sounds-en.txt: no transcribed prompt has a .wav recording under"):
        import_asterisk_prompts(tmp_path / "sounds", transcripts)
    with pytest.raises(ValueError, match="nowhere: not a folder; install Debian's 'asterisk-core-sounds-fr-g722'"):
        import_asterisk_prompts(tmp_path / "nowhere", transcripts, language="fr", wideband_to=tmp_path / "out")
    with pytest.raises(ValueError, match="no Asterisk prompt set for language 'de'; known: en, es, fr, it, ru"):
        import_asterisk_prompts(tmp_path / "sounds", transcripts, language="de")
    empty = tmp_path / "sounds" / "vm-press.g722"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="vm-press.g722: contains no audio samples"):
        import_asterisk_prompts(tmp_path / "sounds", transcripts, wideband_to=tmp_path / "out")
    with pytest.raises(AudioError, match="vm-press.g722"):
        decode_g722(empty)


@pytest.mark.skipif(
    not (ASTERISK_VOICES["en"].root.is_dir() and ASTERISK_VOICES["en"].transcripts.is_file()),
    reason="needs asterisk-core-sounds-en(-wav) (scripts/setup.sh installs them)",
)
def test_asr_import_asterisk_reads_debians_prompts(tmp_path: Path) -> None:
    manifest = tmp_path / "asterisk.jsonl"
    subprocess.run([sys.executable, "-m", "asr.cli", "import", "asterisk", "-o", str(manifest)], check=True, capture_output=True)
    entries = read_manifest(manifest)
    assert len(entries) > 500 and {(e.voice, e.condition) for e in entries} == {("asterisk:allison", "telephone")}
    said = {e.audio.relative_to(ASTERISK_VOICES["en"].root).as_posix(): e.text for e in entries}
    assert said["digits/7.wav"] == "seven" and said["vm-goodbye.wav"] == "goodbye"
    assert "beep.wav" not in said


@needs_espeak
@pytest.mark.skipif(not list(ASTERISK_VOICES["it"].root.glob("*.g722")), reason="needs asterisk-core-sounds-it(-g722) (scripts/setup.sh installs them)")
def test_asr_import_asterisk_decodes_debians_italian_wideband_prompts(tmp_path: Path) -> None:
    manifest = tmp_path / "it.jsonl"
    command = [sys.executable, "-m", "asr.cli", "import", "asterisk", "--language", "it", "--wideband", str(tmp_path / "it"), "-o", str(manifest)]
    subprocess.run(command, check=True, capture_output=True)
    entries = read_manifest(manifest)
    assert len(entries) > 450 and {(e.voice, e.condition) for e in entries} == {("asterisk:carlo", "clean")}
    assert all(e.audio.is_relative_to(tmp_path / "it") and e.audio.is_file() for e in entries)
    assert all(e.phones and set(e.phones.split()) <= {*ARPABET, BOUNDARY} for e in entries)
    said = {e.audio.relative_to(tmp_path / "it").as_posix(): (e.text, e.phones) for e in entries}
    assert said["vm-goodbye.flac"][0] == "arrivederci"
    assert soundfile.info(str(tmp_path / "it" / "vm-goodbye.flac")).samplerate == 16000
