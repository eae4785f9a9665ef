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
from asr.decoding import Word
from asr.formats import caption_cues, cue_block
from asr.stream import StreamingRecognizer
from tests.server_util import server_in_thread, speak

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh installs it)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (scripts/test.sh installs Debian's chromium)")

STATIC = Path(__file__).resolve().parent.parent / "server" / "static"
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


def seconds(clock: str) -> float:
    minutes, secs = clock.split(":")
    return 60 * int(minutes) + float(secs)


def caption_times(page: object, index: int) -> tuple[float, float]:
    """The (start, end) shown above the ``index``-th final caption."""
    shown = page.locator(".final time").nth(index).inner_text()
    start, end = shown.split(" (")[0].split(" – ")
    return seconds(start), seconds(end)


def wait_in_view_below_header(page: object, selector: str) -> None:
    """Wait (5 s at most) until ``selector`` is wholly on screen and not under the sticky header."""
    page.wait_for_function(
        """(selector) => {
            const box = document.querySelector(selector).getBoundingClientRect();
            const header = document.querySelector('header').getBoundingClientRect();
            return box.top >= header.bottom - 1 && box.bottom <= innerHeight + 1;
        }""",
        arg=selector,
        timeout=5_000,
    )


def test_the_page_captions_the_microphone_and_recovers_by_itself_from_a_server_restart(
    default_recognizer: StreamingRecognizer, fake_microphone: Path, tmp_path: Path
) -> None:
    """Captions, a level meter that moves on speech, then the server goes away and comes back on the same
    port: the page keeps trying (it once gave up after 15 s), says so consistently, marks the break,
    and captions again with times that go on from before it (they once restarted at 00:00)."""
    with playwright.sync_playwright() as p:
        with server_in_thread(default_recognizer) as (port, stop_server):
            browser = launch(p, fake_microphone)
            page = browser.new_page(viewport={"width": 900, "height": 600}, bypass_csp=True)  # CSP forbids the test's own evaluated JS
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#start")
            page.wait_for_selector(".final", timeout=60_000)
            assert page.get_attribute("#connection", "data-state") == "live" and "Listening" in page.inner_text("#status")
            caption = page.inner_text(".final").splitlines()[-1]  # below its time line
            # Offline, the default model hears this file exactly. Through Chromium's fake device and the
            # page's resampler it often misses a letter or a space ('themeting stats at ten thirty on
            # monday'): a small, fragile model. So: few character errors, and most words exact.
            assert jiwer.cer(SENTENCE, caption) <= 0.25, caption
            assert len(set(SENTENCE.split()) & set(caption.split())) >= 4, caption
            # the fake microphone loops: the sentence comes again, moving the partial and the meter, which
            # reads speech in dBFS (an amplitude scale once left it near empty)
            page.wait_for_function("document.getElementById('partial').textContent.split(' ').length >= 3", timeout=30_000)
            page.wait_for_function("Number(document.querySelector('.level').getAttribute('aria-valuenow')) >= 40", timeout=30_000)
            screenshot = tmp_path / "caption-page.png"
            page.screenshot(path=str(screenshot))
            if os.environ.get("ASR_SCREENSHOT"):
                shutil.copy(screenshot, os.environ["ASR_SCREENSHOT"])
            before = caption_times(page, page.locator(".final").count() - 1)

            stop_server.set()  # the server drains the session and closes it with 1001
            page.wait_for_function("document.getElementById('connection').dataset.state === 'reconnecting'", timeout=30_000)
            error, status = page.inner_text("#error"), page.inner_text("#status")
            assert "restarting" in error and "Listening" not in status and "`" not in error  # the status never contradicts the banner
            page.set_viewport_size({"width": 360, "height": 640})  # a phone, with the banner up
            wait_in_view_below_header(page, ".break")
            assert page.locator(".break").count() == 1
        with server_in_thread(default_recognizer, port=port):  # the same port: the page finds it by itself
            page.wait_for_function("document.getElementById('connection').dataset.state === 'live'", timeout=40_000)
            assert page.is_hidden("#error")
            page.wait_for_function("document.querySelector('#finals > li:last-child').classList.contains('final')", timeout=60_000)
            after = caption_times(page, page.locator(".final").count() - 1)
            assert after[0] >= before[1]  # the page's clock went on across the break
            wait_in_view_below_header(page, "#finals > li:last-child")
            browser.close()


def test_the_transcript_tools_copy_download_clear_and_the_display_settings_persist(server_port: tuple[int, threading.Event], tmp_path: Path) -> None:
    """Captions are put in through the page's own caption path (as finals from the server would be), so the files are exact."""
    port, _ = server_port
    finals = [
        {"type": "final", "segment": 0, "text": "hello there", "start": 0.2, "end": 1.9, "words": [{"word": "hello", "start": 0.5, "end": 0.9}, {"word": "there", "start": 1.0, "end": 1.4}]},
        {"type": "final", "segment": 1, "text": "good morning", "start": 1.9, "end": 4.0, "words": [{"word": "good", "start": 2.5, "end": 2.8}, {"word": "morning", "start": 2.9, "end": 3.5}]},
    ]  # fmt: skip
    with playwright.sync_playwright() as p:
        browser = launch(p, None)
        context = browser.new_context(bypass_csp=True, accept_downloads=True, permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.route("**/app.js", lambda route: route.fulfill(
            body=(STATIC / "app.js").read_text() + "\nwindow.deliver = (m) => addFinal(m);\n", content_type="text/javascript"
        ))  # fmt: skip
        page.goto(f"http://127.0.0.1:{port}/")
        for final in finals:
            page.evaluate("(m) => window.deliver(m)", final)
        assert page.locator(".final").count() == 2 and page.inner_text(".final time >> nth=0") == "00:00.5 – 00:01.4"  # word times, as in the files
        files = {}
        for kind in ("txt", "srt", "vtt"):
            with page.expect_download() as download:
                page.click(f"[data-download={kind}]")
            files[kind] = Path(download.value.path()).read_text(encoding="utf-8")
            assert download.value.suggested_filename.endswith(f".{kind}")
        assert files["txt"] == "hello there\ngood morning\n"
        page.click("#copy")
        assert page.evaluate("navigator.clipboard.readText()") == files["txt"]
        words = [tuple(Word(w["word"], w["start"], w["end"], 1.0) for w in final["words"]) for final in finals]
        cues = [cue for said in words for cue in caption_cues(said)]
        assert files["srt"] == "\n".join(cue_block("srt", number, *cue) for number, cue in enumerate(cues, start=1))
        assert files["vtt"] == "WEBVTT\n\n" + "\n".join(cue_block("vtt", number, *cue) for number, cue in enumerate(cues, start=1))

        page.click("#clear")
        assert page.locator("#finals > li").count() == 0
        size = page.evaluate("parseFloat(getComputedStyle(document.getElementById('captions')).fontSize)")
        page.click("#larger")
        assert page.evaluate("parseFloat(getComputedStyle(document.getElementById('captions')).fontSize)") > size
        theme = page.get_attribute("html", "data-theme")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.click("#theme")
        assert page.get_attribute("html", "data-theme") != theme and page.evaluate("getComputedStyle(document.body).backgroundColor") != background
        page.reload()
        assert page.get_attribute("html", "data-theme") != theme  # remembered
        assert page.evaluate("parseFloat(getComputedStyle(document.getElementById('captions')).fontSize)") > size
        assert page.get_attribute("link[rel=icon]", "href") == "favicon.svg"
        assert page.evaluate("fetch('/favicon.svg').then((r) => r.headers.get('content-type'))") == "image/svg+xml"
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
        assert "`" not in page.inner_text("#error") and page.get_attribute("#connection", "data-state") == "idle"
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
