"""Word n-gram language models: interpolated Kneser-Ney estimation, written as ARPA.

The ARPA file is what KenLM (inside flashlight-text, which torchaudio's CTC beam decoder uses)
loads. Estimation follows Chen & Goodman's interpolated Kneser-Ney with one discount per order,
``D = n1 / (n1 + 2 n2)`` from that order's count-of-counts:

    p(w | h) = max(a(h w) - D, 0) / a(h .)  +  gamma(h) * p(w | h')        h' = h without its first word
    gamma(h) = D * N1+(h .) / a(h .)

where ``a`` is the raw count at the highest order (and for n-grams that start with ``<s>``,
which have no left context), and the continuation count ``N1+(. g)``, the number of distinct
words seen before ``g``, at lower orders. Unigrams interpolate with a base distribution: uniform
over the vocabulary plus ``<unk>``, or, given a ``prior`` (word frequencies of general English),
mostly that prior, over the text's words and the prior's together. The prior brings everyday
words the training text never uses into the vocabulary, each with its share of the mass the
text leaves unseen. An ARPA file stores each seen n-gram's interpolated probability and each
context's ``gamma`` as its backoff weight, which gives the same distribution (every context's
probabilities sum to 1; tests check this).

KenLM's ``lmplz`` does the same with three discounts per order; one is simpler and, for the
few hundred thousand words of text this project trains on, is what the test counts pin down.
"""

from __future__ import annotations

import gzip
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.data.manifest import read_manifest
from asr.tokens import normalize_text

