"""Packed ARPA language models: the same n-grams and log10 values in under half the bytes of gzipped ARPA.

An ARPA file spells every n-gram out in words, so even gzipped most of its bytes are words said again.
A packed file numbers the words (the unigrams, in the file's order) and stores each longer n-gram as
its context (the position of its first n-1 words among the n-grams one shorter) and its last word, sorted
and delta-coded, and each log10 value as a whole number of ``10**-decimals``. The columns follow a
one-line JSON header in a single xz stream. An LM written with no more decimals than it is packed with (the
shipped LM: two) loses nothing but the minus sign of a zero.

KenLM reads ARPA text (or a binary format of its own that nothing installed here writes), so a decoder
loads a packed LM through ``kenlm_readable``, which unpacks it to a temporary ARPA file that KenLM reads
and that is deleted as soon as it has.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import lzma
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["PACKED_SUFFIX", "MAX_DECIMALS", "is_packed", "pack_arpa", "unpack_arpa", "packed_vocabulary", "kenlm_readable"]

PACKED_SUFFIX = ".pack"
_MAGIC = b"asr-packed-arpa 1\n"
_XZ_PRESET = 9 | lzma.PRESET_EXTREME
_LINES_PER_SLICE = 1 << 16
MAX_DECIMALS = 6  # 10**6 x -99 (log10 of a probability of 0) still fits the int32 columns


def is_packed(path: Path) -> bool:
    """Whether ``path`` names a packed LM (by its suffix, as .gz names a gzipped one)."""
    return Path(path).suffix == PACKED_SUFFIX


@dataclass
class _Order:
    """The n-grams of one order, n >= 2 sorted by (context, word). Shapes: G n-grams of this order."""

    context: np.ndarray  # (G,) int64: position of the first n-1 words among the order below (for n = 1, unused)
    word: np.ndarray  # (G,) int64: the last word's number
    logprob: np.ndarray  # (G,) integers: log10 probability in units of 10**-decimals
    backoff: np.ndarray | None  # (G,) integers: log10 backoff weight likewise, 0 where none; None at the highest order
    has_backoff: np.ndarray | None  # (G,) bool: whether the ARPA file gave a backoff weight


def pack_arpa(source: Path, target: Path, decimals: int = 2) -> None:
    """Pack the ARPA LM ``source`` (.arpa or .arpa.gz) into ``target``, each value rounded to ``decimals``.

    The same ``source`` always gives the same bytes. Raises ValueError naming the file and line of
    anything that is not ARPA, or of an n-gram whose words or context the file lacks.
    """
    if not 1 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"a packed LM keeps 1 to {MAX_DECIMALS} decimals, got {decimals}")
    vocabulary, orders = _read_arpa(Path(source), 10**decimals)
    columns: dict[str, np.ndarray] = {"vocabulary": np.frombuffer("\n".join(vocabulary).encode("utf-8"), dtype=np.uint8)}
    for n, grams in enumerate(orders, start=1):
        columns[f"{n}.logprob"] = grams.logprob.astype(np.int32)
        if grams.backoff is not None and grams.has_backoff is not None:
            columns[f"{n}.backoff"] = grams.backoff.astype(np.int32)
            columns[f"{n}.has_backoff"] = np.packbits(grams.has_backoff)
        if n > 1:
            columns[f"{n}.context"], columns[f"{n}.word"] = _delta_coded(grams.context, grams.word)
    header = {"order": len(orders), "decimals": decimals, "counts": [len(g.logprob) for g in orders],
              "columns": [[name, column.dtype.str, len(column)] for name, column in columns.items()]}  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(target, "wb", preset=_XZ_PRESET) as out:
        out.write(_MAGIC + json.dumps(header).encode("utf-8") + b"\n")
        for column in columns.values():
            out.write(column.tobytes())


def unpack_arpa(source: Path, target: Path) -> None:
    """Write the packed LM ``source`` as ARPA text at ``target`` (gzipped if it ends in .gz)."""
    decimals, vocabulary, orders = _read_packed(Path(source))
    opener = gzip.open if Path(target).suffix == ".gz" else open
    with opener(target, "wb") as out:
        _write_arpa_text(out, vocabulary, orders, decimals)


def packed_vocabulary(path: Path) -> list[str]:
    """The words of a packed LM's unigrams, in its order (<s>, </s> and <unk> among them, where the LM has them)."""
    _, columns = _read_columns(Path(path), 1)
    return _words(columns)


