"""bench/load.py end to end: a spawned server with a tiny random model, two real-time clients."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="the bench synthesizes its audio with espeak-ng")
@pytest.mark.parametrize("server_args", [[], ["--denoise", "0.3"]], ids=["plain", "denoised"])
def test_two_streams_report_latencies_and_no_errors(tmp_path: Path, server_args: list[str]) -> None:
    model = tmp_path / "m.pt"
    init = [sys.executable, "-m", "asr.cli", "init-model", "--config", str(ROOT / "configs" / "model" / "tiny.toml"), "-o", str(model)]
    subprocess.run(init, check=True, capture_output=True, cwd=ROOT, timeout=60)

    bench = [sys.executable, str(ROOT / "bench" / "load.py"), "--model", str(model), "--device", "cpu", "--streams", "2", "--seconds", "2", "--markdown", *server_args]
    result = subprocess.run(bench, capture_output=True, text=True, cwd=ROOT, timeout=120)

    assert result.returncode == 0, result.stderr
    rows = [line.strip("| ").split(" | ") for line in result.stdout.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 1, result.stdout
    streams, *latencies, server_cpu, client_cpu, errors = rows[0]
    assert len(latencies) == 6  # partial and final p50, p95, p99
    assert all(math.isfinite(float(value)) and float(value) >= 0 for value in latencies), rows[0]
    assert float(server_cpu) >= 0 and float(client_cpu) >= 0
    assert errors == "0", result.stderr
