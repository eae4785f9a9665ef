"""The shipped default model: trained, and it hears a voice it never trained on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jiwer
import pytest

from asr.checkpoint import load_checkpoint, resolve_model_path
from asr.data.voices import Voice, is_held_out

SENTENCE = "turn on the kitchen lights and set a timer for ten minutes"


def test_default_model_is_a_trained_phone_model_within_30_mb() -> None:
    path = resolve_model_path(None)
    assert sum(file.stat().st_size for file in path.parent.iterdir()) <= 30 * 1024 * 1024
    checkpoint = load_checkpoint(path)
    assert checkpoint.tokenizer.units == "phones"
    assert checkpoint.metadata["trained"] is True and checkpoint.metadata["train_hours"] > 10


@pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (scripts/setup.sh installs it)")
def test_asr_transcribe_without_model_hears_a_held_out_flite_voice(tmp_path: Path) -> None:
    assert is_held_out(Voice("flite", "kal16"))
    speech = tmp_path / "kal16.wav"
    subprocess.run(["flite", "-voice", "kal16", "-t", SENTENCE, "-o", str(speech)], check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-m", "asr.cli", "transcribe", str(speech), "--format", "jsonl"], check=True, capture_output=True, text=True
    )
    text = json.loads(result.stdout.splitlines()[-1])["text"]
    assert jiwer.cer(SENTENCE, text) < 0.3, text  # an untrained model scores ~1.0


def test_the_default_model_ships_its_language_model() -> None:
    from asr.beam import arpa_vocabulary, default_lm
    from asr.checkpoint import resolve_model_path

    lm = default_lm(resolve_model_path(None).parent)
    assert lm.name == "lm.pack"
    assert {"the", "meeting", "monday", "thirty"} <= set(arpa_vocabulary(lm))


@pytest.mark.parametrize("name", ["en-phone-v3", "en-phone-v4", "en-phone-v5", "en-phone-v6", "en-phone-v7", "en-phone-v8", "en-phone-v11", "en-phone-v14", "en-phone-v15", "en-phone-v16", "en-phone-v17", "en-phone-v18", "en-phone-v19", "en-phone-v20", "en-phone-v22", "en-phone-v24", "en-phone-v25", "en-phone-v27", "en-phone-v29", "en-phone-v31", "en-phone-v36"])
def test_the_shipped_phone_models_carry_their_units_lm_and_a_lexicon_for_every_lm_word(name: str) -> None:
    """The phone recipe's models (models/en-phone-v*/README.md)."""
    from asr.beam import arpa_vocabulary, default_lexicon, default_lm
    from asr.lexicon import Lexicon

    folder = resolve_model_path(name).parent
    assert sum(path.stat().st_size for path in folder.glob("*") if path.suffix in (".pt", ".gz")) <= 30 * 1024 * 1024
    checkpoint = load_checkpoint(folder / "model.pt")
    assert checkpoint.tokenizer.units == "phones" and checkpoint.metadata["trained"] is True
    lexicon, words = Lexicon.load(default_lexicon(folder)), arpa_vocabulary(default_lm(folder))
    assert len(words) > 75_000 and [word for word in words if word not in lexicon] == []
