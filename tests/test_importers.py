"""Corpus importers: real layouts in, sorted normalized entries with header durations out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.audio import AudioError
from asr.data.importers import (
    import_common_voice,
    import_folder,
    import_librispeech,
    import_pocketsphinx_testdata,
)
from asr.data.manifest import ManifestEntry, read_manifest, write_manifest

HAS_MP3 = "MP3" in soundfile.available_formats()
needs_mp3 = pytest.mark.skipif(not HAS_MP3, reason="this libsndfile cannot write MP3")


def write_audio(path: Path, frames: int, sample_rate: int = 16000, format: str | None = None) -> Path:
    """A short tone of exactly ``frames`` samples."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.1 * np.sin(np.arange(frames, dtype=np.float32) * 0.05)
    soundfile.write(path, tone.astype(np.float32), sample_rate, format=format)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_durations(entries: list[ManifestEntry], expected: list[float]) -> None:
    assert [entry.duration for entry in entries] == pytest.approx(expected, abs=1e-3)


def assert_round_trip(entries: list[ManifestEntry], manifest: Path) -> None:
    write_manifest(entries, manifest)
    read = read_manifest(manifest)
    assert [entry.audio.resolve() for entry in read] == [entry.audio.resolve() for entry in entries]
    assert [(e.text, e.duration, e.condition, e.voice) for e in read] == [
        (e.text, e.duration, e.condition, e.voice) for e in entries
    ]


# LibriSpeech ------------------------------------------------------------------------------


def librispeech_chapter(split: Path, speaker: str, chapter: str, lines: dict[str, tuple[str, int]]) -> Path:
    """``split/<speaker>/<chapter>/`` with a FLAC per utterance and the transcript file."""
    folder = split / speaker / chapter
    for number, (_, frames) in lines.items():
        write_audio(folder / f"{speaker}-{chapter}-{number}.flac", frames)
    body = "".join(f"{speaker}-{chapter}-{number} {text}\n" for number, (text, _) in lines.items())
    return write_text(folder / f"{speaker}-{chapter}.trans.txt", body)


@pytest.fixture
def librispeech(tmp_path: Path) -> Path:
    root = tmp_path / "LibriSpeech"
    # Lines out of order on purpose: entries come sorted by audio path regardless.
    librispeech_chapter(
        root / "dev-clean", "84", "121123", {"0001": ("HELLO, WORLD!", 8000), "0000": ("IT’S FINE", 4000)}
    )
    librispeech_chapter(root / "dev-clean", "1272", "128104", {"0000": ("MISTER QUILTER'S  MANNER", 12345)})
    librispeech_chapter(root / "test-other", "2", "5", {"0000": ("THE ‘END’.", 1600)})
    return root


def test_librispeech_entries_are_sorted_normalized_and_timed(librispeech: Path) -> None:
    entries = import_librispeech(librispeech)
    dev, test = librispeech / "dev-clean", librispeech / "test-other"
    assert [entry.audio for entry in entries] == [
        dev / "1272" / "128104" / "1272-128104-0000.flac",
        dev / "84" / "121123" / "84-121123-0000.flac",
        dev / "84" / "121123" / "84-121123-0001.flac",
        test / "2" / "5" / "2-5-0000.flac",
    ]
    assert [entry.text for entry in entries] == ["mister quilter's manner", "it's fine", "hello world", "the end"]
    assert_durations(entries, [12345 / 16000, 0.25, 0.5, 0.1])
    assert [entry.voice for entry in entries] == ["1272", "84", "84", "2"]
    assert [entry.condition for entry in entries] == ["clean", "clean", "clean", "other"]
    assert_round_trip(entries, librispeech / "manifests" / "all.jsonl")


def test_librispeech_imports_one_split_folder(librispeech: Path) -> None:
    entries = import_librispeech(librispeech / "test-other")
    assert [(entry.audio.name, entry.text, entry.condition) for entry in entries] == [
        ("2-5-0000.flac", "the end", "other")
    ]


def test_librispeech_missing_audio_names_transcript_and_line(librispeech: Path) -> None:
    (librispeech / "dev-clean" / "84" / "121123" / "84-121123-0001.flac").unlink()
    with pytest.raises(ValueError, match=r"84-121123\.trans\.txt:1: audio .*84-121123-0001\.flac not found"):
        import_librispeech(librispeech)


