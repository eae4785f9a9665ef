"""bench/hotword_boost.py: with no boost its searches are the plain ones; a huge boost puts an unsaid word in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server_util import speak

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [("send the invoice to the accountant", "en-us+whisper"), ("turn on the kitchen lights", "en-us"), ("what time is it now", "en-us")]


def test_the_table_counts_what_each_boost_recovers_and_inserts(tmp_path: Path) -> None:
    with (tmp_path / "dev.jsonl").open("w") as manifest:
        for index, (text, voice) in enumerate(SENTENCES):
            manifest.write(json.dumps({"audio": str(speak(text, tmp_path / f"{index}.wav", voice)), "text": text}) + "\n")
    command = [sys.executable, str(ROOT / "bench" / "hotword_boost.py"), str(tmp_path / "dev.jsonl"), "--boosts", "0", "100"]
    printed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600, check=True).stdout.splitlines()
    assert printed[0].startswith(f"{len(SENTENCES)} files of {tmp_path / 'dev.jsonl'}; ")
    missed = int(printed[0].split("; ")[1].split()[0])
    plain_wer = printed[1].split("on those, ")[1].split("%")[0]  # WER of all files without hotwords
    rows = {cells[0]: cells for cells in (line.strip("| ").split(" | ") for line in printed if line.startswith("| ") and line[2].isdigit())}
    assert set(rows) == {"0", "100"}
    assert rows["0"][1] == f"0 of {missed}" and rows["0"][3:] == [f"0 of {len(SENTENCES)}", plain_wer]  # boost 0: the plain searches
    assert 1 <= int(rows["100"][3].split()[0]) <= len(SENTENCES)  # the word is forced in where it was not said
