"""Turn LibriSpeech, Common Voice, Debian's pocketsphinx-testdata, and plain folders of audio into manifest entries.

Every entry's audio path lies under the ``root`` given (so it is usable from the working
directory), its text has been through ``normalize_text``, and its duration comes from the
audio header alone. Entries come sorted by audio path.
"""

from __future__ import annotations

import csv
import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import soundfile

from asr.audio import AUDIO_EXTENSIONS, AudioError
from asr.data.manifest import ManifestEntry
from asr.tokens import normalize_text

__all__ = [
    "import_librispeech",
    "import_common_voice",
    "import_pocketsphinx_testdata",
    "import_folder",
    "header_duration",
    "POCKETSPHINX_TESTDATA",
]

POCKETSPHINX_TESTDATA = Path("/usr/share/pocketsphinx/test/data")
# the transcribed real recordings: (folder, transcription file); lines read "<s> words </s> (utterance id)"
_TESTDATA_SETS = (("librivox", "transcription"), ("cards", "cards.transcription"))
_TESTDATA_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)\s*$")

_TRANSCRIPT_SUFFIX = ".trans.txt"
_LIBRISPEECH_SPLIT = re.compile(r"(?:train|dev|test)-(clean|other)(?:-\d+)?")
_COMMON_VOICE_COLUMNS = ("path", "sentence")


