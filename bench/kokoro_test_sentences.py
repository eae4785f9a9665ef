"""Kokoro's speakers saying sentences of a test split: how new are these voices to a model?

Usage:
    .venv/bin/python bench/kokoro_test_sentences.py /work/corpus8/test.jsonl /work/kokoro-test --count 100
    .venv/bin/python bench/kokoro_test_sentences.py /work/corpus8/test.jsonl /work/kokoro-blend-test --kind kokoro-blend
    .venv/bin/python bench/kokoro_test_sentences.py /work/corpus8/test.jsonl /work/kokoro-english-test --kind kokoro-english
    .venv/bin/python bench/kokoro_test_sentences.py /work/corpus8/test.jsonl /work/kokoro-accented-test --kind kokoro-accented
    .venv/bin/asr eval /work/kokoro-test/train.jsonl --no-real-speech --by-voice

Draws ``--count`` distinct clean test sentences (seeded), has Kokoro's speakers say them with the
settings ``asr synth`` would draw for ``--kind`` (``--kokoro``, ``--kokoro-blend``, ``--kokoro-english``,
``--kokoro-english-blend`` or ``--kokoro-accented``), and writes their manifest. The sentences are test
sentences, so no LM holds them; the voices are training voices once a model has trained on that kind
of speech, which is the point: the same files score a model before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.data.manifest import read_manifest  # noqa: E402
from asr.data.synth import plan_added_voices, synthesize_corpus  # noqa: E402
from asr.data.text import Sentence  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("test_manifest", type=Path, help="a test split (asr synth's test.jsonl)")
    parser.add_argument("out_dir", type=Path, help="where the audio and train.jsonl go (outside the repository)")
    parser.add_argument("--count", type=int, default=100, help="sentences, one file each (default: 100)")
    parser.add_argument("--seed", type=int, default=1234, help="the sentences' and speakers' seed (default: 1234)")
    parser.add_argument(
        "--kind",
        choices=("kokoro", "kokoro-blend", "kokoro-english", "kokoro-english-blend", "kokoro-accented"),
        default="kokoro",
        help=(
            "its five Japanese styles in turns, speakers blended from them, its 28 English styles in turns, speakers "
            "blended from those, or its 21 other styles in turns (default: kokoro)"
        ),
    )
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (default: 1)")
    args = parser.parse_args()
    texts = sorted({entry.text for entry in read_manifest(args.test_manifest) if entry.text and entry.condition == "clean"})
    if len(texts) < args.count:
        parser.error(f"{args.test_manifest}: only {len(texts)} distinct clean sentences, fewer than --count {args.count}")
    sentences = [Sentence(text, text) for text in random.Random(args.seed).sample(texts, args.count)]
    planned = plan_added_voices(args.kind, args.count, sentences, seed=args.seed)  # voices in turn, each with a new speaker
    jobs = [dataclasses.replace(job, sentence=sentence) for job, sentence in zip(planned, sentences)]  # each sentence once
    manifest = synthesize_corpus(jobs, args.out_dir, args.jobs)["train"]
    print(f"{len(read_manifest(manifest))} files: {manifest}")


if __name__ == "__main__":
    main()
