"""Manifests round-trip and report bad lines precisely; text normalization is stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.data.manifest import ManifestEntry, read_manifest, write_manifest
from asr.tokens import Tokenizer, normalize_text


def test_manifest_round_trip_with_relative_paths(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    entries = [
        ManifestEntry(folder / "a" / "one.wav", "hello world", 1.25, "clean", "en-us"),
        ManifestEntry(folder / "two.flac", "it's fine", 3.0),
        ManifestEntry(Path("/elsewhere/three.wav")),
    ]
    write_manifest(entries, folder / "train.jsonl")
    lines = (folder / "train.jsonl").read_text().splitlines()
    assert '"audio": "a/one.wav"' in lines[0] and '"audio": "/elsewhere/three.wav"' in lines[2]
    read = read_manifest(folder / "train.jsonl")
    assert [e.audio.resolve() for e in read] == [e.audio.resolve() for e in entries]
    assert [(e.text, e.duration, e.condition, e.voice) for e in read] == [
        (e.text, e.duration, e.condition, e.voice) for e in entries
    ]
    assert [e.engine for e in read] == ["en-us", "", ""]
    assert ManifestEntry(Path("x.wav"), voice="festival-accented:lp_diphone").engine == "festival-accented"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"text": "no audio"}', "line 2: missing field 'audio'"),
        ('{"audio": "x.wav", "duration": "long"}', "line 2: field 'duration' must be int or float"),
        ('{"audio": "x.wav", "duration": true}', "line 2: field 'duration'"),
        ('["audio"]', "line 2: expected a JSON object"),
    ],
)
def test_bad_manifest_lines_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio": "ok.wav"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message.replace("line ", ":")) as caught:
        read_manifest(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Hello, World!", "hello world"),
        ("Don\u2019t STOP\u2014Caf\u00e9", "don't stop cafe"),
        ("'quoted' words' and 'tis", "quoted words and tis"),
        ("  many   spaces\tand\nlines ", "many spaces and lines"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, normalized: str) -> None:
    assert normalize_text(raw) == normalized
    assert normalize_text(normalized) == normalized


def test_tokenizer_round_trip_and_errors() -> None:
    tokenizer = Tokenizer()
    text = "the quick brown fox isn't lazy"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer) == 29 and tokenizer.blank_id == 0
    with pytest.raises(ValueError, match="'7' is not in the vocabulary"):
        tokenizer.encode("route 7")
    # a CTC path: repeats merge, a blank between them keeps both, blanks go
    t, space, i = tokenizer.encode("t i")
    path = [0, t, t, 0, t, space, space, 0, 0, i, i]
    assert tokenizer.collapse(path) == [t, t, space, i] and tokenizer.decode(tokenizer.collapse(path)) == "tt i"
    assert tokenizer.collapse([]) == [] and tokenizer.collapse([0, 0]) == []
    with pytest.raises(ValueError, match="unique"):
        Tokenizer(["<blank>", "a", "a"])
