"""The ``asr`` command line, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.checkpoint import Checkpoint, save_checkpoint
from asr.cli import main
from asr.data.manifest import ManifestEntry, write_manifest
from asr.endpoint import EndpointConfig
from asr.stream import StreamingRecognizer
from asr.decoding import joined_segments
from asr.transcribe import transcribe_file
from tests.conftest import synth_signal

ASR = Path(sys.executable).with_name("asr")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Checkpoint) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint(tiny_checkpoint, path)
    return path


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    soundfile.write(folder / "one.wav", synth_signal(1.5, seed=1), 16000)
    soundfile.write(folder / "sub" / "two.flac", synth_signal(2.0, sample_rate=44100, seed=2), 44100)
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ASR), *args], capture_output=True, text=True, timeout=120)


def test_jsonl_to_stdout_follows_the_contract(model_path: Path, audio_dir: Path) -> None:
    given = str(audio_dir / "one.wav")
    result = run_cli("transcribe", "--model", str(model_path), "--format", "jsonl", given)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert set(record) == {"audio", "text", "words", "duration"}
    assert record["audio"] == given
    assert record["duration"] == pytest.approx(1.5, abs=0.01)
    assert record["text"] == " ".join(w["word"] for w in record["words"])
    assert len(record["words"]) >= 2
    for word in record["words"]:
        assert set(word) == {"word", "start", "end", "conf"}
        assert 0 <= word["start"] < word["end"] <= record["duration"] + 1e-6 and 0 <= word["conf"] <= 1


def test_corrupt_file_among_good_ones_fails_after_finishing_the_rest(model_path: Path, audio_dir: Path) -> None:
    bad = audio_dir / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 20)
    result = run_cli("transcribe", "--model", str(model_path), "--format", "jsonl", str(audio_dir / "one.wav"), str(bad), str(audio_dir / "sub" / "two.flac"), str(audio_dir / "absent.wav"))
    assert result.returncode == 1
    assert [json.loads(line)["audio"] for line in result.stdout.splitlines()] == [str(audio_dir / "one.wav"), str(audio_dir / "sub" / "two.flac")]
    assert f"error: {bad}: unsupported or corrupt audio" in result.stderr
    assert f"error: {audio_dir / 'absent.wav'}: no such file or directory" in result.stderr
    assert "2 of 4 inputs failed" in result.stderr


def test_every_format_into_an_output_folder(model_path: Path, audio_dir: Path, tmp_path: Path) -> None:
    recognizer = StreamingRecognizer.from_pretrained(str(model_path), device="cpu")
    expected = transcribe_file(recognizer, audio_dir / "sub" / "two.flac")
    out = tmp_path / "out"
    for fmt in ("txt", "json", "jsonl", "srt", "vtt"):
        assert main(["transcribe", "--model", str(model_path), "--format", fmt, "-o", str(out), str(audio_dir)]) == 0
    assert (out / "sub" / "two.txt").read_text() == expected.transcript.text + "\n"
    record = json.loads((out / "sub" / "two.json").read_text())
    assert record["text"] == expected.transcript.text and len(record["words"]) == len(expected.transcript.words)
    jsonl = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert [r["audio"] for r in jsonl] == [str(audio_dir / "one.wav"), str(audio_dir / "sub" / "two.flac")]
    srt = (out / "sub" / "two.srt").read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    assert " ".join(line for line in srt.splitlines() if line and not line[0].isdigit()) == expected.transcript.text
    vtt = (out / "sub" / "two.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:0")
    assert not list(out.rglob("*.partial"))


def test_manifest_input(model_path: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest([ManifestEntry(audio_dir / "one.wav", "x"), ManifestEntry(audio_dir / "sub" / "two.flac", "y")], audio_dir / "list.jsonl")
    assert main(["transcribe", "--model", str(model_path), "--format", "jsonl", str(audio_dir / "list.jsonl")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_long_file_in_blocks_equals_one_pass(model_path: Path, tmp_path: Path) -> None:
    """A 25 s file runs in 10 s blocks; its transcript equals feeding the whole signal at once."""
    signal = synth_signal(25.0, seed=4)
    path = tmp_path / "long.wav"
    soundfile.write(path, signal, 16000, subtype="FLOAT")
    recognizer = StreamingRecognizer.from_pretrained(str(model_path), device="cpu")
    stream = recognizer.create_stream(endpoint=EndpointConfig())
    stream.feed(torch.from_numpy(signal))
    stream.end_input()
    whole = joined_segments(recognizer.step([stream])[0].ended)[0]
    blocked = transcribe_file(recognizer, path).transcript
    assert blocked.text == whole.text
    assert [(w.word, w.start, w.end) for w in blocked.words] == [(w.word, w.start, w.end) for w in whole.words]


def test_bad_model_is_a_clear_error(tmp_path: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.arange(100, dtype=np.int64).tobytes())
    assert main(["transcribe", "--model", str(junk), str(audio_dir / "one.wav")]) == 2
    assert f"{junk}: not a readable checkpoint" in capsys.readouterr().err


def test_several_processes_from_the_command_line(model_path: Path, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for processes in ("1", "2"):
        assert main(["transcribe", "--model", str(model_path), "--format", "jsonl", "-o", str(tmp_path / processes), "--processes", processes, str(audio_dir)]) == 0
    assert (tmp_path / "2" / "transcripts.jsonl").read_text() == (tmp_path / "1" / "transcripts.jsonl").read_text()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.arange(100, dtype=np.int64).tobytes())
    capsys.readouterr()
    assert main(["transcribe", "--model", str(junk), "--processes", "2", str(audio_dir / "one.wav")]) == 2
    assert f"{junk}: not a readable checkpoint" in capsys.readouterr().err  # as one process reports it
    for command in ("transcribe", "eval"):
        assert main([command, "--model", str(model_path), "--processes", "0", str(audio_dir / "one.wav")]) == 2
        assert "--processes must be at least 1, got 0" in capsys.readouterr().err


def test_an_unusable_output_folder_fails_before_any_file_is_transcribed(model_path: Path, audio_dir: Path, tmp_path: Path) -> None:
    """It once gave a raw traceback, and only after the first file had been transcribed."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("transcribe", str(audio_dir), "--model", str(model_path), "-o", str(blocker / "out"))
    assert result.returncode == 2
    assert f"-o {blocker / 'out'}: cannot write there" in result.stderr
    assert "Traceback" not in result.stderr and "transcribing" not in result.stderr


