"""`asr mic` end to end, driven by --input-file: local and through a real server, Ctrl-C, no sound card."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile

from asr import capture
from asr.audio import load_audio
from asr.captions import caption_source
from asr.checkpoint import resolve_model_path
from asr.capture import FileSource
from asr.decoders import tuned_search
from asr.decoding import Segment
from asr.endpoint import EndpointConfig
from asr.stream import StreamingRecognizer
from tests.conftest import CHARACTER_MODEL
from tests.server_util import server_in_thread, speak
from tests.test_stream import run

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["open the door", "turn on the radio", "good night"]


@pytest.fixture(scope="module")
def three_utterances(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sentences with 1.5 s pauses, as one 16 kHz file."""
    folder = tmp_path_factory.mktemp("mic")
    parts = [load_audio(speak(text, folder / f"{i}.wav")).numpy() for i, text in enumerate(SENTENCES)]
    pause = np.zeros(24000, dtype=np.float32)
    path = folder / "three.wav"
    soundfile.write(path, np.concatenate([parts[0], pause, parts[1], pause, parts[2]]), 16000, subtype="PCM_16")
    return path


def segment_texts(recognizer: StreamingRecognizer, path: Path) -> list[str]:
    """The file in one block through an endpointed stream: each utterance's text."""
    return [s.transcript.text for o in run(recognizer, recognizer.create_stream(endpoint=EndpointConfig()), [load_audio(path)]) for s in o.ended]


@pytest.fixture(scope="module")
def expected_segments(greedy_recognizer: StreamingRecognizer, three_utterances: Path) -> list[str]:
    """What the character model's best path says of each utterance: it does not depend on how audio is chunked.

    A file played live is chunked as the reader keeps up (under load, several blocks at once), and
    a beam search can break a near-tie either way on the last bits that changes; the best path cannot.
    """
    return segment_texts(greedy_recognizer, three_utterances)


GREEDY = ("--model", CHARACTER_MODEL, "--decoder", "greedy")


