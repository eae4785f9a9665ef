"""Where batch transcription results go: stdout in input order, a file per input, or JSON Lines.

With ``-o DIR`` every output is written atomically (a temporary file, then a rename), so an
interrupted run leaves no half-written file, and a rerun skips what is already there. JSON
Lines is one file for all inputs: each process appends a line per finished input (to its own
part file when several processes share a run), and at the end everything is merged into
``transcripts.jsonl`` in input order.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from asr.formats import FileTranscript, render

__all__ = ["JSONL_NAME", "OutputSink", "check_output_dir", "merge_jsonl", "write_atomically"]

JSONL_NAME = "transcripts.jsonl"
PART_PATTERN = "transcripts.part*.jsonl"


def check_output_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and write a probe file in it, so that an unusable -o fails before any work, by name."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".asr-write-check-"):
            pass
    except OSError as error:
        raise ValueError(f"-o {out_dir}: cannot write there ({error.strerror or error})") from None


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _valid_lines(path: Path) -> list[str]:
    """A JSON Lines output's complete records; a torn line (an interrupted write) and all after it are dropped."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            json.loads(line)["audio"]
        except (json.JSONDecodeError, KeyError, TypeError):
            break
        lines.append(line if line.endswith("\n") else line + "\n")
    return lines


def _jsonl_files(out_dir: Path) -> list[Path]:
    return [out_dir / JSONL_NAME, *sorted(out_dir.glob(PART_PATTERN))]


def merge_jsonl(out_dir: Path, order: Sequence[str]) -> None:
    """Merge transcripts.jsonl and any part files into transcripts.jsonl, one line per input, in ``order``."""
    records: dict[str, str] = {}
    for path in _jsonl_files(out_dir):
        for line in _valid_lines(path):
            records[json.loads(line)["audio"]] = line  # a later part wins: it was redone
    rank = {given: index for index, given in enumerate(order)}
    lines = sorted(records.values(), key=lambda line: rank.get(json.loads(line)["audio"], len(rank)))
    write_atomically(out_dir / JSONL_NAME, "".join(lines))
    for path in out_dir.glob(PART_PATTERN):
        path.unlink()


class OutputSink:
    """Writes each result where it belongs. ``order`` lists every input's given name, in input order.

    ``part`` is this process's rank when several share a run: JSON Lines then goes to its own
    part file, and stdout text is kept in ``collected`` for rank 0 to print, instead of printed.
    """

    def __init__(self, fmt: str, out_dir: Path | None, order: Sequence[str], stdout: TextIO, overwrite: bool, part: int | None = None) -> None:
        self.fmt, self.out_dir, self.stdout, self.overwrite, self.part = fmt, out_dir, stdout, overwrite, part
        self.order = list(order)
        self.collected: dict[int, str] = {}  # input index -> text to print
        self._position = {given: index for index, given in enumerate(self.order)}
        self._next = 0  # stdout: the first input not printed yet
        self._jsonl: TextIO | None = None
        self._jsonl_done: set[str] = set()
        if out_dir is not None and fmt == "jsonl":
            out_dir.mkdir(parents=True, exist_ok=True)
            if not overwrite:
                self._jsonl_done = {json.loads(line)["audio"] for path in _jsonl_files(out_dir) for line in _valid_lines(path)}
            name = JSONL_NAME if part is None else f"transcripts.part{part}.jsonl"
            if part is None and not overwrite:
                merge_jsonl(out_dir, self.order)  # cuts a torn last line before appending after it
            self._jsonl = (out_dir / name).open("w" if overwrite else "a", encoding="utf-8")

    def done(self, given: str, output_stem: Path) -> bool:
        """Whether this input's output is already there (and it will be skipped)."""
        if self.out_dir is None or self.overwrite:
            return False
        if self._jsonl is not None:
            return given in self._jsonl_done
        return self._path(output_stem).exists()

    def _path(self, output_stem: Path) -> Path:
        return self.out_dir / output_stem.with_suffix(f".{self.fmt}")

    def write(self, given: str, output_stem: Path, result: FileTranscript) -> None:
        text = render(result, self.fmt)
        if self._jsonl is not None:
            self._jsonl.write(text)
            self._jsonl.flush()
        elif self.out_dir is not None:
            write_atomically(self._path(output_stem), text)
        else:
            prefix = f"==> {given} <==\n" if len(self.order) > 1 and self.fmt != "jsonl" else ""
            self._release(given, prefix + text)

    def skip(self, given: str) -> None:
        """``given`` failed: nothing to write, but stdout may now print what waited for it."""
        if self.out_dir is None:
            self._release(given, "")

    def _release(self, given: str, text: str) -> None:
        self.collected[self._position[given]] = text
        if self.part is not None:
            return  # rank 0 prints everything at the end
        while self._next in self.collected:
            self.stdout.write(self.collected.pop(self._next))
            self._next += 1
        self.stdout.flush()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            if self.part is None:
                merge_jsonl(self.out_dir, self.order)

    def finish_shards(self, collections: Sequence[dict[int, str]]) -> None:
        """On rank 0, once every process has closed: print all stdout text in order, or merge the jsonl parts."""
        if self.out_dir is None:
            merged = {index: text for collected in collections for index, text in collected.items()}
            self.stdout.write("".join(merged[index] for index in sorted(merged)))
            self.stdout.flush()
        elif self.fmt == "jsonl":
            merge_jsonl(self.out_dir, self.order)
