"""Decoders are built here and nowhere else: from a frozen ``DecoderConfig`` and the model's folder.

The lexicon search (asr/beam.py) needs the word LM shipped beside the model (``lm.pack`` or ``lm.arpa.gz``)
and, for a phone model, the pronunciation lexicon (``lexicon.txt.gz``). Its weights default to
those tuned for the model (``decoder.json`` beside it: ``tuned_search``), which may also name a
narrower beam for a server, where many streams share the cores (``server_search``); greedy decoding
(asr/decoding.py) needs nothing but a character model. Adding a decoder means a module with a
``Decoder`` and a branch in ``build_decoder``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asr.beam import BeamDecoder, default_lexicon, default_lm
from asr.checkpoint import resolve_model_path
from asr.config import BeamConfig, DecoderConfig, from_dict
from asr.decoding import Decoder, GreedyDecoder
from asr.lexicon import Lexicon
from asr.tokens import CHARACTERS, Tokenizer

__all__ = ["build_decoder", "resolve_method", "tuned_search", "server_search", "search_with_beam", "save_tuned_search", "TUNED_SEARCH_FILE", "TUNABLE"]

TUNED_SEARCH_FILE = "decoder.json"
TUNABLE = ("beam_size", "tokens_per_step", "beam_threshold", "lm_weight", "word_score", "prior_weight", "token_priors")  # BeamConfig fields a model may set
SERVER_BEAM = "server_beam_size"  # decoder.json's other key: the beam asr serve uses by default


def _read_tuned(model_folder: Path | None) -> tuple[dict[str, Any], Path | None]:
    """decoder.json's keys (none without one) and its path; ValueError names a malformed file."""
    path = model_folder / TUNED_SEARCH_FILE if model_folder is not None else None
    if path is None or not path.exists():
        return {}, path
    try:
        tuned = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(tuned, dict) or set(tuned) - {*TUNABLE, SERVER_BEAM}:
        raise ValueError(f"{path}: expected an object with some of the keys {', '.join((*TUNABLE, SERVER_BEAM))}; got {tuned!r}")
    return tuned, path


def tuned_search(model_folder: Path | None, **given: Any) -> BeamConfig:
    """The search settings for a model: BeamConfig's defaults, then the model's ``decoder.json``, then ``given``.

    ValueError names the file and key of a malformed ``decoder.json``, or the given settings that make a bad search.
    """
    tuned, path = _read_tuned(model_folder)
    tuned.pop(SERVER_BEAM, None)
    return _search(tuned, path, given)


def server_search(model_folder: Path | None, beam_size: int | None = None) -> BeamConfig | None:
    """The search a server runs: the model's tuned one with ``beam_size``, else with the narrower beam its
    ``decoder.json`` names for servers, where many streams share the cores (``server_beam_size``); None, meaning
    the tuned search as it is, when neither names a beam. ValueError names a malformed file or a bad beam."""
    tuned, path = _read_tuned(model_folder)
    server_beam = tuned.pop(SERVER_BEAM, None)
    if server_beam is not None and (not isinstance(server_beam, int) or isinstance(server_beam, bool) or server_beam < 1):
        raise ValueError(f"{path}: {SERVER_BEAM} must be a whole number of at least 1, got {server_beam!r}")
    beam_size = beam_size if beam_size is not None else server_beam
    return _search(tuned, path, {"beam_size": beam_size}) if beam_size is not None else None


def _search(tuned: dict[str, Any], path: Path | None, given: dict[str, Any]) -> BeamConfig:
    """BeamConfig from decoder.json's search keys (``tuned``, read from ``path``), ``given`` settings winning."""
    from_file = from_dict(BeamConfig, tuned, str(path))  # the file's own faults name the file alone
    if not given:
        return from_file
    where = "search settings " + ", ".join(f"{name}={value!r}" for name, value in given.items())
    return from_dict(BeamConfig, {**tuned, **given}, f"{where} over {path}" if tuned else where)


def search_with_beam(model: str | Path | None, beam_size: int | None) -> BeamConfig | None:
    """``model``'s tuned search with another ``beam_size`` (ValueError if it is not a valid beam); None,
    meaning the tuned search as it is, when ``beam_size`` is None. ``model`` as for ``resolve_model_path``."""
    return tuned_search(resolve_model_path(model).parent, beam_size=beam_size) if beam_size is not None else None


def save_tuned_search(model_folder: Path, search: BeamConfig, server_beam: int | None = None) -> Path:
    """Write the TUNABLE fields of ``search`` (and ``server_beam``, when given) to ``model_folder``/decoder.json; returns its path."""
    path = model_folder / TUNED_SEARCH_FILE
    settings: dict[str, Any] = {name: getattr(search, name) for name in TUNABLE}
    if server_beam is not None:
        settings[SERVER_BEAM] = server_beam
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path


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
    return BeamDecoder(tokenizer, step_seconds, lm, config.beam or tuned_search(model_folder), lexicon)
