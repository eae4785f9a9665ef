"""Package a trained model for shipping: its checkpoint in float16 or int8, its word LM, and a phone model's lexicon.

The folder it writes is what ``--model NAME`` (or the default model) loads: ``model.pt``, ``lm.arpa.gz`` (or
``lm.pack``, for a packed LM), for a phone model ``lexicon.txt.gz`` holding a pronunciation for every word of the LM, and with
``search`` or ``priors`` the lexicon search's settings tuned for the model (``decoder.json``), its
decoders' defaults.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from asr.arpa_pack import is_packed
from asr.beam import arpa_vocabulary
from asr.checkpoint import load_checkpoint, save_checkpoint
from asr.config import BeamConfig
from asr.decoders import save_tuned_search
from asr.lexicon import Lexicon, pronounce
from asr.priors import estimate_token_priors
from asr.tokens import CHARACTERS

__all__ = ["export_model"]


def export_model(
    model: Path, folder: Path, lm: Path | None = None, lexicon: Path | None = None, weights: str = "float16",
    search: dict[str, float] | None = None, priors: Path | None = None, server_beam: int | None = None,
) -> dict[str, int]:  # fmt: skip
    """Write ``folder``/model.pt (and lm.arpa.gz or lm.pack, lexicon.txt.gz, decoder.json); returns each written file's size in bytes.

    ``weights``: how model.pt stores them (``asr.checkpoint.WEIGHT_STORAGE``).
    A phone model's lexicon is ``lexicon`` when given (it must pronounce every LM word), else built
    from the LM's words by CMUdict and espeak-ng. ``search`` (``BeamConfig`` fields) and the token
    priors estimated on the ``priors`` manifest, when given, become the model's tuned search; ``server_beam``, the
    beam ``asr serve`` uses by default (narrower, where many streams share the cores).
    """
    checkpoint = load_checkpoint(model)
    tuned = None
    if server_beam is not None and not (search or priors is not None):
        raise ValueError("a server beam goes with the tuned search: give the search settings (--beam-size, ...) too")
    if server_beam is not None and server_beam < 1:
        raise ValueError(f"--server-beam-size must be at least 1, got {server_beam}")
    if search or priors is not None:  # first, from the full-precision weights, so that bad settings fail before anything is written
        tuned = BeamConfig(**(search or {}), token_priors=estimate_token_priors(checkpoint, priors) if priors is not None else ())
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(checkpoint, folder / "model.pt", weights=weights)
    written = [folder / "model.pt"]
    if lm is not None:
        written.append(_copy_lm(lm, folder))
        if checkpoint.tokenizer.units != CHARACTERS:
            words = arpa_vocabulary(written[-1])
            chosen = Lexicon.load(lexicon) if lexicon is not None else Lexicon(pronounce(words))
            missing = [word for word in words if word not in chosen]
            if missing:
                raise ValueError(f"{lexicon}: no pronunciation for {len(missing)} words of the LM, e.g. {missing[:5]}")
            chosen.save(folder / "lexicon.txt.gz")
            written.append(folder / "lexicon.txt.gz")
    elif checkpoint.tokenizer.units != CHARACTERS:
        raise ValueError("a phone model decodes with the lexicon search: give its word LM with --lm")
    if tuned is not None:
        written.append(save_tuned_search(folder, tuned, server_beam))
    return {path.name: path.stat().st_size for path in written}


def _copy_lm(source: Path, folder: Path) -> Path:
    """``source`` as ``folder``/lm.pack if it is packed, else as lm.arpa.gz (gzipped here without a timestamp, so that
    it is byte-reproducible); the other name, left from an earlier export, is removed, so that the folder holds the
    one LM its decoders load (``default_lm``)."""
    packed = is_packed(source)
    target, other = (folder / "lm.pack", folder / "lm.arpa.gz") if packed else (folder / "lm.arpa.gz", folder / "lm.pack")
    if packed or source.suffix == ".gz":
        if source.resolve() != target.resolve():  # re-exporting a model folder in place keeps its LM
            shutil.copyfile(source, target)
    else:
        with open(source, "rb") as raw, open(target, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as compressed:
            shutil.copyfileobj(raw, compressed)
    other.unlink(missing_ok=True)
    return target
