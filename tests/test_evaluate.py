"""Evaluation: corpus-level WER/CER per condition, error handling, the table, and both real systems."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.audio import load_audio
from asr.checkpoint import Checkpoint
from asr.data.manifest import ManifestEntry, read_manifest
from asr.evaluate import EngineSystem, PocketsphinxSystem, evaluate
from asr.scoring import OVERALL, UNTAGGED, EvalReport, Utterance, score
from asr.stream import StreamingRecognizer
from asr.tokens import normalize_text
from asr.transcribe import transcribe_file

# pocketsphinx hears espeak-ng's en-us digits reliably; most other sentences come out garbled
SENTENCE = "one two three four five"
OTHER_SENTENCE = "please call me tomorrow morning"


class CannedSystem:
    """Reads the file like a real system (so a missing one raises AudioError), then returns canned text."""

    def __init__(self, name: str, outputs: dict[str, str]) -> None:
        self.name = name
        self.outputs = outputs  # file name -> text
        self.calls: list[str] = []

    def transcribe(self, path: Path) -> str:
        self.calls.append(path.name)
        load_audio(path)
        return self.outputs[path.name]


# file, condition, reference, hypothesis of the "flawed" system
CASES = [
    ("a.wav", "clean", "the cat sat down", "THE CAT sat down."),  # hypothesis normalized too: 0 errors
    ("b.wav", "clean", "Hello, World!", "hello world"),  # reference normalized: 0 errors
    ("c.wav", "noisy", "one two three four", "one two tree four"),  # 1 of 4 words, 1 of 18 chars
    ("d.wav", "noisy", "go home", "go"),  # 1 of 2 words, 5 of 7 chars (" home")
    ("missing.wav", "noisy", "never scored", "never scored"),  # no such file
    ("e.wav", None, "yes", "yes no"),  # 1 insertion on 1 word, 3 on 3 chars
]
VOICES = {"a.wav": "flite:awb", "b.wav": "flite:slt", "c.wav": "flite:awb", "d.wav": "flite:slt"}  # e.wav has none


@pytest.fixture
def manifest_entries(tmp_path: Path) -> list[ManifestEntry]:
    lines = []
    for name, condition, reference, _ in CASES:
        if name != "missing.wav":
            soundfile.write(tmp_path / name, np.zeros(1600, dtype=np.float32), 16000)
        record = {"audio": name, "text": reference, "duration": 0.1} | ({"condition": condition} if condition else {})
        record |= {"voice": VOICES[name]} if name in VOICES else {}
        lines.append(json.dumps(record))
    soundfile.write(tmp_path / "f.wav", np.zeros(1600, dtype=np.float32), 16000)
    lines.append(json.dumps({"audio": "f.wav", "condition": "clean"}))  # no reference text
    (tmp_path / "test.jsonl").write_text("\n".join(lines) + "\n")
    return read_manifest(tmp_path / "test.jsonl")


@pytest.fixture
def report(manifest_entries: list[ManifestEntry]) -> EvalReport:
    flawed, perfect = canned_systems()
    result = evaluate(manifest_entries, [flawed, perfect], progress=False)
    assert "f.wav" not in flawed.calls  # unlabelled entries are not run
    return result


def test_scores_are_corpus_level_per_condition(report: EvalReport) -> None:
    assert report.systems == ("flawed", "perfect")
    assert report.conditions == ("clean", "noisy", UNTAGGED)
    clean, noisy = report.scores[("flawed", "clean")], report.scores[("flawed", "noisy")]
    assert (clean.utterances, clean.wer, clean.cer) == (2, 0.0, 0.0)
    # errors summed over the group: 2 of 6 words (a per-utterance mean would be 37.5 %), 6 of 25 chars
    assert noisy.utterances == 2
    assert (noisy.reference_words, noisy.reference_chars) == (6, 25)
    assert noisy.wer == pytest.approx(2 / 6)
    assert noisy.cer == pytest.approx(6 / 25)
    untagged = report.scores[("flawed", UNTAGGED)]
    assert (untagged.utterances, untagged.wer, untagged.cer) == (1, 1.0, 1.0)


def test_overall_pools_every_utterance(report: EvalReport) -> None:
    overall = report.scores[("flawed", OVERALL)]
    assert overall.utterances == 5
    assert overall.reference_words == 4 + 2 + 4 + 2 + 1
    assert overall.wer == pytest.approx(3 / 13)
    assert overall.cer == pytest.approx(9 / 55)  # chars: 16 + 11 + 18 + 7 + 3
    for condition in (*report.conditions, OVERALL):
        assert report.scores[("perfect", condition)].wer == 0.0
        assert report.scores[("perfect", condition)].cer == 0.0


def test_unreadable_file_is_an_error_and_the_rest_are_scored(report: EvalReport) -> None:
    assert len(report.errors) == 1
    assert report.errors[0].audio.endswith("missing.wav")
    assert "missing.wav" in report.errors[0].message and "not found" in report.errors[0].message
    assert report.unlabelled == 1
    assert [Path(u.audio).name for u in report.utterances] == ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"]
    first = report.utterances[1]
    assert (first.reference, first.hypotheses) == ("hello world", {"flawed": "hello world", "perfect": "hello world"})


def test_format_table(report: EvalReport) -> None:
    lines = report.format_table().splitlines()
    assert lines[0] == "| condition | utterances | flawed WER % | flawed CER % | perfect WER % | perfect CER % |"
    assert lines[2:6] == [
        "| clean | 2 | 0.0 | 0.0 | 0.0 | 0.0 |",
        "| noisy | 2 | 33.3 | 24.0 | 0.0 | 0.0 |",
        "| untagged | 1 | 100.0 | 100.0 | 0.0 | 0.0 |",
        "| overall | 5 | 23.1 | 16.4 | 0.0 | 0.0 |",
    ]
    assert report.system_seconds.keys() == {"flawed", "perfect"}
    assert report.audio_seconds == pytest.approx(0.5)  # five scored files of 0.1 s; the unreadable one is left out
    assert lines[-1].startswith("speed on these 0.0 min of audio: flawed ") and "x real time" in lines[-1]


def test_voice_table_scores_each_voice_and_condition(report: EvalReport) -> None:
    lines = report.format_voice_table().splitlines()
    assert lines[0] == "| voice | condition | utterances | flawed WER % | flawed CER % | perfect WER % | perfect CER % |"
    assert lines[2:] == [
        "| flite:awb | clean | 1 | 0.0 | 0.0 | 0.0 | 0.0 |",
        "| flite:awb | noisy | 1 | 25.0 | 5.6 | 0.0 | 0.0 |",  # c.wav: 1 of 4 words, 1 of 18 chars
        "| flite:slt | clean | 1 | 0.0 | 0.0 | 0.0 | 0.0 |",
        "| flite:slt | noisy | 1 | 50.0 | 71.4 | 0.0 | 0.0 |",  # d.wav: 1 of 2 words, 5 of 7 chars
        f"| {UNTAGGED} | {UNTAGGED} | 1 | 100.0 | 100.0 | 0.0 | 0.0 |",
    ]


def test_to_dict_is_json(report: EvalReport) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    assert data["scores"]["flawed"]["noisy"]["wer"] == pytest.approx(2 / 6)
    assert list(data["scores"]["flawed"]) == ["clean", "noisy", UNTAGGED, OVERALL]
    assert len(data["utterances"]) == 5 and len(data["errors"]) == 1 and data["unlabelled"] == 1
    assert [u["voice"] for u in data["utterances"]] == ["flite:awb", "flite:slt", "flite:awb", "flite:slt", UNTAGGED]


def test_undefined_rates_and_empty_reports() -> None:
    assert score([], []).wer is None
    silent = score([""], ["uh"])  # nothing to divide by: jiwer alone would say 100 %
    assert (silent.utterances, silent.wer, silent.cer) == (1, None, None)
    empty = EvalReport.from_utterances(["x"], [])
    assert empty.format_table().splitlines()[-1] == "| overall | 0 | n/a | n/a |"
    lone = EvalReport.from_utterances(["x"], [Utterance("a.wav", "quiet", "", {"x": ""})])
    assert "| quiet | 1 | n/a | n/a |" in lone.format_table()


def test_systems_must_exist_and_have_unique_names(manifest_entries: list[ManifestEntry]) -> None:
    with pytest.raises(ValueError, match="no systems"):
        evaluate(manifest_entries, [], progress=False)
    with pytest.raises(ValueError, match="unique"):
        evaluate(manifest_entries, [CannedSystem("x", {}), CannedSystem("x", {})], progress=False)


def _speak(text: str, path: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed; it synthesizes the speech for this test")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def pocketsphinx() -> PocketsphinxSystem:
    return PocketsphinxSystem()  # the decoder takes ~0.4 s to load; share it


def test_pocketsphinx_hears_some_words(pocketsphinx: PocketsphinxSystem, tmp_path: Path) -> None:
    text = normalize_text(pocketsphinx.transcribe(_speak(SENTENCE, tmp_path / "speech.wav")))
    assert text
    assert set(text.split()) & set(SENTENCE.split()), text


def test_pocketsphinx_text_does_not_depend_on_the_file_rate(pocketsphinx: PocketsphinxSystem, tmp_path: Path) -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed; it makes the 44.1 kHz copy for this test")
    original = _speak(SENTENCE, tmp_path / "speech.wav")  # espeak-ng writes 22.05 kHz
    resampled = {}
    for rate in (16000, 44100):
        path = tmp_path / f"speech_{rate}.wav"
        subprocess.run(["sox", str(original), "-r", str(rate), str(path)], check=True, capture_output=True)
        assert soundfile.info(str(path)).samplerate == rate
        resampled[rate] = pocketsphinx.transcribe(path)
    assert resampled[16000] == resampled[44100]
    assert resampled[16000]


def test_pocketsphinx_result_does_not_depend_on_earlier_files(pocketsphinx: PocketsphinxSystem, tmp_path: Path) -> None:
    speech = _speak(SENTENCE, tmp_path / "speech.wav")
    other = _speak(OTHER_SENTENCE, tmp_path / "other.wav")
    first = pocketsphinx.transcribe(speech)
    pocketsphinx.transcribe(other)
    assert pocketsphinx.transcribe(speech) == first == PocketsphinxSystem().transcribe(speech)


def test_ours_matches_transcribe_file(tiny_checkpoint: Checkpoint, wav_file: Path) -> None:
    recognizer = StreamingRecognizer(tiny_checkpoint, device="cpu")
    text = EngineSystem(recognizer).transcribe(wav_file)
    assert text  # the tiny model says something, so the comparison means something
    assert text == transcribe_file(recognizer, wav_file).transcript.text


def test_evaluate_with_both_real_systems(
    tiny_checkpoint: Checkpoint, pocketsphinx: PocketsphinxSystem, tmp_path: Path
) -> None:
    speech = _speak(SENTENCE, tmp_path / "speech.wav")
    ours = EngineSystem(StreamingRecognizer(tiny_checkpoint, device="cpu"))
    report = evaluate([ManifestEntry(speech, text=SENTENCE.upper() + ".")], [ours, pocketsphinx], progress=False)
    (utterance,) = report.utterances
    assert utterance.condition == UNTAGGED and utterance.reference == SENTENCE
    assert utterance.hypotheses == {
        "asr (greedy)": normalize_text(ours.transcribe(speech)),
        "pocketsphinx": normalize_text(pocketsphinx.transcribe(speech)),
    }
    assert report.scores[("pocketsphinx", OVERALL)].wer < 1.0
    assert "| overall | 1 |" in report.format_table()


def test_asr_eval_scores_a_seen_speaker_apart_and_real_speech_by_default(tiny_checkpoint: Checkpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asr.checkpoint import save_checkpoint
    from asr.cli import main
    from asr.data.importers import POCKETSPHINX_TESTDATA
    from asr.data.manifest import write_manifest

    save_checkpoint(tiny_checkpoint, tmp_path / "tiny.pt")
    speech = _speak(SENTENCE, tmp_path / "speech.wav")
    write_manifest([ManifestEntry(speech, SENTENCE, 1.0, "clean", "flite:awb"), ManifestEntry(speech, SENTENCE, 1.0, "clean", "flite:kal16")], tmp_path / "test.jsonl")
    common = ["eval", str(tmp_path / "test.jsonl"), "--model", str(tmp_path / "tiny.pt"), "--device", "cpu", "--reference", "none", "--json", str(tmp_path / "r.json")]
    main([*common, "--no-real-speech"])
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["conditions"] == ["clean", "seen speaker"]
    assert [u["voice"] for u in report["utterances"]] == ["flite:awb", "flite:kal16"]
    if POCKETSPHINX_TESTDATA.is_dir():
        main(common)
        assert json.loads((tmp_path / "r.json").read_text())["conditions"] == ["clean", "seen speaker", "real"]
    capsys.readouterr()


def _model_card_plots():
    spec = importlib.util.spec_from_file_location("model_card_plots", Path(__file__).parent.parent / "bench" / "model_card_plots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wer_plot_has_a_bar_per_system_and_condition(report: EvalReport, tmp_path: Path) -> None:
    """bench/model_card_plots.py --eval draws the report's own numbers, overall last, and writes the PNG."""
    plots = _model_card_plots()
    data = report.to_dict()
    figure = plots.wer_figure(data)
    axis = figure.axes[0]
    conditions = ["clean", "noisy", UNTAGGED, OVERALL]
    assert [label.get_text().split("\n")[0] for label in axis.get_xticklabels()] == conditions
    for system, bars in zip(report.systems, axis.containers):
        assert [bar.get_height() for bar in bars] == pytest.approx([100 * (data["scores"][system][c]["wer"] or 0) for c in conditions])
    assert [text.get_text() for text in axis.get_legend().get_texts()] == list(report.systems)
    (tmp_path / "r.json").write_text(json.dumps(data))
    plots.plot_wer_by_condition(tmp_path / "r.json", tmp_path)
    assert (tmp_path / "wer_by_condition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_plot_shows_the_dev_error_only_when_the_run_measured_it() -> None:
    plots = _model_card_plots()
    rows = [{"step": str(step), "epoch": "0", "loss": str(1.0 / step), "dev_error": ""} for step in (20, 40, 60)]
    figure = plots.training_figure(rows)
    assert [axis.get_title() for axis in figure.axes] == ["training loss"]
    assert list(figure.axes[0].lines[0].get_ydata()) == pytest.approx([0.05, 0.025, 1 / 60])
    rows[-1]["dev_error"] = "0.25"
    figure = plots.training_figure(rows)
    assert [axis.get_title() for axis in figure.axes] == ["training loss", "dev error (greedy best path, training voices)"]
    assert list(figure.axes[1].lines[0].get_ydata()) == [25.0]


def test_model_card_plots_refuses_incomplete_arguments(tmp_path: Path) -> None:
    script = Path(__file__).parent.parent / "bench" / "model_card_plots.py"
    for arguments in ([], ["--model", "m.pt"]):
        result = subprocess.run([sys.executable, str(script), *arguments, "--out", str(tmp_path)], capture_output=True, text=True)
        assert result.returncode == 2 and ("nothing to plot" in result.stderr or "--utterance" in result.stderr)


def canned_systems() -> list[CannedSystem]:
    return [
        CannedSystem("flawed", {name: hypothesis for name, _, _, hypothesis in CASES}),
        CannedSystem("perfect", {name: reference for name, _, reference, _ in CASES}),
    ]


def test_several_processes_give_the_same_report_in_manifest_order(manifest_entries: list[ManifestEntry], report: EvalReport) -> None:
    shared = evaluate(manifest_entries, canned_systems(), progress=False, processes=2, build=canned_systems)
    assert shared.scores == report.scores
    assert [u.audio for u in shared.utterances] == [u.audio for u in report.utterances]
    assert [u.hypotheses for u in shared.utterances] == [u.hypotheses for u in report.utterances]
    assert shared.errors == report.errors and shared.unlabelled == report.unlabelled == 1
    assert set(shared.system_seconds) == {"flawed", "perfect"}


def test_several_processes_need_a_function_that_builds_the_systems(manifest_entries: list[ManifestEntry]) -> None:
    with pytest.raises(ValueError, match="need a function that builds the systems"):
        evaluate(manifest_entries, canned_systems(), progress=False, processes=2)
