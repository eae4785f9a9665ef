"""Decoders are built here and nowhere else: from a frozen ``DecoderConfig`` and the model's folder.

The lexicon search (asr/beam.py) needs the word LM shipped beside the model (``lm.arpa.gz``)
and, for a phone model, the pronunciation lexicon (``lexicon.txt.gz``); greedy decoding
(asr/decoding.py) needs nothing but a character model. Adding a decoder means a module with a
``Decoder`` and a branch in ``build_decoder``.
"""

from __future__ import annotations

from pathlib import Path

from asr.beam import BeamDecoder, default_lexicon, default_lm
from asr.config import DecoderConfig
from asr.decoding import Decoder, GreedyDecoder
from asr.lexicon import Lexicon
from asr.tokens import CHARACTERS, Tokenizer

__all__ = ["build_decoder", "resolve_method"]


def resolve_method(config: DecoderConfig, tokenizer: Tokenizer, model_folder: Path | None) -> str:
    """The method ``config`` asks for, with "auto" resolved: the lexicon search when the model's LM is there."""
    if config.method != "auto":
        return config.method
    has_lm = config.lm is not None or (model_folder is not None and default_lm(model_folder).exists())
    return "lexicon" if has_lm or tokenizer.units != CHARACTERS else "greedy"


def build_decoder(tokenizer: Tokenizer, step_seconds: float, model_folder: Path | None, config: DecoderConfig = DecoderConfig()) -> Decoder:
    """The decoder ``config`` asks for; ValueError names a missing LM or lexicon, or a method the model cannot use."""
    method = resolve_method(config, tokenizer, model_folder)
    if method == "greedy":
        return GreedyDecoder(tokenizer, step_seconds)
    lm = Path(config.lm) if config.lm is not None else default_lm(model_folder) if model_folder is not None else None
    if lm is None or not lm.exists():
        raise ValueError(f"the lexicon search needs a word LM: {lm or 'none given'} not found (give one with --lm)")
    lexicon = None
    if tokenizer.units != CHARACTERS:
        path = Path(config.lexicon) if config.lexicon is not None else default_lexicon(model_folder) if model_folder is not None else None
        if path is None or not path.exists():
            raise ValueError(f"a phone model's lexicon search needs a pronunciation lexicon: {path or 'none given'} not found (give one with --lexicon)")
        lexicon = Lexicon.load(path)
    return BeamDecoder(tokenizer, step_seconds, lm, config.beam, lexicon)