def test_a_file_at_an_awkward_rate_is_transcribed_beside_a_good_one(model_path: Path, audio_dir: Path, tmp_path: Path) -> None:
    """A 1 s WAV saying 191999 Hz once asked for a 24.6 GB tensor and crashed the batch, the good file included."""
    awkward = tmp_path / "awkward.wav"
    soundfile.write(awkward, synth_signal(1.0, sample_rate=191999, seed=4), 191999)
    result = run_cli("transcribe", str(awkward), str(audio_dir / "one.wav"), "--model", str(model_path), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(record["audio"]).name for record in records] == ["awkward.wav", "one.wav"]
    assert records[0]["duration"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("command", [[], ["transcribe"], ["init-model"]])
def test_help_explains_each_command(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: asr" in result.stdout
    if command == ["transcribe"]:
        for option in ("--model", "--format", "--output-dir", "--device", "jsonl", "srt", "vtt"):
            assert option in result.stdout


def test_init_model_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parent.parent / "configs" / "model" / "tiny.toml"
    out = tmp_path / "m" / "model.pt"
    assert main(["init-model", "--config", str(config), "-o", str(out), "--seed", "7"]) == 0
    assert StreamingRecognizer.from_pretrained(str(out.parent), device="cpu").model.config.hidden == 64


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (scripts/setup.sh installs it)")
def test_lm_lexicon_pronounces_every_lm_word_with_espeak_variants_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asr.lexicon import Lexicon
    from asr.lm import estimate, write_arpa

    write_arpa(estimate(["the dog sat", "a zorblax ran"], 2), tmp_path / "lm.arpa")
    assert main(["lm", "lexicon", str(tmp_path / "lm.arpa"), "-o", str(tmp_path / "plain.txt.gz")]) == 0
    assert main(["lm", "lexicon", str(tmp_path / "lm.arpa"), "-o", str(tmp_path / "varied.txt.gz"), "--espeak-variants"]) == 0
    plain, varied = Lexicon.load(tmp_path / "plain.txt.gz"), Lexicon.load(tmp_path / "varied.txt.gz")
    assert plain.words == varied.words == ["a", "dog", "ran", "sat", "the", "zorblax"]
    assert plain.pronunciations("dog") == (("D", "AO", "G"),) and varied.pronunciations("dog") == (("D", "AO", "G"), ("D", "AA", "G"))
    assert "(1 words by espeak-ng, " in capsys.readouterr().out.splitlines()[-1]


def test_export_packages_a_phone_model_with_its_lm_and_a_lexicon_for_every_word(tmp_path: Path) -> None:
    from asr.checkpoint import random_checkpoint
    from asr.config import ExperimentConfig, ModelConfig
    from asr.lexicon import Lexicon
    from asr.lm import estimate, write_arpa

    checkpoint = random_checkpoint(ExperimentConfig(model=ModelConfig(layers=1, hidden=32, proj=0, vocab_size=41, units="phones")))
    save_checkpoint(checkpoint, tmp_path / "run.pt")
    write_arpa(estimate(["the cat sat", "a zorblax ran"], 2), tmp_path / "lm.arpa")
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "model"), "--lm", str(tmp_path / "lm.arpa")]) == 0
    assert Lexicon.load(tmp_path / "model" / "lexicon.txt.gz").words == ["a", "cat", "ran", "sat", "the", "zorblax"]
    assert (tmp_path / "model" / "model.pt").stat().st_size < 0.6 * (tmp_path / "run.pt").stat().st_size
    recognizer = StreamingRecognizer.from_pretrained(str(tmp_path / "model"), device="cpu")
    assert recognizer.decoder.name == "lexicon" and recognizer.tokenizer.units == "phones"
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "bad")]) == 2  # a phone model needs its LM
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "int8"), "--lm", str(tmp_path / "lm.arpa"), "--weights", "int8"]) == 0
    assert "int8_weights" in torch.load(tmp_path / "int8" / "model.pt", weights_only=True)
    assert StreamingRecognizer.from_pretrained(str(tmp_path / "int8"), device="cpu").decoder.name == "lexicon"
    # a packed LM ships as lm.pack, in place of the folder's lm.arpa.gz, and is the one its decoders load
    assert main(["lm", "pack", str(tmp_path / "lm.arpa"), "-o", str(tmp_path / "lm.pack"), "--decimals", "6"]) == 0
    assert main(["export", str(tmp_path / "run.pt"), "-o", str(tmp_path / "int8"), "--lm", str(tmp_path / "lm.pack"), "--weights", "int8"]) == 0
    assert sorted(path.name for path in (tmp_path / "int8").iterdir()) == ["lexicon.txt.gz", "lm.pack", "model.pt"]
    assert Lexicon.load(tmp_path / "int8" / "lexicon.txt.gz").words == ["a", "cat", "ran", "sat", "the", "zorblax"]
    assert StreamingRecognizer.from_pretrained(str(tmp_path / "int8"), device="cpu").decoder.name == "lexicon"
