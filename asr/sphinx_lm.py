"""pocketsphinx's binary trie language models (``*.lm.bin``), read as n-gram models.

PyPI's pocketsphinx carries CMU's general US English trigram model (``en-us.lm.bin``: 72,547 words,
2.05 M bigrams and 1.67 M trigrams, estimated from far more text than this project has), which
``asr lm build --pocketsphinx-weight`` interpolates into the project's LM. pocketsphinx scores
it word by word, but its ARPA writer garbles it (bigram probabilities like -1.5e28, then a
crash), so the file is read here. Its layout (pocketsphinx 5: ngram_model_trie.c, lm_trie.c,
lm_trie_quant.c), all little-endian:

- "Trie Language Model", the order (one byte), the n-gram counts (uint32 each), the quantization type (int32);
- the quantization bins, float32 in pocketsphinx's log base 1.0001: per middle order 2^16
  probabilities and 2^16 backoff weights, then 2^16 probabilities of the highest order;
- ``counts[0] + 1`` unigrams: float32 probability and backoff (log base 1.0001), uint32 index of
  the first n-gram under it;
- per higher order, bit-packed records of ``(1 + count) * bits`` bits (then 8 spare bytes): the word,
  the backoff and probability bin numbers (16 bits each; the highest order has only a
  probability), and the index of the first record of the next order under it;
- the words: a uint32 length, then the words NUL-separated, in index order.

The trie is reversed: under a word come the words before it, so a bigram record under ``w``
holding ``h`` is ``p(w | h)`` and the backoff weight of the context ``h w``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Container
from pathlib import Path

import numpy as np

from asr.lm import BOS, EOS, UNK, Gram, NGramModel

__all__ = ["pocketsphinx_lm_path", "read_sphinx_lm"]

MAGIC = b"Trie Language Model"
BIN_BITS = 16  # pocketsphinx quantizes every probability and backoff weight to 2^16 bins
LOG_BASE = 1.0001  # pocketsphinx's logmath base


def pocketsphinx_lm_path() -> Path:
    """PyPI pocketsphinx's US English trigram model; ValueError if it is not installed."""
    try:
        import pocketsphinx
    except ImportError:
        raise ValueError("pocketsphinx's language model needs the PyPI package pocketsphinx (one of the project's dependencies)") from None
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us.lm.bin"
    if not path.is_file():
        raise ValueError(f"{path}: not found; reinstall the PyPI package pocketsphinx")
    return path


def read_sphinx_lm(path: Path, words: Container[str] | None = None) -> NGramModel:
    """The trigram model in ``path`` with linear probabilities; with ``words``, only the n-grams all of
    whose words (``<s>`` and ``</s>`` aside) are among them. ValueError names a file of another kind."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 1 + 12:
        raise ValueError(f"{path}: not a pocketsphinx binary language model")
    order = data[len(MAGIC)]
    if order != 3:
        raise ValueError(f"{path}: a {order}-gram model; only trigram models are read")
    offset = len(MAGIC) + 1
    counts = struct.unpack_from("<3I", data, offset)
    offset += 12 + 4  # the counts, the quantization type
    bins = 1 << BIN_BITS
    to_linear = math.log10(LOG_BASE)
    middle_backoff, middle_probability, top_probability = (
        10 ** (np.frombuffer(data, "<f4", bins, offset + 4 * bins * i).astype(np.float64) * to_linear) for i in (1, 0, 2)
    )
    offset += 4 * bins * 3
    unigrams = np.frombuffer(data, np.dtype([("probability", "<f4"), ("backoff", "<f4"), ("next", "<u4")]), counts[0] + 1, offset)
    offset += 12 * (counts[0] + 1)
    word_bits, next_bits = _required_bits(counts[0]), _required_bits(counts[2])
    middle, offset = _records(data, offset, counts[1], [word_bits, BIN_BITS, BIN_BITS, next_bits])
    top, offset = _records(data, offset, counts[2], [word_bits, BIN_BITS])
    (length,) = struct.unpack_from("<I", data, offset)
    vocabulary = [word.decode("utf-8") for word in data[offset + 4 : offset + 4 + length].split(b"\0")[: counts[0]]]
    if len(vocabulary) != counts[0]:
        raise ValueError(f"{path}: {len(vocabulary)} words for {counts[0]} unigrams")
    keep = np.array([words is None or word in (BOS, EOS) or word in words for word in vocabulary])
    probabilities: list[dict[Gram, float]] = [{}, {}, {}, {}]
    backoffs: list[dict[Gram, float]] = [{}, {}, {}, {}]
    for index in np.flatnonzero(keep):
        word = vocabulary[index]
        probabilities[1][(word,)] = 0.0 if word == BOS else 10 ** (float(unigrams[index]["probability"]) * to_linear)
        backoffs[1][(word,)] = 10 ** (float(unigrams[index]["backoff"]) * to_linear)
        for bigram in range(int(unigrams[index]["next"]), int(unigrams[index + 1]["next"])):
            before = middle[0][bigram]
            if not keep[before]:
                continue
            context = (vocabulary[before], word)
            probabilities[2][context] = middle_probability[middle[2][bigram]]
            backoffs[2][context] = middle_backoff[middle[1][bigram]]
            for trigram in range(middle[3][bigram], middle[3][bigram + 1]):
                if keep[top[0][trigram]]:
                    probabilities[3][(vocabulary[top[0][trigram]], *context)] = top_probability[top[1][trigram]]
    probabilities[1].setdefault((UNK,), 0.0)
    return NGramModel(3, probabilities, backoffs, sorted(word for (word,) in probabilities[1] if word not in (BOS, EOS, UNK)))


def _required_bits(largest: int) -> int:
    """Bits pocketsphinx gives a field that holds 0 to ``largest``."""
    return max(1, int(largest).bit_length())


def _records(data: bytes, offset: int, count: int, widths: list[int]) -> tuple[list[list[int]], int]:
    """The fields of ``count + 1`` bit-packed records at ``offset`` (each field as a list), and the offset after them."""
    record_bits = sum(widths)
    size = ((1 + count) * record_bits + 7) // 8 + 8
    buffer = np.frombuffer(data, np.uint8, size, offset)
    starts = np.arange(count + 1, dtype=np.uint64) * np.uint64(record_bits)
    fields = []
    for width in widths:
        fields.append(_bits(buffer, starts, width).tolist())
        starts = starts + np.uint64(width)
    return fields, offset + size


def _bits(buffer: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """The ``width``-bit little-endian fields at bit offsets ``starts``: (R,) uint64 -> (R,) uint64."""
    first_byte = (starts >> np.uint64(3)).astype(np.int64)
    window = np.zeros(len(starts), dtype=np.uint64)
    for k in range(8):  # a field of up to 57 bits lies within 8 bytes of its first
        window |= buffer[first_byte + k].astype(np.uint64) << np.uint64(8 * k)
    return (window >> (starts & np.uint64(7))) & np.uint64((1 << width) - 1)
