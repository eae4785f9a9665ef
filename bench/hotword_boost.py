#!/usr/bin/env python3
"""What a hotword's boost buys where the word is said, and what it costs where it is not, in one run.

    .venv/bin/python bench/hotword_boost.py corpus/test.jsonl --conditions clean noisy telephone --limit 150 --boosts 3 5 7 10

Each file is searched once without hotwords (the whole file as one utterance, as ``asr transcribe``
searches a sentence). Then, at every ``--boosts`` value:
- said: each file whose transcript missed a word of its reference that the LM knows (of 4 letters
  or more; the first such word) is searched again with that word as its hotword: how many files get
  the word back, and the WER of those files;
- not said: each file is searched with a word of another file's reference that its own lacks
  (drawn with ``--seed``): in how many files the word appears, and the WER of all files.
Tune on dev (training voices), report test.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import jiwer
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.beam import BeamDecoder, arpa_vocabulary, default_lm  # noqa: E402
from asr.checkpoint import load_checkpoint, resolve_model_path  # noqa: E402
from asr.config import DecoderConfig  # noqa: E402
from asr.data.manifest import read_manifest  # noqa: E402
from asr.decoders import build_decoder, tuned_search  # noqa: E402
from asr.decoding import Emissions  # noqa: E402
from asr.features import LogMel  # noqa: E402
from asr.offline import file_log_probs  # noqa: E402
from asr.tokens import normalize_text  # noqa: E402

MIN_LETTERS = 4  # shorter words are mostly function words, which nobody gives as hotwords


@dataclass(frozen=True)
class Case:
    """One file: its emissions, reference and transcript without hotwords, the word it missed (if any) and a word it does not say."""

    emissions: Emissions
    reference: str
    transcript: str
    missed: str | None
    not_said: str


def transcript(decoder: BeamDecoder, emissions: Emissions, hotword: str | None = None, boost: float | None = None) -> str:
    search = decoder.search(hotwords=[(hotword, boost)] if hotword else ())
    search.accept(emissions)
    return search.finish()[0].text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="JSON Lines with reference text")
    parser.add_argument("--model", default=None, help="checkpoint, folder or name under models/ (default: the shipped model)")
    parser.add_argument("--boosts", type=float, nargs="+", default=[3.0, 5.0, 7.0, 10.0], help="hotword boosts to try, in LM log10 units")
    parser.add_argument("--conditions", nargs="+", default=None, help="only files of these conditions (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="the first N files (of those conditions) only")
    parser.add_argument("--seed", type=int, default=0, help="draws the words that are not said")
    args = parser.parse_args()

    torch.set_num_threads(1)
    path = resolve_model_path(args.model)
    checkpoint = load_checkpoint(path)
    step_seconds = checkpoint.model.config.stack_frames * checkpoint.features.hop_length / checkpoint.features.sample_rate
    decoder = build_decoder(checkpoint.tokenizer, step_seconds, path.parent, DecoderConfig(method="lexicon", beam=tuned_search(path.parent)))
    if not isinstance(decoder, BeamDecoder):
        parser.error("hotwords need the lexicon search: the model ships no LM")
    known = set(arpa_vocabulary(default_lm(path.parent)))
    entries = [e for e in read_manifest(args.manifest) if e.text and (args.conditions is None or e.condition in args.conditions)][: args.limit]
    logmel = LogMel(checkpoint.features)
    searched = []
    for entry in tqdm(entries, desc="without hotwords", unit="file"):
        emissions = Emissions.of(file_log_probs(checkpoint, entry.audio, logmel))
        searched.append((emissions, normalize_text(str(entry.text)), transcript(decoder, emissions)))
    candidates = sorted({word for _, reference, _ in searched for word in reference.split() if word in known and len(word) >= MIN_LETTERS})
    rng = random.Random(args.seed)
    cases = []
    for emissions, reference, said in searched:
        missed = [word for word in reference.split() if word not in said.split() and word in known and len(word) >= MIN_LETTERS]
        not_said = rng.choice([word for word in candidates if word not in reference.split()])
        cases.append(Case(emissions, reference, said, missed[0] if missed else None, not_said))
    said_cases = [case for case in cases if case.missed]

    def wer(chosen: list[Case], transcripts: list[str]) -> float:
        return 100 * jiwer.wer([case.reference for case in chosen], transcripts)

    print(f"{len(cases)} files of {args.manifest}; {len(said_cases)} missed a known word of {MIN_LETTERS}+ letters")
    print(f"without hotwords: WER {wer(said_cases, [c.transcript for c in said_cases]):.1f}% on those, {wer(cases, [c.transcript for c in cases]):.1f}% on all\n")
    print("| boost | said: word recovered | said: WER % | not said: word inserted | not said: WER % |\n|---:|---:|---:|---:|---:|")
    for boost in args.boosts:
        with_missed = [transcript(decoder, case.emissions, case.missed, boost) for case in tqdm(said_cases, desc=f"boost {boost:g}, said", unit="file", leave=False)]
        with_other = [transcript(decoder, case.emissions, case.not_said, boost) for case in tqdm(cases, desc=f"boost {boost:g}, not said", unit="file", leave=False)]
        recovered = sum(case.missed in text.split() for case, text in zip(said_cases, with_missed))
        inserted = sum(case.not_said in text.split() for case, text in zip(cases, with_other))
        print(f"| {boost:g} | {recovered} of {len(said_cases)} | {wer(said_cases, with_missed):.1f} | {inserted} of {len(cases)} | {wer(cases, with_other):.1f} |", flush=True)


if __name__ == "__main__":
    main()