def _folder(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    return root


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read ({error})") from None


def header_duration(path: Path) -> float:
    """Seconds of audio from the file's header, without decoding; AudioError names the file and reason."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        reason = str(error).replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(f"{path}: unreadable or corrupt audio ({reason})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: contains no audio samples")
    return info.frames / info.samplerate


def _by_audio(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    return sorted(entries, key=lambda entry: entry.audio)


def import_librispeech(root: str | Path) -> list[ManifestEntry]:
    """Every utterance of a LibriSpeech tree: the whole corpus, one split, or any folder below.

    Reads each ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt``; the audio is
    ``<utterance-id>.flac`` beside it. ``voice`` is the speaker id; ``condition`` is "clean" or
    "other" when the split folder (e.g. ``dev-clean``) is in the path.
    """
    root = _folder(root)
    transcripts = sorted(root.rglob(f"*{_TRANSCRIPT_SUFFIX}"))
    if not transcripts:
        raise ValueError(f"{root}: no *{_TRANSCRIPT_SUFFIX} files found (expected the LibriSpeech layout)")
    entries = [entry for transcript in transcripts for entry in _librispeech_chapter(transcript)]
    return _by_audio(entries)


def _librispeech_condition(transcript: Path) -> str | None:
    # <split>/<speaker>/<chapter>/<file>: the split is three folders up.
    parents = transcript.absolute().parents
    match = _LIBRISPEECH_SPLIT.fullmatch(parents[2].name) if len(parents) > 2 else None
    return match.group(1) if match else None


def _librispeech_chapter(transcript: Path) -> list[ManifestEntry]:
    chapter = transcript.name[: -len(_TRANSCRIPT_SUFFIX)]
    speaker = chapter.split("-")[0]
    condition = _librispeech_condition(transcript)
    entries = []
    for number, line in enumerate(_read_text(transcript).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{transcript}:{number}"
        fields = line.split(maxsplit=1)
        text = normalize_text(fields[1]) if len(fields) == 2 else ""
        if not fields[0].startswith(f"{chapter}-") or not text:
            raise ValueError(f"{where}: expected '{chapter}-<n> TRANSCRIPT', got {line.strip()[:80]!r}")
        audio = transcript.parent / f"{fields[0]}.flac"
        if not audio.is_file():
            raise ValueError(f"{where}: audio {audio} not found")
        entries.append(ManifestEntry(audio, text, header_duration(audio), condition, speaker))
    return entries


def import_common_voice(root: str | Path, tsv: str = "validated.tsv") -> list[ManifestEntry]:
    """Every row of a Common Voice table ``root/<tsv>``, with audio ``root/clips/<path>``.

    ``voice`` is the row's ``client_id`` and ``condition`` its ``accents`` (or ``accent``), when
    present and non-empty. A ``.flac`` beside a clip with the same stem (a converted MP3) is used
    in its place. Raises ValueError if MP3 clips remain and this libsndfile cannot decode MP3.
    """
    root = _folder(root)
    clips = root / "clips"
    entries = _common_voice_rows(root / tsv, clips)
    if any(entry.audio.suffix.lower() == ".mp3" for entry in entries):
        _require_mp3(clips)
    return _by_audio([replace(entry, duration=header_duration(entry.audio)) for entry in entries])


def _common_voice_rows(table: Path, clips: Path) -> list[ManifestEntry]:
    """The table's rows as entries without durations; errors name the table and line."""
    try:
        with table.open(encoding="utf-8", newline="") as handle:
            # Sentences contain bare double quotes: QUOTE_NONE keeps them as text, and as no record
            # can then span lines, line_num is the record's own line.
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            columns = reader.fieldnames or []
            missing = [column for column in _COMMON_VOICE_COLUMNS if column not in columns]
            if missing:
                raise ValueError(f"{table}:1: missing column(s) {', '.join(missing)} in header {columns}")
            return [
                _common_voice_entry(row, f"{table}:{reader.line_num}", clips, len(columns)) for row in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{table}: cannot read ({error})") from None


def _common_voice_entry(row: dict[str | None, Any], where: str, clips: Path, width: int) -> ManifestEntry:
    # DictReader fills short rows with None and gathers surplus fields under the key None.
    found = sum(value is not None for key, value in row.items() if key is not None)
    found += len(row.get(None, []))
    if found != width:
        raise ValueError(f"{where}: expected {width} tab-separated fields, found {found}")
    name = row["path"].strip()
    if not name:
        raise ValueError(f"{where}: empty 'path'")
    text = normalize_text(row["sentence"])
    if not text:
        raise ValueError(f"{where}: sentence {row['sentence']!r} is empty after normalization")
    accent = (row.get("accents") or row.get("accent") or "").strip()
    voice = (row.get("client_id") or "").strip()
    return ManifestEntry(_common_voice_clip(clips / name, where), text, None, accent or None, voice or None)


def _common_voice_clip(clip: Path, where: str) -> Path:
    converted = clip.with_suffix(".flac")
    if converted.is_file():
        return converted
    if clip.is_file():
        return clip
    raise ValueError(f"{where}: clip {clip} not found")


def _require_mp3(clips: Path) -> None:
    if "MP3" in soundfile.available_formats():
        return
    folder = shlex.quote(str(clips))
    raise ValueError(
        f"{clips}: this libsndfile ({soundfile.__libsndfile_version__}) cannot decode MP3 "
        "(that needs libsndfile 1.1 or newer built with mpg123). Convert the clips to FLAC first; "
        "a .flac beside each .mp3 is used in its place. For example:\n"
        f"  cd {folder} && for f in *.mp3; do\n"
        '    ffmpeg -nostdin -loglevel error -i "$f" -ac 1 -ar 16000 "${f%.mp3}.flac"; done\n'
        "or, in the same loop, sox (with its MP3 handler installed): sox \"$f\" -c 1 -r 16000 \"${f%.mp3}.flac\""
    )


def import_pocketsphinx_testdata(root: str | Path = POCKETSPHINX_TESTDATA) -> list[ManifestEntry]:
    """Debian's pocketsphinx-testdata: real people reading (a LibriVox chapter, and playing cards), 10 utterances.

    Every entry has condition "real" and the set's name as its voice. Held out: nothing trains on it,
    and its sentences are kept out of language models with ``asr lm build --exclude``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not found; install Debian's 'pocketsphinx-testdata' package")
    entries = []
    for folder, transcription in _TESTDATA_SETS:
        for number, line in enumerate(_read_text(root / folder / transcription).splitlines(), 1):
            match = _TESTDATA_LINE.match(line)
            if not line.strip():
                continue
            if match is None:
                raise ValueError(f"{root / folder / transcription}:{number}: expected '<s> words </s> (id)'")
            audio = root / folder / f"{match.group(2)}.wav"
            entries.append(ManifestEntry(audio, normalize_text(match.group(1)), round(header_duration(audio), 3), "real", folder))
    return entries


def import_folder(root: str | Path) -> tuple[list[ManifestEntry], list[Path]]:
    """Audio files below ``root`` (any depth), each transcribed by a same-stem ``.txt`` beside it.

    Returns (entries, audio files that have no transcript) so the caller can report the latter.
    A transcript that normalizes to empty text raises ValueError naming it.
    """
    root = _folder(root)
    audio_files = sorted(
        path for path in root.rglob("*") if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()
    )
    if not audio_files:
        raise ValueError(f"{root}: no audio files found ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    entries: list[ManifestEntry] = []
    untranscribed: list[Path] = []
    for audio in audio_files:
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            untranscribed.append(audio)
            continue
        text = normalize_text(_read_text(transcript))
        if not text:
            raise ValueError(f"{transcript}: transcript is empty after normalization")
        entries.append(ManifestEntry(audio, text, header_duration(audio)))
    return entries, untranscribed
