"""Plots for a model card: training curves, one held-out utterance's CTC posteriorgram, and WER by
condition beside the reference system.

    .venv/bin/python bench/model_card_plots.py --log runs/default/log.csv \
        --model models/lstm-ctc-en/model.pt --utterance corpus/test/clean/00000.flac \
        --reference "the words said" --out models/lstm-ctc-en
    .venv/bin/asr eval corpus/test.jsonl --json eval.json
    .venv/bin/python bench/model_card_plots.py --eval eval.json --out models/lstm-ctc-en

Writes into --out what its inputs allow: training.png (--log), posteriorgram.png (--model,
--utterance and --reference) and wer_by_condition.png (--eval, an ``asr eval --json`` report).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.features import stack_frames  # noqa: E402
from asr.scoring import OVERALL  # noqa: E402
from asr.stream import StreamingRecognizer  # noqa: E402


def training_figure(rows: list[dict[str, str]]) -> plt.Figure:
    """The loss per logged step of a training log's rows, and beside it the dev error per epoch when the run
    measured one (a run shorter than one pass over its data has none, and gets the loss alone)."""
    steps = [int(r["step"]) for r in rows]
    dev = [(int(r["step"]), 100 * float(r["dev_error"]), int(r["epoch"])) for r in rows if r["dev_error"]]
    figure, axes = plt.subplots(1, 2 if dev else 1, figsize=(11 if dev else 6, 4), squeeze=False)
    loss_axis = axes[0][0]
    loss_axis.plot(steps, [float(r["loss"]) for r in rows], linewidth=1)
    loss_axis.set(xlabel="step", ylabel="CTC loss (per target unit)", title="training loss", yscale="log")
    if dev:
        wer_axis = axes[0][1]
        wer_axis.plot([d[0] for d in dev], [d[1] for d in dev], marker="o")
        for step, wer, epoch in dev:
            wer_axis.annotate(f"epoch {epoch}: {wer:.1f}%", (step, wer), textcoords="offset points", xytext=(4, 6), fontsize=8)
        wer_axis.set(xlabel="step", ylabel="WER % (characters) or PER % (phones)", title="dev error (greedy best path, training voices)")
    figure.tight_layout()
    return figure


def plot_training(log: Path, out: Path) -> None:
    with log.open() as handle:
        figure = training_figure(list(csv.DictReader(handle)))
    figure.savefig(out / "training.png", dpi=120)
    plt.close(figure)


def plot_posteriorgram(model: str, utterance: Path, reference: str, out: Path) -> None:
    recognizer = StreamingRecognizer.from_pretrained(model, device="cpu")
    samples = load_audio(utterance)
    config = recognizer.model.config
    with torch.inference_mode():
        steps = stack_frames(recognizer.logmel(samples), config.stack_frames, config.lookahead_frames)
        posteriors = recognizer.model(steps[None])[0][0].exp().T  # (V, T)
    stream = recognizer.create_stream()
    stream.feed(samples)
    stream.end_input()
    transcript = recognizer.step([stream])[0].ended[-1].transcript
    step = recognizer.step_seconds
    figure, axis = plt.subplots(figsize=(12, 5.5))
    axis.imshow(posteriors.numpy(), aspect="auto", origin="lower", cmap="magma", extent=(0, posteriors.shape[1] * step, -0.5, posteriors.shape[0] - 0.5))
    labels = ["<b>", "␣" if recognizer.tokenizer.separator == " " else "|", *recognizer.tokenizer.tokens[2:]]
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    for word in transcript.words:
        axis.axvspan(word.start, word.end, color="cyan", alpha=0.12)
        axis.text((word.start + word.end) / 2, len(labels) - 0.2, f"{word.word}\n{word.conf:.2f}", ha="center", va="bottom", fontsize=8, color="black")
    axis.set(xlabel="seconds", ylabel="token", ylim=(-0.5, len(labels) + 1.5))
    axis.set_title(f"reference: {reference}\nhypothesis: {transcript.text}", fontsize=9)
    figure.tight_layout()
    figure.savefig(out / "posteriorgram.png", dpi=120)
    plt.close(figure)


def wer_figure(report: dict) -> plt.Figure:
    """Grouped bars of an ``asr eval --json`` report: each condition's WER (and overall, last), a bar per system."""
    systems, conditions = report["systems"], [*report["conditions"], OVERALL]
    scores = report["scores"]
    width = 0.8 / len(systems)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.3 * len(conditions)), 4.2))
    for index, system in enumerate(systems):
        rates = [scores[system][condition]["wer"] for condition in conditions]
        positions = [c + (index - (len(systems) - 1) / 2) * width for c in range(len(conditions))]
        bars = axis.bar(positions, [100 * (rate or 0.0) for rate in rates], width, label=system)
        axis.bar_label(bars, labels=["n/a" if rate is None else f"{100 * rate:.1f}" for rate in rates], fontsize=7, padding=2)
    utterances = [scores[systems[0]][condition]["utterances"] for condition in conditions]
    axis.set_xticks(range(len(conditions)), [f"{condition}\n({count} utt.)" for condition, count in zip(conditions, utterances)], fontsize=8)
    axis.set(ylabel="WER %", title="word error rate by condition")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_wer_by_condition(report: Path, out: Path) -> None:
    figure = wer_figure(json.loads(report.read_text()))
    figure.savefig(out / "wer_by_condition.png", dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, help="the run's log.csv, for training.png")
    parser.add_argument("--model", help="the checkpoint, for posteriorgram.png")
    parser.add_argument("--utterance", type=Path, help="a held-out audio file, for posteriorgram.png")
    parser.add_argument("--reference", help="what is said in it, for posteriorgram.png")
    parser.add_argument("--eval", type=Path, help="an `asr eval --json` report, for wer_by_condition.png")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    posteriorgram = (args.model, args.utterance, args.reference)
    if any(posteriorgram) and not all(posteriorgram):
        parser.error("posteriorgram.png needs --model, --utterance and --reference together")
    if not (args.log or all(posteriorgram) or args.eval):
        parser.error("nothing to plot: give --log, --eval, or --model with --utterance and --reference")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.log:
        plot_training(args.log, args.out)
    if all(posteriorgram):
        plot_posteriorgram(args.model, args.utterance, args.reference, args.out)
    if args.eval:
        plot_wer_by_condition(args.eval, args.out)


if __name__ == "__main__":
    main()
