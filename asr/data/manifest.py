"""JSON Lines manifests: one utterance per line, audio paths relative to the manifest's folder.

``{"audio": "a/b.wav", "text": "lower case words", "duration": 3.2, "condition": "clean", "voice": "...",
"phones": "L OW ER | K EY S | W ER D Z"}``

``phones`` (optional) is what the speaker actually said, in ARPAbet with ``|`` between words: the
targets of a phone model. Without it, a phone model's targets come from the lexicon.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ManifestEntry", "read_manifest", "write_manifest"]


@dataclass(frozen=True)
class ManifestEntry:
    audio: Path  # usable from the working directory: read_manifest joins it to the manifest's folder
    text: str | None = None
    duration: float | None = None
    condition: str | None = None
    voice: str | None = None
    phones: str | None = None

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The manifest record; ``audio`` relative to ``relative_to`` when it lies below it, else absolute."""
        audio = self.audio
        if relative_to is not None:
            audio = audio.resolve()
            if audio.is_relative_to(relative_to.resolve()):
                audio = audio.relative_to(relative_to.resolve())
        record: dict[str, Any] = {"audio": str(audio)}
        for key in ("text", "duration", "condition", "voice", "phones"):
            value = getattr(self, key)
            if value is not None:
                record[key] = value
        return record

    @property
    def engine(self) -> str:
        """The synthesizer that said the utterance: the part of its voice before the colon ("" if unknown)."""
        return (self.voice or "").partition(":")[0]


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "audio": (str,),
    "text": (str,),
    "duration": (int, float),
    "condition": (str,),
    "voice": (str,),
    "phones": (str,),
}


def _parse_line(line: str, where: str, folder: Path) -> ManifestEntry:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: invalid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if "audio" not in record:
        raise ValueError(f"{where}: missing field 'audio'")
    for key, types in _FIELD_TYPES.items():
        value = record.get(key)
        if key in record and (isinstance(value, bool) or not isinstance(value, types)):
            raise ValueError(f"{where}: field {key!r} must be {' or '.join(t.__name__ for t in types)}")
    audio = Path(record["audio"])
    return ManifestEntry(
        audio=audio if audio.is_absolute() else folder / audio,
        text=record.get("text"),
        duration=float(record["duration"]) if "duration" in record else None,
        condition=record.get("condition"),
        voice=record.get("voice"),
        phones=record.get("phones"),
    )


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Parse a manifest; errors name the file, line and field. Blank lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read manifest ({error})") from None
    return [
        _parse_line(line, f"{path}:{number}", path.parent)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


def write_manifest(entries: Iterable[ManifestEntry], path: str | Path) -> None:
    """Write entries as JSON Lines, with audio paths relative to the manifest's folder where possible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent
    with path.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry.to_dict(relative_to=folder), ensure_ascii=False) + "\n")
