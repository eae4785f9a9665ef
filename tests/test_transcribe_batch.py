"""Batch transcription: many files per batched step, resuming, globs, and output order."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest
import soundfile

from asr.audio import AudioError
from asr.checkpoint import Checkpoint, save_checkpoint
from asr.decoding import Emissions, GreedyDecoder, GreedySearch, Hotwords
from asr.inputs import InputFile, collect_inputs
from asr.lm import estimate, write_arpa
from asr.stream import StreamingRecognizer
from asr import transcribe, worker_pool
from asr.transcribe import transcribe_all, transcribe_file, transcribe_many
from tests.conftest import assert_same_transcript, synth_signal


@pytest.fixture(scope="module")
def recognizer(tiny_checkpoint: Checkpoint) -> StreamingRecognizer:
    return StreamingRecognizer(tiny_checkpoint, device="cpu")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Seven files of different lengths and rates in a small tree, one of them corrupt."""
    root = tmp_path / "calls"
    (root / "b").mkdir(parents=True)
    for i, (seconds, rate) in enumerate([(0.7, 16000), (3.2, 8000), (1.1, 44100), (12.5, 16000), (0.2, 22050), (2.4, 16000)]):
        soundfile.write(root / ("b" if i % 2 else ".") / f"{i}.wav", synth_signal(seconds, rate, seed=i), rate)
    (root / "b" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return root


class MarginRecorder(GreedyDecoder):
    """Greedy decoding that also records the smallest gap between each step's best and second-best log-prob.

    Batching changes the order of float sums, so log-probs differ in their last bits (below 1e-5
    for these models, see conftest.lively): a step whose two best tokens are closer than 1e-4 could
    decode differently batched and alone. The gaps themselves depend a little on the CPU's kernels.
    """

    smallest = float("inf")

    def search(self, start_step: int = 0, previous_token: int = 0, hotwords: Hotwords = (), grammar: Sequence[str] = ()) -> GreedySearch:
        search = super().search(start_step, previous_token, hotwords, grammar)
        accept = search.accept

        def recording(emissions: Emissions) -> None:
            if len(emissions):
                top = emissions.log_probs.topk(2, dim=-1).values
                MarginRecorder.smallest = min(MarginRecorder.smallest, float((top[:, 0] - top[:, 1]).min()))
            accept(emissions)

        search.accept = recording  # type: ignore[method-assign]
        return search


def inputs(folder: Path) -> list[InputFile]:
    return [item for item in collect_inputs([str(folder)]) if isinstance(item, InputFile)]


def test_batched_files_equal_each_file_alone_and_a_corrupt_one_fails_alone(tiny_checkpoint: Checkpoint, folder: Path) -> None:
    items = inputs(folder)
    recognizer = StreamingRecognizer(tiny_checkpoint, "cpu", MarginRecorder(tiny_checkpoint.tokenizer, 0.03))
    results = dict(transcribe_many(recognizer, items, batch_size=3, block_seconds=1.0))  # refills slots as files end
    assert set(results) == set(items)
    for item, result in results.items():
        if item.audio.name == "broken.wav":
            assert isinstance(result, AudioError) and "broken.wav" in str(result)
            continue
        MarginRecorder.smallest = float("inf")
        alone = transcribe_file(recognizer, item.audio, item.given)
        assert MarginRecorder.smallest > 1e-4, f"{item.audio.name}: a near-tied step; pick another test signal"
        assert_same_transcript(result.transcript, alone.transcript, conf_tolerance=1e-3)  # batched float sums differ slightly
        assert result.duration == pytest.approx(alone.duration)


def test_stdout_keeps_input_order_though_long_files_finish_last(recognizer: StreamingRecognizer, folder: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    failures = transcribe_all(recognizer, [str(folder)], "jsonl", stdout=out, stderr=err, batch_size=4)
    assert failures == 1 and "broken.wav" in err.getvalue()
    printed = [json.loads(line)["audio"] for line in out.getvalue().splitlines()]
    assert printed == [item.given for item in inputs(folder) if item.audio.name != "broken.wav"]


def test_an_interrupted_run_resumes_and_overwrite_redoes(recognizer: StreamingRecognizer, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert transcribe_all(recognizer, [str(folder)], "srt", out, stderr=io.StringIO()) == 1
    done = sorted(out.rglob("*.srt"))
    assert len(done) == 6
    os.utime(done[0], (1, 1))  # an old output: a rerun must leave it alone
    done[1].unlink()  # as if the run had been interrupted before this file
    err = io.StringIO()
    transcribe_all(recognizer, [str(folder)], "srt", out, stderr=err)
    assert "skipping 5 files" in err.getvalue()
    assert done[1].exists() and done[0].stat().st_mtime == 1
    transcribe_all(recognizer, [str(folder)], "srt", out, stderr=io.StringIO(), overwrite=True)
    assert done[0].stat().st_mtime > 1


def test_jsonl_output_resumes_after_a_torn_line_and_ends_in_input_order(recognizer: StreamingRecognizer, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    transcribe_all(recognizer, [str(folder)], "jsonl", out, stderr=io.StringIO())
    path = out / "transcripts.jsonl"
    complete = path.read_text()
    lines = complete.splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][:15])  # interrupted while writing the third line
    err = io.StringIO()
    transcribe_all(recognizer, [str(folder)], "jsonl", out, stderr=err)
    assert "skipping 2 files" in err.getvalue()
    redone = path.read_text()
    assert [json.loads(line)["audio"] for line in redone.splitlines()] == [json.loads(line)["audio"] for line in lines]
    assert [json.loads(line)["text"] for line in redone.splitlines()] == [json.loads(line)["text"] for line in lines]


def test_a_glob_selects_files_and_outputs_mirror_the_tree_below_it(folder: Path) -> None:
    found = list(collect_inputs([str(folder / "**" / "*.wav")]))
    assert sorted(str(item.output_stem) for item in found) == ["0", "2", "4", "b/1", "b/3", "b/5", "b/broken"]
    assert list(collect_inputs([str(folder / "*.mp4")])) == [(str(folder / "*.mp4"), "the pattern matches no audio files (.aif, .aiff, .au, .flac, .mp3, .oga, .ogg, .opus, .wav)")]


PEAK_MEMORY = """
import resource, sys
from asr.checkpoint import load_checkpoint
from asr.config import DecoderConfig
from asr.stream import StreamingRecognizer
from asr.transcribe import transcribe_file
recognizer = StreamingRecognizer(load_checkpoint(sys.argv[1]), "cpu", DecoderConfig(method=sys.argv[3], lm=sys.argv[4]))
result = transcribe_file(recognizer, sys.argv[2])
print(result.duration, len(result.transcript.words), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.parametrize(("decoder", "minutes"), [("greedy", 60), ("lexicon", 20)])  # the lexicon search: 20 min costs it 4 s here
def test_a_long_file_needs_no_more_memory_than_a_minute(tiny_checkpoint: Checkpoint, tmp_path: Path, decoder: str, minutes: int) -> None:
    """Peak RSS of a whole process transcribing a long file vs 1 min of audio: within 100 MB of each other.

    One beam search over a whole 20 min file would hold about 300 MB of hypotheses.
    """
    model, lm = tmp_path / "tiny.pt", tmp_path / "lm.arpa"
    save_checkpoint(tiny_checkpoint, model)
    write_arpa(estimate(["a an and ant", "in on no one", "to it at tea", "so is as sea"], 3), lm)  # short words the random model can spell
    minute = synth_signal(60.0, seed=7)
    for name, count in (("minute.wav", 1), ("long.wav", minutes)):
        with soundfile.SoundFile(tmp_path / name, "w", samplerate=16000, channels=1, subtype="PCM_16") as handle:
            for _ in range(count):  # written a minute at a time: the test itself stays small too
                handle.write(minute)
    peaks = {}
    for name in ("minute.wav", "long.wav"):
        command = [sys.executable, "-c", PEAK_MEMORY, str(model), str(tmp_path / name), decoder, str(lm)]
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        duration, words, peak_mb = run.stdout.split()
        assert int(words) > 0
        peaks[name] = (float(duration), int(peak_mb))
    assert peaks["long.wav"][0] == pytest.approx(60 * minutes, abs=0.1)
    assert peaks["long.wav"][1] - peaks["minute.wav"][1] < 100, peaks


def run_transcribe(processes: int, model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else []
    # batch size 1: each file's arithmetic is then the same whichever process, and whichever
    # other files, it shares a run with, so the outputs can be compared byte for byte
    command = [sys.executable, *launcher, "-m", "asr", "transcribe", *args, "--model", str(model), "--device", "cpu", "--batch-size", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_two_processes_under_torchrun_write_what_one_process_writes(tiny_checkpoint: Checkpoint, folder: Path, tmp_path: Path) -> None:
    model = tmp_path / "tiny.pt"
    save_checkpoint(tiny_checkpoint, model)
    one, two = run_transcribe(1, model, str(folder), "--format", "jsonl"), run_transcribe(2, model, str(folder), "--format", "jsonl")
    assert one.returncode == two.returncode == 1  # the broken file, reported once
    assert two.stderr.count("broken.wav") == 1 and "1 of 7 inputs failed" in two.stderr
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == 6

    for processes in (1, 2):
        out = tmp_path / f"out{processes}"
        assert run_transcribe(processes, model, str(folder), "-o", str(out), "--format", "jsonl").returncode == 1
        assert run_transcribe(processes, model, str(folder), "-o", str(out), "--format", "srt").returncode == 1
    written = [{p.relative_to(tmp_path / f"out{n}"): p.read_bytes() for p in (tmp_path / f"out{n}").rglob("*") if p.is_file()} for n in (1, 2)]
    assert written[1] == written[0]
    assert len(written[0]) == 7  # 6 srt files and transcripts.jsonl; no part files left over


def test_decoding_in_worker_processes_changes_nothing(recognizer: StreamingRecognizer, folder: Path) -> None:
    items = inputs(folder)
    inline = dict(transcribe_many(recognizer, items, batch_size=3, block_seconds=1.0, workers=0))
    pooled = dict(transcribe_many(recognizer, items, batch_size=3, block_seconds=1.0, workers=2))
    for item in items:
        if isinstance(inline[item], AudioError):
            assert isinstance(pooled[item], AudioError) and str(pooled[item]) == str(inline[item])
        else:
            assert pooled[item] == inline[item]  # the same blocks in the same batches: identical


def test_a_manifest_cannot_make_asr_transcribe_write_outside_its_output_folder(tiny_checkpoint: Checkpoint, tmp_path: Path) -> None:
    """A manifest line climbing out with ".." (a hostile probe wrote /tmp/x/victim.txt this way) is written inside -o."""
    victim = tmp_path / "victim"
    victim.mkdir()
    soundfile.write(victim / "victim.wav", synth_signal(0.5, seed=3), 16000)
    manifest = tmp_path / "work" / "data" / "list.jsonl"
    (manifest.parent / "clips").mkdir(parents=True)
    manifest.write_text(json.dumps({"audio": "clips/../../../victim/victim.wav", "text": "x"}) + "\n")
    save_checkpoint(tiny_checkpoint, tmp_path / "tiny.pt")
    out = tmp_path / "work" / "out"
    result = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", str(manifest), "-o", str(out), "--model", str(tmp_path / "tiny.pt"), "--decoder", "greedy"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in victim.iterdir()) == ["victim.wav"]
    assert [path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()] == ["victim.txt"]


def test_several_processes_write_what_one_process_writes(tiny_checkpoint: Checkpoint, folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny" / "model.pt"
    save_checkpoint(tiny_checkpoint, path)
    build = partial(StreamingRecognizer.from_pretrained, path, "cpu")
    alone, shared, err = io.StringIO(), io.StringIO(), io.StringIO()
    assert transcribe_all(build, [str(folder)], "jsonl", stdout=alone, stderr=io.StringIO(), batch_size=2, processes=1) == 1
    assert transcribe_all(build, [str(folder)], "jsonl", stdout=shared, stderr=err, batch_size=2, processes=2) == 1
    assert "broken.wav" in err.getvalue() and "1 of 7 inputs failed" in err.getvalue()
    one, two = ([json.loads(line) for line in out.getvalue().splitlines()] for out in (alone, shared))
    assert [r["audio"] for r in two] == [r["audio"] for r in one] == [item.given for item in inputs(folder) if item.audio.name != "broken.wav"]
    for a, b in zip(one, two):  # other batch mates: float sums differ in their last bits, the words do not
        assert (a["text"], a["duration"]) == (b["text"], b["duration"])
        assert [(w["word"], w["start"], w["end"]) for w in a["words"]] == [(w["word"], w["start"], w["end"]) for w in b["words"]]


def test_several_processes_need_a_function_that_builds_the_recognizer(recognizer: StreamingRecognizer, folder: Path) -> None:
    with pytest.raises(ValueError, match="need a function that builds the recognizer"):
        transcribe_all(recognizer, [str(folder)], "txt", stdout=io.StringIO(), stderr=io.StringIO(), processes=2)


def test_a_model_that_cannot_load_in_the_processes_fails_with_its_error(folder: Path, tmp_path: Path) -> None:
    build = partial(StreamingRecognizer.from_pretrained, tmp_path / "nowhere" / "model.pt", "cpu")
    with pytest.raises(ValueError, match="nowhere"):
        transcribe_all(build, [str(folder)], "txt", stdout=io.StringIO(), stderr=io.StringIO(), processes=2)


def test_the_default_number_of_processes_follows_audio_cores_files_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 16)
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(64e9))
    assert transcribe.auto_processes(files=500, audio_seconds=100.0) == 1  # too little audio to pay for starting them
    assert transcribe.auto_processes(files=500, audio_seconds=3600.0) == transcribe.MAX_AUTO_PROCESSES
    assert transcribe.auto_processes(files=3, audio_seconds=3600.0) == 3
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(4.6e9))
    assert transcribe.auto_processes(files=500, audio_seconds=3600.0) == 3  # 1.5 GB each
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(1e9))
    assert transcribe.auto_processes(files=500, audio_seconds=3600.0) == 1
    monkeypatch.setattr(worker_pool, "available_memory", lambda: None)  # not Linux: cores and files alone
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 2)
    assert transcribe.auto_processes(files=500, audio_seconds=3600.0) == 2