def asr_mic(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asr.cli", "mic", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def caption_lines(stdout: str) -> list[str]:
    """The committed captions' text, without their '[mm:ss.s - mm:ss.s] ' times."""
    return [line.split("] ", 1)[1] for line in stdout.splitlines() if line.startswith("[")]


def test_local_captions_from_a_file_played_live_with_srt_and_jsonl(three_utterances: Path, expected_segments: list[str], tmp_path: Path) -> None:
    srt, jsonl = tmp_path / "out.srt", tmp_path / "out.jsonl"
    result = asr_mic("--input-file", str(three_utterances), "--speed", "4", "--output", str(srt), "--output", str(jsonl), "--compute", "cpu", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert caption_lines(result.stdout) == expected_segments
    assert len(expected_segments) == 3
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["text"] for r in records] == expected_segments and [r["segment"] for r in records] == [0, 1, 2]
    cue_text = " ".join(line for line in srt.read_text().splitlines() if line and not line[0].isdigit())
    assert cue_text == " ".join(expected_segments)
    assert "--> " in srt.read_text() and "lost" not in result.stderr


def test_captions_with_the_default_model_and_decoder_hear_each_utterance(default_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    """The shipped model's lexicon search, live: the captions say what the same search says of the whole file
    (up to a near-tie broken the other way on chunked float sums: see ``expected_segments``)."""
    result = asr_mic("--input-file", str(three_utterances), "--speed", "4", "--compute", "cpu")
    assert result.returncode == 0, result.stderr
    captions, whole = caption_lines(result.stdout), segment_texts(default_recognizer, three_utterances)
    assert len(captions) == len(whole) == 3
    assert jiwer.wer(" ".join(whole), " ".join(captions)) <= 0.2, (captions, whole)


def test_captions_through_a_real_server_match_local_ones(
    greedy_recognizer: StreamingRecognizer, three_utterances: Path, expected_segments: list[str], tmp_path: Path
) -> None:
    vtt = tmp_path / "out.vtt"
    with server_in_thread(greedy_recognizer) as (port, _):
        result = asr_mic("--input-file", str(three_utterances), "--speed", "4", "--server", f"ws://127.0.0.1:{port}/v1/stream", "--output", str(vtt))
    assert result.returncode == 0, result.stderr
    assert caption_lines(result.stdout) == expected_segments
    assert vtt.read_text().startswith("WEBVTT\n\n00:00:0")


def test_an_unreachable_server_is_a_clear_error(three_utterances: Path) -> None:
    """It once said "captioning ... on ws://..." first, as if it had connected."""
    result = asr_mic("--input-file", str(three_utterances), "--server", "ws://127.0.0.1:9/v1/stream")
    assert result.returncode == 1
    assert "cannot reach the server ws://127.0.0.1:9/v1/stream" in result.stderr and "Traceback" not in result.stderr
    assert "captioning" not in result.stderr


def test_captions_through_a_server_that_restarts_go_on_with_times_that_keep_counting(
    greedy_recognizer: StreamingRecognizer, three_utterances: Path, tmp_path: Path
) -> None:
    """The server drains and comes back on the same port after the first caption: asr mic once
    stopped there. Now it reconnects, the audio meanwhile is captioned, and times go on from the first
    session's; the terminal and the SRT/JSON Lines files give each utterance the same (word) times."""
    srt, jsonl = tmp_path / "out.srt", tmp_path / "out.jsonl"
    with server_in_thread(greedy_recognizer) as (port, stop_server):
        address = f"ws://127.0.0.1:{port}/v1/stream"
        mic = subprocess.Popen(
            [sys.executable, "-m", "asr.cli", "mic", "--input-file", str(three_utterances), "--speed", "2", "--server", address, "--output", str(srt), "--output", str(jsonl)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        first = mic.stdout.readline()  # the first utterance's caption
        stop_server.set()
    with server_in_thread(greedy_recognizer, port=port):
        stdout, stderr = mic.communicate(timeout=120)
    assert mic.returncode == 0, stderr
    assert "lost the server" in stderr and f"reconnected to {address}" in stderr and "not captioned" not in stderr
    lines = [first, *stdout.splitlines()]
    times = [tuple(_seconds(clock) for clock in line[1 : line.index("]")].split(" - ")) for line in lines if line.startswith("[")]
    assert len(times) >= 3 and all(a[1] <= b[0] for a, b in zip(times, times[1:]))  # monotonic across the restart
    assert times[-1][0] > 4.5, times  # "good night" starts about 5 s into the file, not near 00:00
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    spoken = [(r["words"][0]["start"], r["words"][-1]["end"]) for r in records if r["words"]]  # files keep a last, empty segment
    assert np.allclose(spoken, times, atol=0.051)  # the terminal shows tenths
    cues = [line.split(" --> ") for line in srt.read_text().splitlines() if " --> " in line]
    assert np.allclose([_srt_seconds(cues[0][0]), _srt_seconds(cues[-1][1])], [times[0][0], times[-1][1]], atol=0.051)


def _seconds(clock: str) -> float:
    minutes, seconds = clock.split(":")
    return 60 * int(minutes) + float(seconds)


def _srt_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.replace(",", ".").split(":")
    return 3600 * int(hours) + 60 * int(minutes) + float(seconds)


class CapturedBlocks:
    """A live source in lockstep with its reader: each read gets the next 100 ms block, and once
    ``stop`` is set nothing more has been captured, as with a microphone stopped at that moment."""

    sample_rate = 16000

    def __init__(self, path: Path, stop: threading.Event) -> None:
        self.blocks = list(load_audio(path).numpy().reshape(-1)[: len(load_audio(path)) // 1600 * 1600].reshape(-1, 1600))
        self.stop = stop

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        return None if self.stop.is_set() or not self.blocks else self.blocks.pop(0)


def test_stopping_finishes_the_utterance_in_progress(default_recognizer: StreamingRecognizer, three_utterances: Path) -> None:
    """Stop (what Ctrl-C sets) as soon as the second utterance is heard: it is still recognized and committed."""
    stop = threading.Event()
    finals: list[Segment] = []

    def on_partial(text: str) -> None:
        if finals and text:  # the second utterance has begun
            stop.set()

    source = CapturedBlocks(three_utterances, stop)
    caption_source(default_recognizer, default_recognizer.create_stream(source.sample_rate, EndpointConfig()), source, on_partial, finals.append, stop)
    assert [s.index for s in finals] == [0, 1]
    assert finals[1].transcript.text and finals[1].end < 5.0  # the second utterance, cut where the stop came


def test_ctrl_c_exits_cleanly_and_says_what_it_wrote(three_utterances: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "asr.cli", "mic", "--input-file", str(three_utterances), "--output", str(jsonl), "--compute", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stderr is not None
    assert process.stderr.readline().startswith("captioning ")  # printed once the handler is in place
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"wrote {jsonl}" in stderr and jsonl.exists()


def test_without_a_sound_card_mic_says_so_and_list_devices_still_works() -> None:
    if capture.sounddevice is not None and capture.list_input_devices():
        pytest.skip("this machine has an audio input device")
    listing = asr_mic("--list-devices")
    assert listing.returncode == 0 and "no audio input devices" in listing.stdout
    result = asr_mic()
    assert result.returncode == 1
    assert "no audio input device" in result.stderr and "--input-file" in result.stderr and "Traceback" not in result.stderr


def test_a_consumer_that_falls_behind_loses_counted_blocks_not_silent_ones(three_utterances: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "QUEUE_SECONDS", 0.5)  # room for 5 blocks of 0.1 s
    source = FileSource(three_utterances, speed=1000)
    source.start()
    assert source.wait(30)  # the whole file plays while nobody reads
    blocks = []
    while (block := source.read(timeout=5)) is not None:
        blocks.append(block)
    total = -(-soundfile.info(str(three_utterances)).frames // 1600) + 1  # the blocks, and the resampler's flush
    assert source.overflows > 0
    assert len(blocks) + source.overflows == total


def test_a_missing_input_file_is_named(tmp_path: Path) -> None:
    result = asr_mic("--input-file", str(tmp_path / "nope.wav"))
    assert result.returncode == 2 and "nope.wav" in result.stderr and "not found" in result.stderr


def test_decoder_options_with_a_server_are_refused(three_utterances: Path) -> None:
    result = asr_mic("--input-file", str(three_utterances), "--server", "ws://127.0.0.1:9/v1/stream", "--decoder", "greedy")
    assert result.returncode == 2 and "--decoder" in result.stderr


def test_denoise_with_a_server_is_refused(three_utterances: Path) -> None:
    result = asr_mic("--input-file", str(three_utterances), "--server", "ws://127.0.0.1:9/v1/stream", "--denoise")
    assert result.returncode == 2 and "--denoise applies to local recognition" in result.stderr


def test_the_beam_size_widens_the_models_tuned_search_for_local_captions() -> None:
    from server.mic import local_decoder

    tuned = tuned_search(resolve_model_path(None).parent)
    args = argparse.Namespace(model=None, decoder="auto", lm=None, lexicon=None, beam_size=tuned.beam_size + 700)
    assert local_decoder(args).beam == replace(tuned, beam_size=tuned.beam_size + 700)
    assert local_decoder(argparse.Namespace(**{**vars(args), "beam_size": None})).beam is None  # the tuned search, as it is


def test_a_bad_beam_size_is_refused_before_the_microphone_opens(three_utterances: Path) -> None:
    result = asr_mic("--input-file", str(three_utterances), "--beam-size", "0")
    assert result.returncode == 2 and "beam_size must be at least 1" in result.stderr and "captioning" not in result.stderr
    result = asr_mic("--input-file", str(three_utterances), "--server", "ws://127.0.0.1:9/v1/stream", "--beam-size", "500")
    assert result.returncode == 2 and "--beam-size" in result.stderr


@pytest.fixture(scope="module")
def made_up_name(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak("please call zorblax tomorrow", tmp_path_factory.mktemp("name") / "name.wav", voice="en")


def test_a_hotword_makes_a_made_up_name_appear_in_local_captions(made_up_name: Path) -> None:
    plain = asr_mic("--input-file", str(made_up_name), "--speed", "4", "--compute", "cpu")
    boosted = asr_mic("--input-file", str(made_up_name), "--speed", "4", "--compute", "cpu", "--hotword", "Zorblax")
    assert plain.returncode == boosted.returncode == 0, (plain.stderr, boosted.stderr)
    assert "zorblax" not in " ".join(caption_lines(plain.stdout)).split()
    assert "zorblax" in " ".join(caption_lines(boosted.stdout)).split(), boosted.stdout


def test_hotwords_are_sent_to_the_server(default_recognizer: StreamingRecognizer, made_up_name: Path) -> None:
    with server_in_thread(default_recognizer) as (port, _):
        result = asr_mic("--input-file", str(made_up_name), "--speed", "4", "--server", f"ws://127.0.0.1:{port}/v1/stream", "--hotword", "zorblax:12")
    assert result.returncode == 0, result.stderr
    assert "zorblax" in " ".join(caption_lines(result.stdout)).split(), result.stdout


@pytest.mark.parametrize(
    "options, message",
    [(("--hotword", "R2D2"), "letters only"), (("--hotword", "zorblax:loud"), "must be a number"), (("--hotword", "zorblax", "--decoder", "greedy"), "needs the lexicon search")],
)
def test_a_hotword_that_cannot_work_is_refused_before_the_microphone_opens(made_up_name: Path, options: tuple[str, ...], message: str) -> None:
    result = asr_mic("--input-file", str(made_up_name), *options)
    assert result.returncode == 2 and message in result.stderr and "captioning" not in result.stderr


def test_a_hotword_with_a_model_without_an_lm_is_refused(made_up_name: Path) -> None:
    result = asr_mic("--input-file", str(made_up_name), "--model", "en-synth-v1", "--hotword", "zorblax")  # a character model with no LM
    assert result.returncode == 2 and "needs the lexicon search" in result.stderr and "captioning" not in result.stderr