@pytest.mark.parametrize("bad_line", ["84-121123-0002", "84-121123-0002 ?!", "99-1-0000 WRONG CHAPTER"])
def test_librispeech_malformed_line_names_transcript_and_line(librispeech: Path, bad_line: str) -> None:
    transcript = librispeech / "dev-clean" / "84" / "121123" / "84-121123.trans.txt"
    transcript.write_text(transcript.read_text() + "\n" + bad_line + "\n")
    with pytest.raises(ValueError, match=r"84-121123\.trans\.txt:4: expected '84-121123-<n> TRANSCRIPT'"):
        import_librispeech(librispeech)


def test_librispeech_without_transcripts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \*\.trans\.txt files found"):
        import_librispeech(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        import_librispeech(tmp_path / "absent")


def test_librispeech_corrupt_audio_names_file_and_reason(librispeech: Path) -> None:
    corrupt = librispeech / "test-other" / "2" / "5" / "2-5-0000.flac"
    corrupt.write_bytes(b"not a flac file" * 10)
    reason = r"2-5-0000\.flac: unreadable or corrupt audio \(Format not recognised"
    with pytest.raises(AudioError, match=reason):
        import_librispeech(librispeech)


# Common Voice -----------------------------------------------------------------------------

CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents"


def common_voice(root: Path, rows: list[str], header: str = CV_HEADER, tsv: str = "validated.tsv") -> Path:
    write_text(root / tsv, header + "\n" + "".join(row + "\n" for row in rows))
    return root


@pytest.fixture
def cv_rows() -> list[str]:
    return [
        'bbb\tcommon_voice_en_2.mp3\tHe said "Don’t!"\t2\t0\t\t\t',
        "aaa\tcommon_voice_en_1.mp3\tCafé au lait, please.\t3\t1\ttwenties\tmale\tUnited States English",
    ]


@needs_mp3
def test_common_voice_entries_from_mp3_clips(tmp_path: Path, cv_rows: list[str]) -> None:
    root = common_voice(tmp_path / "cv-corpus" / "en", cv_rows)
    write_audio(root / "clips" / "common_voice_en_1.mp3", 16000, format="MP3")
    write_audio(root / "clips" / "common_voice_en_2.mp3", 12000, format="MP3")
    entries = import_common_voice(root)
    assert [entry.audio for entry in entries] == [
        root / "clips" / "common_voice_en_1.mp3",
        root / "clips" / "common_voice_en_2.mp3",
    ]
    assert [entry.text for entry in entries] == ["cafe au lait please", "he said don't"]
    assert_durations(entries, [1.0, 0.75])
    assert [entry.voice for entry in entries] == ["aaa", "bbb"]
    assert [entry.condition for entry in entries] == ["United States English", None]
    assert_round_trip(entries, tmp_path / "manifests" / "cv.jsonl")


def test_common_voice_other_table_and_minimal_columns(tmp_path: Path) -> None:
    root = common_voice(tmp_path, ["x.flac\tOne."], header="path\tsentence", tsv="dev.tsv")
    write_audio(root / "clips" / "x.flac", 800)
    [entry] = import_common_voice(root, tsv="dev.tsv")
    assert (entry.text, entry.voice, entry.condition) == ("one", None, None)
    assert_durations([entry], [0.05])


def test_common_voice_missing_column_names_file_and_line(tmp_path: Path) -> None:
    root = common_voice(tmp_path, ["aaa\tx.mp3"], header="client_id\tpath")
    with pytest.raises(ValueError, match=r"validated\.tsv:1: missing column\(s\) sentence"):
        import_common_voice(root)


def test_common_voice_short_row_names_file_and_line(tmp_path: Path, cv_rows: list[str]) -> None:
    root = common_voice(tmp_path, [*cv_rows, "ccc\tcommon_voice_en_3.mp3"])
    for number in (1, 2, 3):
        write_text(root / "clips" / f"common_voice_en_{number}.mp3", "placeholder: parsing reads no audio")
    with pytest.raises(ValueError, match=r"validated\.tsv:4: expected 8 tab-separated fields, found 2"):
        import_common_voice(root)


def test_common_voice_missing_clip_is_named(tmp_path: Path, cv_rows: list[str]) -> None:
    root = common_voice(tmp_path, cv_rows)
    write_audio(root / "clips" / "common_voice_en_2.flac", 100)
    with pytest.raises(ValueError, match=r"validated\.tsv:3: clip .*common_voice_en_1\.mp3 not found"):
        import_common_voice(root)


def test_common_voice_without_mp3_support_explains_conversion(
    tmp_path: Path, cv_rows: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = common_voice(tmp_path, cv_rows)
    for name in ("common_voice_en_1.mp3", "common_voice_en_2.mp3"):
        write_text(root / "clips" / name, "placeholder: the check must come before any clip is read")
    formats = {name: text for name, text in soundfile.available_formats().items() if name != "MP3"}
    monkeypatch.setattr(soundfile, "available_formats", lambda: formats)
    with pytest.raises(ValueError, match="cannot decode MP3") as raised:
        import_common_voice(root)
    message = str(raised.value)
    assert str(root / "clips") in message
    assert 'ffmpeg -nostdin -loglevel error -i "$f" -ac 1 -ar 16000 "${f%.mp3}.flac"' in message
    assert "sox" in message


def test_common_voice_uses_converted_flac_clips(
    tmp_path: Path, cv_rows: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = common_voice(tmp_path, cv_rows)
    for name, frames in (("common_voice_en_1", 1600), ("common_voice_en_2", 3200)):
        write_text(root / "clips" / f"{name}.mp3", "an MP3 this libsndfile cannot read")
        write_audio(root / "clips" / f"{name}.flac", frames)
    monkeypatch.setattr(soundfile, "available_formats", lambda: {"FLAC": "FLAC"})
    entries = import_common_voice(root)
    assert [entry.audio.name for entry in entries] == ["common_voice_en_1.flac", "common_voice_en_2.flac"]
    assert_durations(entries, [0.1, 0.2])


# Plain folders ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    write_audio(root / "b.wav", 16000)
    write_text(root / "b.txt", "Second — “quoted” text.\n")
    write_audio(root / "a" / "one.flac", 24000, sample_rate=48000)
    write_text(root / "a" / "one.txt", "FIRST\nline two")
    write_audio(root / "c" / "deep" / "x.ogg", 8000, format="OGG")
    write_text(root / "c" / "deep" / "x.txt", "O’Brien's   OGG")
    write_audio(root / "c" / "untranscribed.WAV", 1000)
    write_text(root / "notes.md", "not audio")
    return root


def test_folder_entries_and_untranscribed_audio(folder: Path) -> None:
    entries, untranscribed = import_folder(folder)
    assert [entry.audio for entry in entries] == [
        folder / "a" / "one.flac",
        folder / "b.wav",
        folder / "c" / "deep" / "x.ogg",
    ]
    assert [entry.text for entry in entries] == ["first line two", "second quoted text", "o'brien's ogg"]
    assert_durations(entries, [0.5, 1.0, 0.5])
    assert all(entry.voice is None and entry.condition is None for entry in entries)
    assert untranscribed == [folder / "c" / "untranscribed.WAV"]
    assert_round_trip(entries, folder / "train.jsonl")


def test_folder_empty_transcript_names_file(folder: Path) -> None:
    write_text(folder / "b.txt", " …?! \n")
    with pytest.raises(ValueError, match=r"b\.txt: transcript is empty after normalization"):
        import_folder(folder)


def test_folder_corrupt_audio_names_file_and_reason(folder: Path) -> None:
    (folder / "b.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(AudioError, match=r"b\.wav: unreadable or corrupt audio \(.+\)"):
        import_folder(folder)


def test_folder_without_audio_is_refused(tmp_path: Path) -> None:
    write_text(tmp_path / "only.txt", "words")
    with pytest.raises(ValueError, match="no audio files found"):
        import_folder(tmp_path)


def test_pocketsphinx_testdata_gives_its_transcribed_real_recordings(tmp_path: Path) -> None:
    """The package's layout, made here: LibriVox and cards folders, each with its transcription file."""
    for folder, transcription, lines in (
        ("librivox", "transcription", ["<s> and mister john dashwood had then leisure </s> (sense_0870)"]),
        ("cards", "cards.transcription", ["<s> TEN OF CLUBS </s> (001)", "<s> four queen of clubs </s> (002)", ""]),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / transcription).write_text("\n".join(lines) + "\n")
        for line in filter(None, lines):
            utterance = line.rsplit("(", 1)[1].rstrip(")")
            soundfile.write(tmp_path / folder / f"{utterance}.wav", np.zeros(8000, dtype=np.float32), 16000)
    entries = import_pocketsphinx_testdata(tmp_path)
    assert [(e.audio.name, e.text, e.condition, e.voice, e.duration) for e in entries] == [
        ("sense_0870.wav", "and mister john dashwood had then leisure", "real", "librivox", 0.5),
        ("001.wav", "ten of clubs", "real", "cards", 0.5),
        ("002.wav", "four queen of clubs", "real", "cards", 0.5),
    ]
    (tmp_path / "cards" / "cards.transcription").write_text("no id here\n")
    with pytest.raises(ValueError, match="cards.transcription:1"):
        import_pocketsphinx_testdata(tmp_path)
    with pytest.raises(ValueError, match="pocketsphinx-testdata"):
        import_pocketsphinx_testdata(tmp_path / "missing")
