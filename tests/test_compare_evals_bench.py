"""bench/compare_evals.py: paired word errors from two `asr eval --json` reports, and its bootstrap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from asr.scoring import EvalReport, Utterance

REFERENCES = ["the cat sat on the mat", "ten of clubs", "seven of hearts", "a dog barked twice"]


def _bench():
    spec = importlib.util.spec_from_file_location("compare_evals", Path(__file__).parent.parent / "bench" / "compare_evals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(path: Path, hypotheses: list[str], conditions: tuple[str, ...] = ("clean", "clean", "real", "real")) -> Path:
    """An `asr eval --json` report, written by asr.scoring as `asr eval` writes it."""
    utterances = [
        Utterance(audio=f"/data/{index}.wav", condition=condition, reference=reference, hypotheses={"asr (lexicon)": hypothesis})
        for index, (reference, hypothesis, condition) in enumerate(zip(REFERENCES, hypotheses, conditions))
    ]
    path.write_text(json.dumps(EvalReport.from_utterances(["asr (lexicon)"], utterances).to_dict()))
    return path


def test_counts_errors_per_condition_and_an_empty_hypothesis_deletes_every_word(tmp_path: Path) -> None:
    bench = _bench()
    a = _report(tmp_path / "a.json", ["the cat sat on a mat", "ten of close", "", "a dog barked twice"])
    b = _report(tmp_path / "b.json", ["the cat sat on the mat", "ten of clubs", "seven of hearts", "a dog barked twice twice"])

    groups = bench.pair(bench.utterance_errors(a, None), bench.utterance_errors(b, None))

    assert list(groups) == ["clean", "real", "overall"]
    assert groups["clean"].errors_a.tolist() == [1, 1] and groups["clean"].errors_b.tolist() == [0, 0]
    assert groups["real"].errors_a.tolist() == [3, 0] and groups["real"].errors_b.tolist() == [0, 1]
    assert groups["overall"].reference_words.tolist() == [6, 3, 3, 4]


def test_bootstrap_is_certain_when_b_is_better_everywhere_and_never_when_identical() -> None:
    bench = _bench()
    words = np.full(50, 5)
    better = bench.PairedErrors(words, errors_a=np.full(50, 2), errors_b=np.full(50, 1))
    same = bench.PairedErrors(words, errors_a=np.full(50, 2), errors_b=np.full(50, 2))
    rng = np.random.default_rng(0)

    assert bench.probability_b_better(better, 500, rng) == 1.0
    assert bench.probability_b_better(same, 500, rng) == 0.0


def test_bootstrap_is_unsure_when_b_trades_errors_evenly() -> None:
    bench = _bench()
    errors_a = np.array([3, 0] * 50)
    traded = bench.PairedErrors(np.full(100, 5), errors_a=errors_a, errors_b=errors_a[::-1].copy())

    assert 0.3 < bench.probability_b_better(traded, 4000, np.random.default_rng(1)) < 0.7


def test_drawing_in_blocks_gives_the_same_answer() -> None:
    bench = _bench()
    rng = np.random.default_rng(2)
    paired = bench.PairedErrors(np.full(60, 5), errors_a=rng.integers(0, 4, 60), errors_b=rng.integers(0, 4, 60))

    whole = bench.probability_b_better(paired, 999, np.random.default_rng(3))
    blocks = bench.probability_b_better(paired, 999, np.random.default_rng(3), max_indices=7 * 60)

    assert whole == blocks and 0.0 < whole < 1.0


def test_table_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    a = _report(tmp_path / "a.json", ["the cat sat on a mat", "ten of close", "seven of heart", "a dog barked"])  # one error each
    b = _report(tmp_path / "b.json", REFERENCES)

    assert bench.main([str(a), str(b), "--resamples", "200"]) == 0

    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["overall"] == "| overall | 4 | 16 | 4 (25.0) | 0 (0.0) | -4 | 1.000 |"
    assert rows["real"] == "| real | 2 | 7 | 2 (28.6) | 0 (0.0) | -2 | 1.000 |"


def test_reports_of_different_files_are_refused_naming_one(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.json", REFERENCES)
    b = _report(tmp_path / "b.json", REFERENCES, conditions=("clean", "clean", "real", "noisy"))

    with pytest.raises(SystemExit, match=r"1 only in the first, 1 only in the second \(e\.g\. /data/3\.wav, real\)"):
        _bench().main([str(a), str(b)])
    empty = _report(tmp_path / "empty.json", [], conditions=())
    with pytest.raises(SystemExit, match="no utterance with reference words"):
        _bench().main([str(empty), str(empty)])


def test_a_file_that_is_not_a_report_is_named(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.json", REFERENCES)
    broken = tmp_path / "broken.json"
    broken.write_text('{"systems": ["asr"]}')

    with pytest.raises(SystemExit, match="broken.json: not an `asr eval --json` report"):
        _bench().main([str(a), str(broken)])
    with pytest.raises(SystemExit, match="a.json: no system 'other'"):
        _bench().main([str(a), str(a), "--system", "other"])
