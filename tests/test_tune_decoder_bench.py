"""bench/tune_decoder.py: the grid searched in worker processes gives the table one process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server_util import speak

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["turn on the kitchen light", "what time is it", "could you pass me the salt please"]


def _table(manifest: Path, processes: int) -> list[list[str]]:
    """The printed rows, without the search's CPU seconds (the last column), which differ from run to run."""
    command = [
        sys.executable, str(ROOT / "bench" / "tune_decoder.py"), str(manifest), "--lm-weights", "1", "2", "--word-scores", "-2.5", "0",
        "--processes", str(processes),
    ]  # fmt: skip
    printed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600, check=True).stdout.splitlines()
    assert printed[0] == f"{len(SENTENCES)} files of {manifest}"
    return [line.split()[:-1] for line in printed[2:]]


def test_the_grid_in_two_processes_gives_the_table_of_one(tmp_path: Path) -> None:
    with (tmp_path / "dev.jsonl").open("w") as manifest:
        for index, text in enumerate(SENTENCES):
            manifest.write(json.dumps({"audio": str(speak(text, tmp_path / f"{index}.wav")), "text": text}) + "\n")
    alone = _table(tmp_path / "dev.jsonl", processes=1)
    assert len(alone) == 4 and {(row[4], row[5]) for row in alone} == {("1", "-2.5"), ("1", "0"), ("2", "-2.5"), ("2", "0")}
    assert [float(row[0]) for row in alone] == sorted(float(row[0]) for row in alone)  # best first
    assert _table(tmp_path / "dev.jsonl", processes=2) == alone