__all__ = ["NGramModel", "estimate", "interpolated", "best_mixture_weights", "pruned", "write_arpa", "read_sentences", "english_word_frequencies", "BOS", "EOS", "UNK", "PRIOR_SHARE"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Gram = tuple[str, ...]
PRIOR_SHARE = 0.9  # of the unigram base distribution that follows a prior; the rest is uniform, so no word has none


@dataclass
class NGramModel:
    """Interpolated probabilities of every seen n-gram, and the backoff weight of every context."""

    order: int
    probabilities: list[dict[Gram, float]]  # [n] -> n-gram -> p(w | h), index 0 unused
    backoffs: list[dict[Gram, float]]  # [n] -> n-gram (as a context) -> gamma
    vocabulary: list[str]  # the words, without <s>, </s> and <unk>

    def probability(self, word: str, history: Gram) -> float:
        """p(word | history) by the backoff rule (the last ``order - 1`` words of history count)."""
        history = history[max(0, len(history) - (self.order - 1)) :] if self.order > 1 else ()
        gram = (*history, word)
        if gram in self.probabilities[len(gram)]:
            return self.probabilities[len(gram)][gram]
        if not history:
            return self.probabilities[1][(UNK,)]
        return self.backoffs[len(history)].get(history, 1.0) * self.probability(word, history[1:])


def _counts(sentences: Iterable[str], order: int) -> list[Counter[Gram]]:
    counts: list[Counter[Gram]] = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        words = [BOS, *sentence.split(), EOS]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                counts[n][tuple(words[i : i + n])] += 1
    return counts


def _adjusted_counts(counts: list[Counter[Gram]], order: int) -> list[Counter[Gram]]:
    """Raw counts at the top order and for <s>-initial n-grams; continuation counts below."""
    adjusted: list[Counter[Gram]] = [Counter() for _ in range(order + 1)]
    adjusted[order] = Counter(counts[order])
    for n in range(order - 1, 0, -1):
        for gram in counts[n + 1]:
            adjusted[n][gram[1:]] += 1  # one more distinct left extension
        for gram, count in counts[n].items():
            if gram[0] == BOS:
                adjusted[n][gram] = count
    adjusted[1].pop((BOS,), None)
    return adjusted


def _discount(counts: Counter[Gram]) -> float:
    of_count = Counter(counts.values())
    n1, n2 = of_count[1], of_count[2]
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def _base_distribution(vocabulary: list[str], prior: Mapping[str, float] | None) -> dict[str, float]:
    """The distribution unigrams interpolate with, over the vocabulary, </s> and <unk>."""
    uniform = 1.0 / (len(vocabulary) + 2)
    if not prior:
        return dict.fromkeys([*vocabulary, EOS, UNK], uniform)
    total = sum(prior.values())
    return {word: (1 - PRIOR_SHARE) * uniform + PRIOR_SHARE * prior.get(word, 0.0) / total for word in [*vocabulary, EOS, UNK]}


def estimate(sentences: Iterable[str], order: int = 3, prior: Mapping[str, float] | None = None, max_top_ngrams: int | None = None) -> NGramModel:
    """An interpolated Kneser-Ney model of ``order`` from normalized sentences (words split by spaces).

    ``prior``: word -> frequency (any positive scale); its words join the vocabulary, and the
    unigrams' base distribution follows it (``PRIOR_SHARE``) instead of being uniform.
    ``max_top_ngrams``: keep at most this many n-grams of the highest order (2 or more; ``pruned``).
    """
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    if max_top_ngrams is not None and max_top_ngrams < 0:
        raise ValueError(f"max_top_ngrams must be 0 or more, got {max_top_ngrams}")
    if prior is not None and any(not (value > 0 and math.isfinite(value)) for value in prior.values()):
        raise ValueError("prior frequencies must be positive and finite")
    adjusted = _adjusted_counts(_counts(sentences, order), order)
    if not adjusted[1]:
        raise ValueError("no text to estimate a language model from")
    vocabulary = sorted({word for (word,) in adjusted[1] if word != EOS} | set(prior or ()) - {BOS, EOS, UNK})
    base = _base_distribution(vocabulary, prior)
    probabilities: list[dict[Gram, float]] = [{} for _ in range(order + 1)]
    backoffs: list[dict[Gram, float]] = [{} for _ in range(order + 1)]
    for n in range(1, order + 1):
        discount = _discount(adjusted[n])
        totals: dict[Gram, int] = defaultdict(int)
        kinds: dict[Gram, int] = defaultdict(int)
        for gram, count in adjusted[n].items():
            totals[gram[:-1]] += count
            kinds[gram[:-1]] += 1
        for context in totals:
            if n > 1:
                backoffs[n - 1][context] = discount * kinds[context] / totals[context]
        for gram, count in adjusted[n].items():
            lower = probabilities[n - 1].get(gram[1:]) if n > 1 else base[gram[0]]
            if lower is None:  # a lower-order gram never seen on its own (cannot happen for KN counts)
                lower = base[gram[-1]]
            gamma = backoffs[n - 1][gram[:-1]] if n > 1 else discount * kinds[()] / totals[()]
            probabilities[n][gram] = max(count - discount, 0) / totals[gram[:-1]] + gamma * lower
        if n == 1:  # words of the prior the text never has, and <unk>: their share of the unseen mass
            unseen = discount * kinds[()] / totals[()]
            for word in [*vocabulary, UNK]:
                probabilities[1].setdefault((word,), unseen * base[word])
    model = NGramModel(order, probabilities, backoffs, vocabulary)
    return pruned(model, max_top_ngrams) if max_top_ngrams is not None and order > 1 else model


def pruned(model: NGramModel, max_top_ngrams: int, max_bigrams: int | None = None) -> NGramModel:
    """``model`` with at most ``max_top_ngrams`` n-grams of its highest order, and then, if given, at most
    ``max_bigrams`` bigrams: those whose removal would change it most (Stolcke's relative-entropy pruning,
    1998; SRILM's ``ngram -prune``).

    Removing ``(h, w)`` alone lets ``w`` back off, with ``h``'s backoff weight raised to keep the
    distribution whole; its cost is the relative entropy that adds, weighted by ``P(h)``:

        cost(h, w) = -P(h) [ p(w|h) (log(a'(h) p(w|h')) - log p(w|h)) + (log a'(h) - log a(h)) (1 - S(h)) ]
        a'(h) = (1 - S(h) + p(w|h)) / (1 - S'(h) + p(w|h'))

    where ``S(h)`` and ``S'(h)`` sum ``p(v|h)`` and ``p(v|h')`` over the words ``v`` seen after
    ``h``. After the cheapest are dropped, each context that lost some gets its backoff weight
    recomputed from what it kept, so every context still sums to 1:

        a(h) = (1 - sum_kept p(v|h)) / (1 - sum_kept p(v|h'))

    A bigram that is the context of a kept trigram stays (ARPA needs it), and after bigrams go, every
    trigram context's weight is recomputed, since the ``p(v|h')`` it divides by may have changed.
    Most trigrams of a small text are seen once and cost little: halving the default model's
    LM with the Brown corpus cost a tenth of a point of held-out WER (en-phone-v18's card).
    """
    for limit in (max_top_ngrams, max_bigrams):
        if limit is not None and limit < 0:
            raise ValueError(f"n-gram limits must be 0 or more, got {limit}")
    model = _pruned_order(model, model.order, max_top_ngrams)
    if max_bigrams is None or model.order < 3:
        return model
    model = _pruned_order(model, 2, max_bigrams, protected={gram[:-1] for gram in model.probabilities[3]})
    return _with_backoffs_recomputed(model, 3)


def _pruned_order(model: NGramModel, order: int, limit: int, protected: set[Gram] | frozenset[Gram] = frozenset()) -> NGramModel:
    """``model`` with at most ``limit`` n-grams of ``order`` (``pruned``'s rule; ``protected`` n-grams always stay)."""
    grams = model.probabilities[order]
    lower = {gram: model.probability(gram[-1], gram[1:-1]) for gram in grams}  # p(w | h')
    seen, seen_lower = _sums_by_context(grams), _sums_by_context(lower)
    history_probability: dict[Gram, float] = {}
    costs = {}
    for gram, p in grams.items():
        if gram in protected:
            continue
        context = gram[:-1]
        if context not in history_probability:
            history_probability[context] = math.prod(model.probability(word, context[:i]) for i, word in enumerate(context) if word != BOS)
        raised = (1 - seen[context] + p) / (1 - seen_lower[context] + lower[gram])
        change = p * (math.log(raised * lower[gram]) - math.log(p)) + math.log(raised / model.backoffs[order - 1][context]) * (1 - seen[context])
        costs[gram] = -history_probability[context] * change
    most_costly = sorted(costs, key=lambda gram: (-costs[gram], gram))[: max(0, limit - len(protected & grams.keys()))]
    kept = {gram: grams[gram] for gram in [*(protected & grams.keys()), *most_costly]}
    kept_mass, kept_lower = _sums_by_context(kept), _sums_by_context({gram: lower[gram] for gram in kept})
    order_backoffs = dict(model.backoffs[order - 1])
    for context in {gram[:-1] for gram in grams.keys() - kept.keys()}:
        order_backoffs[context] = (1 - kept_mass[context]) / (1 - kept_lower[context])
    probabilities = [*model.probabilities[:order], kept, *model.probabilities[order + 1 :]]
    return NGramModel(model.order, probabilities, [*model.backoffs[: order - 1], order_backoffs, *model.backoffs[order:]], model.vocabulary)


def interpolated(models: Sequence[NGramModel], weights: Sequence[float]) -> NGramModel:
    """One backoff model for the weighted mixture of ``models`` (static interpolation, as SRILM's
    ``ngram -mix-lm`` writes it): every n-gram any of them stores gets

        p(w | h) = sum_i weight_i p_i(w | h)        (p_i by model i's own backoff; 0 for a word it lacks)

    and every context a backoff weight recomputed so that it still sums to 1, as ``pruned`` does.
    An n-gram none of them stores backs off in the mixture instead of in each model, the one
    approximation. Mixing two texts this way, instead of pooling them, keeps a large text (the
    Brown corpus) from drowning a small one's phrasing, at a weight of one's choosing.
    """
    if not models or len(models) != len(weights):
        raise ValueError(f"need one weight per model, got {len(models)} models and {len(weights)} weights")
    if any(not (0 < weight <= 1) for weight in weights) or not math.isclose(sum(weights), 1.0):
        raise ValueError(f"interpolation weights must be positive and sum to 1, got {list(weights)}")
    order = models[0].order
    if any(model.order != order for model in models):
        raise ValueError(f"models of one order only, got orders {[model.order for model in models]}")

    def mixture(gram: Gram) -> float:
        return sum(weight * _own_probability(model, gram[-1], gram[:-1]) for model, weight in zip(models, weights))

    probabilities: list[dict[Gram, float]] = [{}]
    for n in range(1, order + 1):
        probabilities.append({gram: mixture(gram) for gram in set().union(*(model.probabilities[n] for model in models))})
    mixed = NGramModel(order, probabilities, [{} for _ in range(order + 1)], sorted(set().union(*(model.vocabulary for model in models))))
    return _with_backoffs_recomputed(mixed, 2)


def _own_probability(model: NGramModel, word: str, history: Gram) -> float:
    """p(word | history) by ``model``'s own backoff, 0 for a word it lacks (not its <unk> mass): what a mixture takes from it."""
    return model.probability(word, history) if (word,) in model.probabilities[1] else 0.0


def _with_backoffs_recomputed(model: NGramModel, lowest_order: int) -> NGramModel:
    """``model`` with the backoff weight of every context of its n-grams of ``lowest_order`` and up set so that
    the context sums to 1 again; bottom up, since each order's weights use the ones below."""
    backoffs = list(model.backoffs)
    recomputed = NGramModel(model.order, model.probabilities, backoffs, model.vocabulary)
    for n in range(lowest_order, model.order + 1):
        grams = model.probabilities[n]
        seen = _sums_by_context(grams)
        seen_lower = _sums_by_context({gram: recomputed.probability(gram[-1], gram[1:-1]) for gram in grams})
        backoffs[n - 1] = {context: (1 - seen[context]) / (1 - seen_lower[context]) for context in seen}
    return recomputed


def best_mixture_weights(
    models: Sequence[NGramModel], weights: Sequence[float], sentences: Iterable[str], max_iterations: int = 100_000, tolerance: float = 1e-9
) -> tuple[list[float], float]:
    """The interpolation weights that make held-out ``sentences`` likeliest under the mixture (EM, as
    SRILM's ``compute-best-mix``), starting from ``weights``, and the mixture's perplexity with them. EM
    stops when no weight moves by more than ``tolerance`` in an iteration (it crawls where a weight
    heads for 0, hence the many iterations allowed; each is one pass over a matrix of the held-out
    words' probabilities); ``max_iterations=0`` scores ``weights`` as they are.

    Each word is scored as ``interpolated`` mixes it: p_i by model i's backoff, 0 for a word model i lacks.
    Words no model knows are left out of the likelihood (as KenLM's and SRILM's perplexities leave out
    <unk>), but stay in the history as <unk>.
    """
    vocabulary = set().union(*(model.vocabulary for model in models)) | {EOS}
    rows = []  # [token][model] -> p_i(w | h)
    for sentence in sentences:
        history: Gram = (BOS,)
        for word in [*sentence.split(), EOS]:
            if word in vocabulary:
                rows.append([_own_probability(model, word, history) for model in models])
            history = (*history, word if word in vocabulary else UNK)
    if not rows:
        raise ValueError("no held-out words to tune interpolation weights on")
    probabilities, mix = np.array(rows), np.array(weights, dtype=float)
    for _ in range(max_iterations):
        mix, previous = (probabilities * mix / (probabilities @ mix)[:, None]).mean(axis=0), mix
        if np.abs(mix - previous).max() < tolerance:
            break
    return mix.tolist(), float(np.exp(-np.log(probabilities @ mix).mean()))


def _sums_by_context(values: Mapping[Gram, float]) -> dict[Gram, float]:
    sums: dict[Gram, float] = defaultdict(float)
    for gram, value in values.items():
        sums[gram[:-1]] += value
    return sums


def write_arpa(model: NGramModel, path: Path, decimals: int = 6) -> None:
    """The model in ARPA text format (log10 probabilities and backoff weights); gzipped if ``path`` ends in .gz.

    ``decimals``: digits after the point of each log10 value. Two (a probability to within 1.2%) make a gzipped
    file a third smaller than six, so more n-grams fit a size budget.
    """
    lines = ["", "\\data\\"]
    grams = [dict(model.probabilities[n]) for n in range(model.order + 1)]
    grams[1][(BOS,)] = 0.0  # <s> is never predicted, only a context
    lines += [f"ngram {n}={len(grams[n])}" for n in range(1, model.order + 1)]
    for n in range(1, model.order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(grams[n]):
            entry = f"{_log10(grams[n][gram]):.{decimals}f}\t{' '.join(gram)}"
            if n < model.order and gram in model.backoffs[n]:
                entry += f"\t{_log10(model.backoffs[n][gram]):.{decimals}f}"
            lines.append(entry)
    lines += ["", "\\end\\", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "\n".join(lines).encode("utf-8")
    if path.suffix == ".gz":  # KenLM reads gzipped ARPA; no name and mtime 0 keep the bytes reproducible
        with path.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _log10(value: float) -> float:
    return -99.0 if value <= 0 else math.log10(value)


def english_word_frequencies(count: int) -> dict[str, float]:
    """The ``count`` commonest English words with their frequencies (PyPI ``wordfreq``), as our text normalizes them."""
    try:
        import wordfreq
    except ImportError:
        raise ValueError("a vocabulary prior needs the PyPI package wordfreq (in the project's dev extra)") from None
    frequencies: dict[str, float] = {}
    for word in wordfreq.top_n_list("en", count):
        normalized = normalize_text(word)
        if normalized and " " not in normalized and normalized not in frequencies:
            frequencies[normalized] = wordfreq.word_frequency(word, "en")
    return frequencies


def read_sentences(paths: Iterable[str | Path], exclude: Iterable[str | Path] = (), extra: Iterable[str] = ()) -> list[str]:
    """Normalized sentences from text files (one per line) and manifests (.jsonl: their ``text``),
    then ``extra`` sentences (e.g. WordNet's examples).

    Sentences that occur in any ``exclude`` source (e.g. the test manifest) are dropped, so a
    model is never built from the sentences it will be scored on. Empty lines are skipped.
    """
    excluded = set(_sentences(exclude))
    extra_sentences = (sentence for sentence in map(normalize_text, extra) if sentence)
    return [sentence for sentence in itertools.chain(_sentences(paths), extra_sentences) if sentence not in excluded]


def _sentences(paths: Iterable[str | Path]) -> Iterable[str]:
    for path in map(Path, paths):
        if path.suffix.lower() == ".jsonl":
            texts: Iterable[str] = (entry.text or "" for entry in read_manifest(path))
        else:
            try:
                texts = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                raise ValueError(f"{path}: file not found") from None
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
        for text in texts:
            if sentence := normalize_text(text):
                yield sentence
