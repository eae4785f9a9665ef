"""The caption page in a real headless Chromium, fed a synthesized sentence as its microphone.

Chromium's fake capture device plays a WAV file in a loop as the microphone. The page streams
it to a real `asr serve` on port 0, and the test waits for the sentence as a final caption.
Set ASR_SCREENSHOT=path.png to keep the screenshot (the README's comes from here).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile

from asr.audio import load_audio
from asr.stream import StreamingRecognizer
from tests.server_util import server_in_thread, speak

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (scripts/test.sh installs Debian's chromium)")

SENTENCE = "the meeting starts at ten thirty on monday"  # the default model hears this exactly from espeak-ng's "en" voice


@pytest.fixture
def server_port(default_recognizer: StreamingRecognizer) -> Iterator[tuple[int, threading.Event]]:
    with server_in_thread(default_recognizer) as (port, stop):
        yield port, stop


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence, then 2 s of silence so that it ends as an utterance, as 16 kHz PCM16 WAV."""
    folder = tmp_path_factory.mktemp("page")
    speech = load_audio(speak(SENTENCE, folder / "sentence.wav", voice="en")).numpy()
    path = folder / "microphone.wav"
    soundfile.write(path, np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(32000, np.float32)]), 16000, subtype="PCM_16")
    return path


def launch(p: object, microphone: Path | None) -> object:
    args = ["--autoplay-policy=no-user-gesture-required"]
    if microphone is not None:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox (CI runs as root)
    return p.chromium.launch(executable_path=CHROMIUM, args=args)


def test_the_page_captions_the_microphone_and_survives_a_server_restart(
    server_port: tuple[int, threading.Event], fake_microphone: Path, tmp_path: Path
) -> None:
    port, stop_server = server_port
    with playwright.sync_playwright() as p:
        browser = launch(p, fake_microphone)
        page = browser.new_page(viewport={"width": 900, "height": 600}, bypass_csp=True)  # CSP forbids the test's own evaluated JS
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("#start")
        page.wait_for_selector(".final", timeout=60_000)
        caption = page.inner_text(".final").splitlines()[-1]  # below its time line
        # Offline, the default model hears this file exactly. Through Chromium's fake device and the
        # page's resampler it often misses a letter or a space ('themeting stats at ten thirty on
        # monday'): a small, fragile model. So: few character errors, and most words exact.
        assert jiwer.cer(SENTENCE, caption) <= 0.25, caption
        assert len(set(SENTENCE.split()) & set(caption.split())) >= 4, caption
        # the fake microphone loops: the sentence comes again, moving the level meter and the partial
        page.wait_for_function("document.getElementById('partial').textContent.split(' ').length >= 3", timeout=30_000)
        page.wait_for_function("Number(document.querySelector('.level').getAttribute('aria-valuenow')) > 0", timeout=30_000)
        screenshot = tmp_path / "caption-page.png"
        page.screenshot(path=str(screenshot))
        if os.environ.get("ASR_SCREENSHOT"):
            shutil.copy(screenshot, os.environ["ASR_SCREENSHOT"])

        stop_server.set()  # the server drains the session and closes it with 1001
        page.wait_for_function("document.getElementById('error').textContent.includes('Reconnecting')", timeout=30_000)
        assert "restarting" in page.inner_text("#error")
        browser.close()


def test_a_denied_microphone_is_explained(server_port: tuple[int, threading.Event]) -> None:
    port, _ = server_port
    with playwright.sync_playwright() as p:
        browser = launch(p, None)
        context = browser.new_context(bypass_csp=True)  # no microphone permission granted: headless Chromium denies the request
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("#start")
        page.wait_for_function("!document.getElementById('error').hidden", timeout=30_000)
        assert "denied" in page.inner_text("#error") or "No microphone" in page.inner_text("#error")
        assert page.is_enabled("#start")
        browser.close()


def test_the_page_reflows_at_200_percent_zoom(server_port: tuple[int, threading.Event]) -> None:
    """A 1280 px window at 200% zoom lays out like a 640 CSS px one: nothing may scroll sideways."""
    port, _ = server_port
    with playwright.sync_playwright() as p:
        browser = launch(p, None)
        page = browser.new_page(viewport={"width": 640, "height": 400}, device_scale_factor=2)
        page.goto(f"http://127.0.0.1:{port}/")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert page.evaluate("parseFloat(getComputedStyle(document.getElementById('captions')).fontSize)") >= 24
        browser.close()


def test_the_page_resampler_is_chunking_invariant_and_band_limited(server_port: tuple[int, threading.Event]) -> None:
    """server/static/resampler.js, run in Chromium: 48 kHz -> 16 kHz keeps speech-band tones and removes aliases."""
    port, _ = server_port
    script = """async ([rate, chunks]) => {
        const { SincResampler } = await import('/resampler.js');
        const tone = (f, n) => Float32Array.from({ length: n }, (_, i) => Math.sin(2 * Math.PI * f * i / rate));
        const run = (signal, sizes) => {
            const resampler = new SincResampler(rate, 16000), out = [];
            for (let start = 0, i = 0; start < signal.length; start += sizes[i++ % sizes.length])
                out.push(...resampler.push(signal.subarray(start, start + sizes[i % sizes.length])));
            return out;
        };
        const speech = tone(440, rate).map((v, i) => 0.5 * v + 0.3 * Math.sin(2 * Math.PI * 3000 * i / rate));
        return { whole: run(speech, [rate]), chunked: run(speech, chunks), alias: run(tone(10000, rate), [128]) };
    }"""
    with playwright.sync_playwright() as p:
        browser = launch(p, None)
        page = browser.new_page(bypass_csp=True)
        page.goto(f"http://127.0.0.1:{port}/")
        result = page.evaluate(script, [48000, [128, 1, 333, 4096]])
        browser.close()
    whole, chunked = np.array(result["whole"]), np.array(result["chunked"])
    assert len(chunked) == len(whole) and np.array_equal(chunked, whole)
    t = np.arange(len(whole)) / 16000
    expected = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t)
    assert len(whole) > 15500  # all but the last window's worth of samples
    assert np.abs(whole[200:] - expected[200:]).max() < 2e-3  # past the start-up transient
    assert np.sqrt(np.mean(np.square(result["alias"][200:]))) < 0.01  # 10 kHz is above the new Nyquist rate
