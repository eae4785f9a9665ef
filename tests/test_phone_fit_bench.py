"""bench/phone_fit.py: which rows it scores, and its phone error rate and CTC loss on known best paths."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import soundfile
import torch

from asr.checkpoint import Checkpoint, random_checkpoint, save_checkpoint
from asr.config import ExperimentConfig, ModelConfig
from asr.data.manifest import ManifestEntry, write_manifest
from tests.conftest import synth_signal

PHONES = ExperimentConfig(model=ModelConfig(layers=1, hidden=16, proj=0, vocab_size=41, units="phones"))


def _bench():
    spec = importlib.util.spec_from_file_location("phone_fit", Path(__file__).parent.parent / "bench" / "phone_fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _path_log_probs(checkpoint: Checkpoint, tokens: list[str]) -> torch.Tensor:
    """(T, V) log-probs whose best path is ``tokens``, a blank after each, each step near-certain."""
    ids = []
    for token in tokens:
        ids += [checkpoint.tokenizer.tokens.index(token), checkpoint.tokenizer.blank_id]
    logits = torch.full((len(ids), len(checkpoint.tokenizer)), -30.0)
    logits[torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    return torch.log_softmax(logits, dim=-1)


def _entries(folder: Path) -> list[ManifestEntry]:
    rows = []
    for index, (voice, condition, phones) in enumerate(
        [
            ("piper:joe", "clean", "HH AY | DH EH R"),
            ("piper:joe", "clean", "B IY | B IY"),
            ("piper:joe", "noisy", "HH AY"),  # degraded: not scored
            ("espeak:en", "clean", "S IY"),
            ("espeak:en", "clean", None),  # no label: not scored
        ]
    ):
        path = folder / f"{index}.wav"
        soundfile.write(path, synth_signal(0.5, seed=index), 16000)
        rows.append(ManifestEntry(path, "text", 0.5, condition, voice, phones))
    return rows


def test_only_clean_labelled_rows_are_scored_and_the_draw_is_per_engine(tmp_path: Path) -> None:
    bench = _bench()
    entries = _entries(tmp_path)
    assert [e.phones for e in bench.labelled_rows(entries, 0, 0)] == ["S IY", "HH AY | DH EH R", "B IY | B IY"]
    drawn = bench.labelled_rows(entries, 1, seed=3)
    assert [e.voice for e in drawn] == ["espeak:en", "piper:joe"]
    assert drawn == bench.labelled_rows(entries, 1, seed=3)


def test_a_best_path_equal_to_the_label_scores_zero_and_one_wrong_phone_scores_its_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    checkpoint = random_checkpoint(PHONES)
    rows = bench.labelled_rows(_entries(tmp_path), 0, 0)
    said = {"S IY": "S IY", "HH AY | DH EH R": "HH AY | DH EH R", "B IY | B IY": "B IY | B IY"}
    by_audio = {row.audio: row.phones for row in rows}
    monkeypatch.setattr(bench, "file_log_probs", lambda ck, audio, logmel: _path_log_probs(ck, said[by_audio[audio]].split()))
    scores = bench.score(checkpoint, rows, "exact")
    assert scores["all"][0] == 0.0 and scores["all"][1] < 1e-6 and scores["all"][2] == 3
    # one phone of the 11 (boundaries are not counted; piper has 9) said wrong, on piper's second row: "B IY B IY" -> "B IY B AY"
    said["B IY | B IY"] = "B IY | B AY"
    scores = bench.score(checkpoint, rows, "one wrong")
    assert scores["espeak"][0] == 0.0 and scores["piper"][0] == pytest.approx(100 / 9) and scores["all"][0] == pytest.approx(100 / 11)
    assert scores["piper"][1] > 1.0  # the label's path now has a near-impossible step
    assert math.isfinite(scores["all"][1])


def test_main_prints_a_row_per_engine_and_refuses_a_manifest_without_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    model = tmp_path / "model.pt"
    save_checkpoint(random_checkpoint(PHONES), model)
    entries = _entries(tmp_path)
    write_manifest(entries, tmp_path / "labelled.jsonl")
    bench.main([str(tmp_path / "labelled.jsonl"), "--model", str(model)])
    table = capsys.readouterr().out.splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["espeak", "piper", "all"]
    assert [line.split("|")[2].strip() for line in table[2:]] == ["1", "2", "3"]
    write_manifest([e for e in entries if e.phones is None], tmp_path / "unlabelled.jsonl")
    with pytest.raises(SystemExit, match="no clean rows with phones"):
        bench.main([str(tmp_path / "unlabelled.jsonl"), "--model", str(model)])
