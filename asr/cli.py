"""The ``asr`` command line: one entry point, one subcommand per product."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from asr.checkpoint import DEFAULT_MODEL, CheckpointError, random_checkpoint, save_checkpoint
from asr.config import load_config
from asr.formats import FORMATS

__all__ = ["main", "build_parser"]

DESCRIPTION = """\
Streaming speech recognition with a stateful LSTM-CTC model.

Audio of any sample rate and channel count is read, downmixed and resampled to 16 kHz,
turned into log-mel features, and recognized chunk by chunk; streaming results equal
whole-file results. Run 'asr COMMAND --help' for each command's options.
"""

MODEL_HELP = f"checkpoint file, model folder, or a name under models/ (default: {DEFAULT_MODEL})"


def _add_transcribe(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "transcribe",
        help="transcribe audio files, folders or manifests",
        description=(
            "Transcribe audio files (WAV, FLAC, OGG, ...), folders of them (searched recursively) or "
            "JSON Lines manifests. Each file streams through the recognizer in blocks, so long "
            "recordings use bounded memory. Exits non-zero if any input failed, after finishing the others."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder, or manifest (.jsonl)")
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="txt",
        help="txt: text; json: text, words with start/end/conf, duration; jsonl: one JSON object per "
        "input on one line; srt / vtt: captions",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=None,
        help="write <name>.<format> per input here (jsonl: transcripts.jsonl) instead of printing to stdout",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")


def _add_init_model(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "init-model",
        help="write an untrained checkpoint with seeded random weights",
        description=(
            "Write an untrained checkpoint for a model config: the starting point for training, and a "
            "stand-in for testing pipelines end to end. It recognizes nothing."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="TOML with [features] and [model] sections")
    parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_transcribe(commands)
    _add_init_model(commands)
    return parser


def _run_transcribe(args: argparse.Namespace) -> int:
    from asr.stream import StreamingRecognizer
    from asr.transcribe import transcribe_all

    recognizer = StreamingRecognizer.from_pretrained(args.model, device=args.device)
    failures = transcribe_all(recognizer, args.paths, args.format, args.output_dir)
    return 1 if failures else 0


def _run_init_model(args: argparse.Namespace) -> int:
    checkpoint = random_checkpoint(load_config(args.config), seed=args.seed)
    checkpoint.metadata["config"] = str(args.config)
    save_checkpoint(checkpoint, args.output)
    parameters = sum(p.numel() for p in checkpoint.model.parameters())
    print(f"wrote untrained model ({parameters:,} parameters) to {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"transcribe": _run_transcribe, "init-model": _run_init_model}
    try:
        return runners[args.command](args)
    except (CheckpointError, ValueError) as error:
        print(f"asr {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