@contextlib.contextmanager
def kenlm_readable(path: Path) -> Iterator[Path]:
    """A path KenLM can read for the LM at ``path``: itself, or for a packed LM an ARPA file unpacked into a
    temporary folder, removed when the block ends (KenLM holds an ARPA LM in memory once it has read it)."""
    if not is_packed(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="asr-lm-") as folder:
        arpa = Path(folder) / "lm.arpa"
        try:
            unpack_arpa(path, arpa)
        except OSError as error:  # a full or read-only temporary folder
            raise ValueError(f"{path}: cannot unpack it into {folder} ({error}); set TMPDIR to a folder with room for its ARPA text") from None
        yield arpa


def _delta_coded(context: np.ndarray, word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(context steps, word steps): each context minus the one before; each word minus the one before it in
    the same context, or the word itself where a context starts. Both small, so xz packs them tightly."""
    context_steps = np.diff(context, prepend=0)
    starts = context_steps != 0
    starts[:1] = True
    word_steps = np.where(starts, word, np.diff(word, prepend=0))
    return context_steps.astype(np.int32), word_steps.astype(np.int32)


def _undelta(context_steps: np.ndarray, word_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_delta_coded`` undone: (context, word), each (G,) int64."""
    context = np.cumsum(context_steps, dtype=np.int64)
    starts = np.diff(context, prepend=-1) != 0
    running = np.cumsum(word_steps, dtype=np.int64)
    start_of = np.maximum.accumulate(np.where(starts, np.arange(len(word_steps)), 0))
    return context, running - running[start_of] + word_steps[start_of]


def _read_arpa(path: Path, scale: int) -> tuple[list[str], list[_Order]]:
    """An ARPA file's words (its unigrams, in order) and its n-grams by order, values scaled to whole numbers."""
    opener = gzip.open if path.suffix == ".gz" else open
    counts: list[int] = []
    rows: list[list[tuple[list[str], float, float | None]]] = []  # per order: (words, log10 probability, log10 backoff)
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    if _read_arpa_line(line.strip(), counts, rows):
                        break
                except ValueError as error:
                    raise ValueError(f"{path}:{number}: {error}") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read it as an ARPA language model ({error})") from None
    if not rows or [len(r) for r in rows] != counts:
        raise ValueError(f"{path}: the n-grams found ({[len(r) for r in rows]}) do not match the header's counts ({counts})")
    vocabulary = [words[0] for words, _, _ in rows[0]]
    number_of = {word: index for index, word in enumerate(vocabulary)}
    orders: list[_Order] = []
    for n, grams in enumerate(rows, start=1):
        try:
            ids = np.array([[number_of[word] for word in words] for words, _, _ in grams], dtype=np.int64).reshape(len(grams), n)
        except KeyError as error:
            raise ValueError(f"{path}: a {n}-gram has the word {error.args[0]!r}, which is not among the unigrams") from None
        logprob = np.array([round(p * scale) for _, p, _ in grams], dtype=np.int64)
        backoff = np.array([round(b * scale) if b is not None else 0 for _, _, b in grams], dtype=np.int64)
        has_backoff = np.array([b is not None for _, _, b in grams], dtype=bool)
        context = ids[:, 0] if n > 1 else np.arange(len(grams), dtype=np.int64)
        for position in range(1, n - 1):  # the context's place among each shorter order, word by word
            context = _positions(orders[position], context, ids[:, position], path, n)
        orders.append(_sorted_order(context, ids[:, -1], logprob, backoff if n < len(rows) else None, has_backoff, n))
    return vocabulary, orders


def _read_arpa_line(line: str, counts: list[int], rows: list[list[tuple[list[str], float, float | None]]]) -> bool:
    """Take one stripped line of an ARPA file into ``counts`` (the header's) or ``rows``; True at its end."""
    if line == "\\end\\":
        return True
    if not line or line == "\\data\\":
        return False
    if line.startswith("ngram ") and not rows:
        counts.append(int(line.split("=", 1)[1]))
    elif line.startswith("\\") and line.endswith("-grams:"):
        if line != f"\\{len(rows) + 1}-grams:" or len(rows) >= len(counts):
            raise ValueError(f"unexpected section {line!r}")
        rows.append([])
    elif rows:
        fields = line.split("\t")
        if len(fields) not in (2, 3) or len(words := fields[1].split(" ")) != len(rows):
            raise ValueError(f"not an ARPA {len(rows)}-gram line: {line[:80]!r}")
        if "\0" in fields[1]:
            raise ValueError("a word holds a NUL character, which ARPA text cannot carry")
        rows[-1].append((words, float(fields[0]), float(fields[2]) if len(fields) == 3 else None))
    else:
        raise ValueError(f"not an ARPA line: {line[:80]!r}")
    return False


def _positions(shorter: _Order, context: np.ndarray, word: np.ndarray, path: Path, n: int) -> np.ndarray:
    """Where each (context, word) pair sits among the sorted n-grams of ``shorter``; ValueError if one is missing."""
    keys = shorter.context * (1 << 24) + shorter.word
    wanted = context * (1 << 24) + word
    if len(wanted) == 0:
        return wanted
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    if len(keys) == 0 or not np.array_equal(keys[found], wanted):
        raise ValueError(f"{path}: a {n}-gram's context is not among the shorter n-grams, as ARPA requires")
    return found


def _sorted_order(context: np.ndarray, word: np.ndarray, logprob: np.ndarray, backoff: np.ndarray | None, has_backoff: np.ndarray, n: int) -> _Order:
    """One order's n-grams, sorted by (context, word) for n >= 2 (unigrams keep the file's order)."""
    if len(word) and word.max() >= 1 << 24:
        raise ValueError(f"at most {1 << 24} words, got {word.max() + 1}")
    keep = np.lexsort((word, context)) if n > 1 else np.arange(len(word))
    return _Order(context[keep], word[keep], logprob[keep], None if backoff is None else backoff[keep], None if backoff is None else has_backoff[keep])


def _read_packed(path: Path) -> tuple[int, list[str], list[_Order]]:
    """(decimals, words, n-grams by order) of a packed LM; ValueError naming the file if it is not one."""
    header, columns = _read_columns(path, None)
    orders = []
    for n in range(1, header["order"] + 1):
        count = header["counts"][n - 1]
        context, word = _undelta(columns[f"{n}.context"], columns[f"{n}.word"]) if n > 1 else (np.zeros(count, np.int64), np.arange(count))
        highest = n == header["order"]
        has_backoff = None if highest else np.unpackbits(columns[f"{n}.has_backoff"], count=count).astype(bool)
        orders.append(_Order(context, word, columns[f"{n}.logprob"], None if highest else columns[f"{n}.backoff"], has_backoff))
    if 0 in columns["vocabulary"]:  # the lines are squeezed of zero bytes as they are written
        raise ValueError(f"{path}: a word holds a NUL character, which ARPA text cannot carry")
    return header["decimals"], _words(columns), orders


def _words(columns: dict[str, np.ndarray]) -> list[str]:
    """The unigrams' words, from the "vocabulary" column (UTF-8, one word per line)."""
    return columns["vocabulary"].tobytes().decode("utf-8").split("\n")


def _read_columns(path: Path, limit: int | None) -> tuple[dict, dict[str, np.ndarray]]:
    """A packed LM's header and its first ``limit`` columns (None: all), each checked to be whole."""
    try:
        with lzma.open(path, "rb") as handle:
            if handle.read(len(_MAGIC)) != _MAGIC:
                raise ValueError("no packed language model's header; asr lm pack writes them")
            header = json.loads(handle.readline())
            columns: dict[str, np.ndarray] = {}
            for name, dtype, length in header["columns"][:limit]:
                data = handle.read(np.dtype(dtype).itemsize * length)
                columns[name] = np.frombuffer(data, dtype=dtype, count=length)
        expected = _column_names(header["order"])[:limit]
        if list(columns) != expected or len(header["counts"]) != header["order"]:
            raise ValueError(f"columns {list(columns)}, where a packed LM of order {header['order']} has {expected}")
    except (OSError, EOFError, lzma.LZMAError, KeyError, TypeError, ValueError) as error:  # json's errors are ValueErrors
        raise ValueError(f"{path}: cannot read it as a packed language model ({error})") from None
    return header, columns


def _column_names(order: int) -> list[str]:
    """The columns a packed LM of ``order`` holds, in the order they are stored."""
    names = ["vocabulary"]
    for n in range(1, order + 1):
        names += [f"{n}.logprob", *([f"{n}.backoff", f"{n}.has_backoff"] if n < order else []), *([f"{n}.context", f"{n}.word"] if n > 1 else [])]
    return names


def _write_arpa_text(out: IO[bytes], vocabulary: list[str], orders: list[_Order], decimals: int) -> None:
    """ARPA text of the n-grams as UTF-8, order by order, written a slice at a time so that no order's text is ever whole in memory.

    Each line is assembled from rows of fixed-width byte tables (``_padded``): the value's text and a tab, the
    words, a newline or a tab, the backoff's text and a newline, gathered side by side for a slice of lines and
    squeezed of their padding in one step. Written by hand because it measures better than formatting lines in
    Python: 1.1 s against 2.1 s for the shipped LM's 5.2 million n-grams, a second off every decoder's start.
    """
    out.write(("\n\\data\\\n" + "".join(f"ngram {n}={len(grams.word)}\n" for n, grams in enumerate(orders, start=1))).encode("utf-8"))
    spaced, bare = _padded(vocabulary, " "), _padded(vocabulary, "")
    line_ends = _padded(["\n", "\t"], "")  # row 1 where a backoff follows
    for n, grams in enumerate(orders, start=1):
        ids = _word_ids(orders, n)
        values = np.unique(np.concatenate([grams.logprob, *([] if grams.backoff is None else [grams.backoff])]))
        spelled = [f"{v / 10**decimals:.{decimals}f}" for v in values.tolist()]
        tabbed, backoffs = _padded(spelled, "\t"), _padded([*spelled, ""], "\n")
        backoffs[-1] = 0  # the last row, all padding, for the n-grams without a backoff
        out.write(f"\n\\{n}-grams:\n".encode("utf-8"))
        for start in range(0, len(ids), _LINES_PER_SLICE):
            rows = slice(start, start + _LINES_PER_SLICE)
            pieces = [tabbed[np.searchsorted(values, grams.logprob[rows])], *(spaced[ids[rows, k]] for k in range(n - 1)), bare[ids[rows, n - 1]]]
            if grams.backoff is None or grams.has_backoff is None:
                pieces.append(line_ends[np.zeros(len(pieces[0]), dtype=np.int64)])
            else:
                has_backoff = grams.has_backoff[rows]
                pieces.append(line_ends[has_backoff.astype(np.int64)])
                pieces.append(backoffs[np.where(has_backoff, np.searchsorted(values, grams.backoff[rows]), len(spelled))])
            lines = np.hstack(pieces)  # (lines, total width) uint8, zero-padded
            out.write(lines[lines != 0].tobytes())
    out.write(b"\n\\end\\\n")


def _padded(texts: list[str], suffix: str) -> np.ndarray:
    """(len(texts), W) uint8: each text and ``suffix`` in UTF-8, zero-padded to the longest (W bytes; no text holds a zero byte)."""
    encoded = [(text + suffix).encode("utf-8") for text in texts]
    width = max(map(len, encoded), default=1)
    return np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)


def _word_ids(orders: list[_Order], n: int) -> np.ndarray:
    """The words of each n-gram of order ``n``, found by following its contexts down the orders: (G, n) int64."""
    grams = orders[n - 1]
    ids = np.empty((len(grams.word), n), dtype=np.int64)
    ids[:, n - 1] = grams.word
    position = grams.context
    for k in range(n - 2, -1, -1):  # orders[k] holds the (k + 1)-grams
        ids[:, k] = orders[k].word[position]
        position = orders[k].context[position]
    return ids
