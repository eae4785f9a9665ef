"""The search governor: a server that falls behind narrows the searches of new utterances, and widens them back."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from asr.beam import BeamDecoder
from asr.config import BeamConfig
from asr.decoding import GreedyDecoder
from asr.lm import estimate, write_arpa
from asr.stream import StreamingRecognizer
from asr.tokens import Tokenizer
from server.governor import MIN_BATCHES, SearchGovernor
from server.metrics import ServerMetrics
from tests.server_util import pcm_chunks, read_all, read_pcm16, running_server, speak, url

pytest.importorskip("flashlight.lib.text.decoder", reason="flashlight-text is not installed")

FULL = 100


@pytest.fixture
def decoder(tmp_path: Path) -> BeamDecoder:
    write_arpa(estimate(["the cat sat on the mat", "a dog ran"], 3), tmp_path / "lm.arpa")
    return BeamDecoder(Tokenizer(), 0.03, tmp_path / "lm.arpa", BeamConfig(beam_size=FULL))


def periods(governor: SearchGovernor, lag: float, count: int, now: float | None = None) -> float:
    """``count`` periods of MIN_BATCHES batches that each lagged ``lag`` seconds, from the clock ``now`` (None: a fresh
    governor, whose first batch starts its first period); the clock at the last batch."""
    step = governor.period / MIN_BATCHES
    if now is None:
        now = 0.0
        governor.observe(lag, now)
    for _ in range(count * MIN_BATCHES):
        now += step
        governor.observe(lag, now)
    return now


def beam_gauge(metrics: ServerMetrics) -> float | None:
    return metrics.registry.get_sample_value("asr_search_beam_size")


def test_a_server_that_falls_behind_narrows_new_searches_down_to_the_floor(decoder: BeamDecoder) -> None:
    metrics = ServerMetrics()
    governor = SearchGovernor(decoder, floor=40, metrics=metrics)
    assert decoder.search().beam_size == FULL and beam_gauge(metrics) == FULL
    now = periods(governor, lag=0.2, count=1)
    assert governor.beam_size == 80 and decoder.beam_limit == 80
    assert decoder.search().beam_size == 80 and beam_gauge(metrics) == 80
    periods(governor, lag=0.2, count=10, now=now)
    assert governor.beam_size == 40 and decoder.search().beam_size == 40  # never below the floor


def test_a_server_that_keeps_up_again_widens_back_to_the_whole_search(decoder: BeamDecoder) -> None:
    governor = SearchGovernor(decoder, floor=40)
    now = periods(governor, lag=0.2, count=3)  # 100 -> 80 -> 64 -> 51
    assert governor.beam_size == 51
    now = periods(governor, lag=governor.slow - 0.001, count=5, now=now)  # between fast and slow: holds
    assert governor.beam_size == 51
    now = periods(governor, lag=0.001, count=2, now=now)
    assert governor.beam_size == 71  # a tenth of the whole beam back per period
    periods(governor, lag=0.001, count=10, now=now)
    assert governor.beam_size == FULL and decoder.beam_limit is None and decoder.search().beam_size == FULL


def test_a_few_slow_batches_are_no_load(decoder: BeamDecoder) -> None:
    governor = SearchGovernor(decoder, floor=40)
    for now in (0.0, 0.5, 1.0, 2.0, 3.0):  # one slow batch per period, as a model warming up
        governor.observe(5.0, now)
    assert governor.beam_size == FULL and decoder.beam_limit is None
    for now in (4.0, 4.3, 4.6, 4.9, 5.2):  # enough batches, but most of them on time
        governor.observe(5.0 if now == 4.3 else 0.02, now)
    assert governor.beam_size == FULL


def test_restore_gives_back_the_whole_search(decoder: BeamDecoder, caplog: pytest.LogCaptureFixture) -> None:
    governor = SearchGovernor(decoder, floor=40)
    with caplog.at_level(logging.INFO, logger="asr.server"):
        periods(governor, lag=0.2, count=2)
        governor.restore()
    assert governor.beam_size == FULL and decoder.beam_limit is None
    assert [record.event for record in caplog.records] == ["search_narrowed", "search_restored"]  # one line each way, not one per step


def test_a_floor_at_the_whole_beam_or_a_greedy_decoder_never_narrows(decoder: BeamDecoder) -> None:
    for governor in (SearchGovernor(decoder, floor=FULL), SearchGovernor(GreedyDecoder(Tokenizer(), 0.03), floor=40)):
        periods(governor, lag=1.0, count=5)
        assert not governor.active and decoder.beam_limit is None


def test_bad_settings_are_refused(decoder: BeamDecoder) -> None:
    with pytest.raises(ValueError, match="narrowest beam must be at least 1, got 0"):
        SearchGovernor(decoder, floor=0)
    with pytest.raises(ValueError, match="need 0 <= fast < slow"):
        SearchGovernor(decoder, floor=40, slow=0.05, fast=0.05)


async def paced_session(address: str, frames: list[bytes], rate: int) -> str:
    """A native session that sends a frame every 5 ms, so that the server steps many small batches; its final text."""
    async with connect(address, compression=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": rate}))
        for frame in frames:
            await ws.send(frame)
            await asyncio.sleep(0.005)
        await ws.send(json.dumps({"type": "stop"}))
        return (await read_all(ws)).final["text"]


def test_a_real_server_narrows_under_load_and_gives_the_whole_search_back_at_shutdown(default_recognizer: StreamingRecognizer, tmp_path: Path) -> None:
    samples, rate = read_pcm16(speak("could you pass me the salt please", tmp_path / "salt.wav"))
    frames = pcm_chunks(samples, [rate // 50])  # 20 ms frames
    full = default_recognizer.decoder.config.beam_size

    async def scenario() -> tuple[list[int], str]:
        async with running_server(default_recognizer, min_beam_size=50) as server:
            server.governor.slow, server.governor.fast, server.governor.period = 1e-9, 0.0, 0.3  # every lag is "behind"
            widths, text = [], ""
            for _ in range(3):
                text = await paced_session(url(server, "/v1/stream"), frames, rate)
                widths.append(server.governor.beam_size)
            return widths, text

    widths, text = asyncio.run(scenario())
    assert widths[-1] < full and widths == sorted(widths, reverse=True) and "salt" in text
    assert default_recognizer.decoder.beam_limit is None and default_recognizer.decoder.search().beam_size == full
