"""The n-gram estimator: known counts, proper distributions, KenLM agreement, and `asr lm build`."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asr.data.text
from asr.cli import main
from asr.data.text import Sentence, brown_sentences, nlp_corpus_sentences
from asr.lm import BOS, EOS, PRIOR_SHARE, UNK, Gram, NGramModel, _adjusted_counts, _counts, _discount, best_mixture_weights, estimate, interpolated, pruned, read_sentences, write_arpa

CORPUS = ["the cat sat", "the cat ran", "a dog sat", "the dog ran far", "a cat sat on the mat"]
TEXTS = st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=12)  # small texts of five words


def assert_every_context_a_distribution(model: NGramModel, contexts: Iterable[Gram]) -> None:
    """p(w | context) over the vocabulary, </s> and <unk> sums to 1 for each of ``contexts``."""
    words = [*model.vocabulary, EOS, UNK]
    for context in contexts:
        assert sum(model.probability(word, context) for word in words) == pytest.approx(1.0, abs=1e-9), context


def test_counts_and_continuation_counts_are_the_known_ones() -> None:
    counts = _counts(CORPUS, 3)
    assert counts[2][("the", "cat")] == 2 and counts[3][(BOS, "the", "cat")] == 2 and counts[1][(EOS,)] == 5
    adjusted = _adjusted_counts(counts, 3)
    assert adjusted[3] == counts[3]  # the top order keeps raw counts
    assert adjusted[2][("cat", "sat")] == 2  # seen after "the" and after "a": two distinct left words
    assert adjusted[2][(BOS, "the")] == 3  # <s>-initial grams keep raw counts: nothing precedes <s>
    assert adjusted[1][("sat",)] == 2  # "cat sat" and "dog sat"
    assert adjusted[1][("cat",)] == 2 and (BOS,) not in adjusted[1]
    # order-3 count-of-counts: n1 = 17 trigrams seen once, n2 = 1 seen twice (<s> the cat)
    assert _discount(adjusted[3]) == pytest.approx(17 / (17 + 2 * 1))


def test_a_hand_computed_probability() -> None:
    model = estimate(["a b", "a b", "b a"], order=2)
    # bigram counts after "a": (a b) 2, (a </s>) 1. Discount: n1 = 3 bigrams seen once ((<s> b), (b a), (a </s>))
    # and n2 = 3 seen twice ((<s> a), (a b), (b </s>))
    d2 = 3 / (3 + 2 * 3)
    unigram_b = model.probabilities[1][("b",)]
    assert model.probability("b", ("a",)) == pytest.approx((2 - d2) / 3 + d2 * 2 / 3 * unigram_b)


@settings(max_examples=40, deadline=None)
@given(
    sentences=TEXTS,
    order=st.integers(1, 4),
    prior=st.dictionaries(st.sampled_from("cdexyz"), st.floats(1e-6, 10.0), min_size=1),
)
def test_a_vocabulary_prior_keeps_every_context_a_distribution(sentences: list[str], order: int, prior: dict[str, float]) -> None:
    model = estimate(sentences, order, prior)
    assert set(prior) <= set(model.vocabulary)
    assert_every_context_a_distribution(model, {gram[:-1] for n in range(1, order + 1) for gram in model.probabilities[n]} | {("x",)})


def test_words_only_the_prior_knows_get_mass_by_their_frequency() -> None:
    prior = {"bakery": 3.0, "bicycle": 1.0, "the": 50.0}
    model = estimate(["the cat sat", "the dog sat"], 2, prior)
    uniform = 1 / (len(model.vocabulary) + 2)  # the base mixes the prior with a little of the uniform distribution
    base = {word: (1 - PRIOR_SHARE) * uniform + PRIOR_SHARE * prior[word] / sum(prior.values()) for word in ("bakery", "bicycle")}
    assert model.probability("bakery", ()) / model.probability("bicycle", ()) == pytest.approx(base["bakery"] / base["bicycle"])
    assert model.probability("bakery", ("sat",)) > model.probability("zebra", ("sat",))  # known beats <unk>
    with pytest.raises(ValueError, match="positive"):
        estimate(["the cat"], 2, {"cat": 0.0})


@settings(max_examples=40, deadline=None)
@given(
    sentences=TEXTS,
    order=st.integers(1, 4),
)
def test_every_context_is_a_probability_distribution(sentences: list[str], order: int) -> None:
    model = estimate(sentences, order)
    assert_every_context_a_distribution(model, {gram[:-1] for n in range(1, order + 1) for gram in model.probabilities[n]} | {("z",), ("a", "z")})


@settings(max_examples=40, deadline=None)
@given(
    sentences=TEXTS,
    order=st.integers(2, 4),
    share=st.floats(0.0, 1.0),
)
def test_a_pruned_model_keeps_every_context_a_distribution(sentences: list[str], order: int, share: float) -> None:
    full = estimate(sentences, order)
    keep = round(share * len(full.probabilities[order]))
    smaller = estimate(sentences, order, max_top_ngrams=keep)
    assert len(smaller.probabilities[order]) == keep and smaller.probabilities[:order] == full.probabilities[:order]
    assert all(full.probabilities[order][gram] == p for gram, p in smaller.probabilities[order].items())
    assert_every_context_a_distribution(smaller, {gram[:-1] for gram in full.probabilities[order]} | {("z",) * (order - 1)})


@settings(max_examples=40, deadline=None)
@given(
    sentences=TEXTS,
    top_share=st.floats(0.0, 1.0),
    bigram_share=st.floats(0.0, 1.0),
)
def test_pruning_bigrams_too_keeps_every_context_a_distribution_and_every_trigram_its_context(sentences: list[str], top_share: float, bigram_share: float) -> None:
    full = estimate(sentences, 3)
    top, bigrams = round(top_share * len(full.probabilities[3])), round(bigram_share * len(full.probabilities[2]))
    smaller = pruned(full, top, bigrams)
    contexts = {gram[:-1] for gram in smaller.probabilities[3]}
    assert len(smaller.probabilities[3]) == top and contexts <= smaller.probabilities[2].keys()
    assert len(smaller.probabilities[2]) == max(bigrams, len(contexts)) and smaller.probabilities[1] == full.probabilities[1]
    assert all(full.probabilities[n][gram] == p for n in (2, 3) for gram, p in smaller.probabilities[n].items())  # kept ones unchanged
    assert_every_context_a_distribution(smaller, {gram[:-1] for n in (2, 3) for gram in full.probabilities[n]} | {("z",), ("z", "z")})


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=10),
    second=st.lists(st.lists(st.sampled_from("bcde"), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=10),
    order=st.integers(1, 4),
    weight=st.floats(0.01, 0.99),
)
def test_an_interpolated_model_mixes_stored_ngrams_exactly_and_stays_a_distribution(
    first: list[str], second: list[str], order: int, weight: float
) -> None:
    models = [estimate(first, order), estimate(second, order)]
    mixed = interpolated(models, [1 - weight, weight])
    assert set(mixed.vocabulary) == set(models[0].vocabulary) | set(models[1].vocabulary)
    for n in range(1, order + 1):
        assert set(mixed.probabilities[n]) == set(models[0].probabilities[n]) | set(models[1].probabilities[n])
    for gram, p in mixed.probabilities[order].items():  # a word a model never saw gets nothing from it (not its <unk> mass)
        own = [model.probability(gram[-1], gram[:-1]) if (gram[-1],) in model.probabilities[1] else 0.0 for model in models]
        assert p == pytest.approx((1 - weight) * own[0] + weight * own[1])
    assert_every_context_a_distribution(mixed, {gram[:-1] for n in range(1, order + 1) for gram in mixed.probabilities[n]} | {("z",) * (order - 1)})


def test_interpolation_weights_are_checked() -> None:
    models = [estimate(CORPUS, 2), estimate(["a b c"], 2)]
    with pytest.raises(ValueError, match="one weight per model, got 2 models and 1 weights"):
        interpolated(models, [1.0])
    with pytest.raises(ValueError, match="positive and sum to 1"):
        interpolated(models, [0.5, 0.6])
    with pytest.raises(ValueError, match="one order only"):
        interpolated([models[0], estimate(CORPUS, 3)], [0.5, 0.5])


@settings(max_examples=25, deadline=None)
@given(TEXTS, TEXTS, TEXTS, st.floats(0.05, 0.95))
def test_tuned_mixture_weights_are_at_least_as_likely_as_any_others(first: list[str], second: list[str], held_out: list[str], start: float) -> None:
    models = [estimate(first, 2), estimate(second, 2)]
    tuned, perplexity = best_mixture_weights(models, [1 - start, start], held_out)
    assert sum(tuned) == pytest.approx(1) and all(weight >= 0 for weight in tuned)
    for weight in [0.01, 0.2, 0.5, 0.8, 0.99, start]:
        assert perplexity <= best_mixture_weights(models, [1 - weight, weight], held_out, max_iterations=0)[1] * (1 + 1e-6)


def test_mixture_perplexity_scores_each_known_word_as_the_mixture_does() -> None:
    models = [estimate(CORPUS, 2), estimate(["a bird flew far", "the bird sat"], 2)]
    _, perplexity = best_mixture_weights(models, [0.7, 0.3], ["the bird zebra sat"], max_iterations=0)
    mixture = [  # "zebra" no model knows: left out of the likelihood, <unk> in the history of "sat"
        0.7 * models[0].probability("the", (BOS,)) + 0.3 * models[1].probability("the", (BOS,)),
        0.3 * models[1].probability("bird", ("the",)),  # the first model lacks "bird"
        0.7 * models[0].probability("sat", (UNK,)) + 0.3 * models[1].probability("sat", (UNK,)),
        0.7 * models[0].probability(EOS, ("sat",)) + 0.3 * models[1].probability(EOS, ("sat",)),
    ]
    assert perplexity == pytest.approx(math.exp(-sum(map(math.log, mixture)) / 4))
    tuned, _ = best_mixture_weights(models, [0.5, 0.5], ["a bird flew far"] * 3 + ["the cat sat"])
    assert tuned[1] > 0.5  # the held-out text is mostly the second model's
    with pytest.raises(ValueError, match="no held-out words"):
        best_mixture_weights(models, [0.5, 0.5], [])


def test_lm_build_tunes_mixture_weights_on_held_out_text_never_on_excluded_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    web = ["the lights on", "the radio on the lights", "lights on"]
    monkeypatch.setattr(asr.data.text, "nlp_corpus_sentences", lambda: [Sentence(text, text) for text in web])
    (tmp_path / "text.txt").write_text("turn on the lights\nturn the radio on\n")
    (tmp_path / "dev.txt").write_text("The lights on!\nthe radio on\n")
    (tmp_path / "test.txt").write_text("the radio on\n")
    command = ["lm", "build", str(tmp_path / "text.txt"), "--nlp-corpus-weight", "0.1", "-o", str(tmp_path / "lm.arpa")]
    assert main([*command, "--tune-weights", str(tmp_path / "dev.txt")]) == 0
    tuned = capsys.readouterr().out
    assert "interpolation weights tuned on 2 held-out sentences: the text " in tuned and "(at the given weights " in tuned
    web_weight = float(tuned.split("--nlp-corpus-weight ")[1].split(";")[0])
    assert web_weight > 0.5  # the held-out text reads like the web text
    (line,) = [line for line in (tmp_path / "lm.arpa").read_text().splitlines() if line.split("\t")[1:2] == ["lights on"]]
    text_only, web_only = estimate(read_sentences([tmp_path / "text.txt"]), 3), estimate(web, 3)
    mixed = (1 - web_weight) * text_only.probability("on", ("lights",)) + web_weight * web_only.probability("on", ("lights",))
    assert 10 ** float(line.split()[0]) == pytest.approx(mixed, rel=0.01)  # built with the tuned weights
    assert main([*command, "--tune-weights", str(tmp_path / "dev.txt"), "--exclude", str(tmp_path / "test.txt")]) == 0
    assert "tuned on 1 held-out sentences" in capsys.readouterr().out  # a test sentence never tunes them
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--tune-weights", str(tmp_path / "dev.txt"), "-o", str(tmp_path / "lm.arpa")]) == 2
    assert "--tune-weights tunes a mixture's weights: give --brown-weight" in capsys.readouterr().err


def test_pruning_keeps_the_ngrams_the_backoff_would_get_most_wrong() -> None:
    sentences = ["he was well"] * 5 + ["she was well"] * 3 + ["it was ill", "it was late", "she was late"]
    full = estimate(sentences, 3)
    smaller = estimate(sentences, 3, max_top_ngrams=len(full.probabilities[3]) - 3)
    dropped = set(full.probabilities[3]) - set(smaller.probabilities[3])
    assert ("he", "was", "well") not in dropped and (BOS, "he", "was") not in dropped  # seen five times, and unlike their backoffs
    assert all(len(gram) == 3 for gram in dropped) and len(dropped) == 3
    assert estimate(sentences, 1, max_top_ngrams=0).probabilities == estimate(sentences, 1).probabilities  # unigrams are never pruned
    assert pruned(full, 0).probabilities[3] == {} and pruned(full, 10**6).probabilities == full.probabilities
    with pytest.raises(ValueError, match="max_top_ngrams must be 0 or more, got -1"):
        estimate(sentences, 3, max_top_ngrams=-1)
    with pytest.raises(ValueError, match="n-gram limits must be 0 or more, got -2"):
        pruned(full, 5, -2)


@pytest.mark.parametrize(("decimals", "tolerance"), [(6, 1e-5), (2, 0.01)])  # at 2, a probability and a backoff weight each round by 0.005
def test_kenlm_reads_the_arpa_file_and_scores_as_we_do(tmp_path: Path, decimals: int, tolerance: float) -> None:
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm", reason="flashlight-text is not installed")
    dictionary = pytest.importorskip("flashlight.lib.text.dictionary")
    model = estimate(CORPUS, 3)
    write_arpa(model, tmp_path / "lm.arpa", decimals)
    words = [*model.vocabulary, EOS, UNK, BOS, "zebra"]
    word_dict = dictionary.create_word_dict({word: [[word]] for word in words})
    lm = kenlm.KenLM(str(tmp_path / "lm.arpa"), word_dict)
    state, history = lm.start(False), (BOS,)
    for word in ["the", "cat", "ran", "zebra", "far", "dog", EOS]:
        state, score = lm.score(state, word_dict.get_index(word))
        word = UNK if word == "zebra" else word
        assert score == pytest.approx(math.log10(model.probability(word, history)), abs=tolerance), word
        history = (*history, word)


def test_fewer_decimals_write_a_smaller_gzipped_file_with_the_same_ngrams(tmp_path: Path) -> None:
    draw = random.Random(0)
    words = [f"w{n}" for n in range(300)]
    model = estimate([" ".join(draw.choices(words, k=draw.randint(3, 12))) for _ in range(3000)], 3)
    write_arpa(model, tmp_path / "six.arpa.gz")
    write_arpa(model, tmp_path / "two.arpa.gz", decimals=2)
    six, two = ([line.split("\t") for line in gzip.decompress((tmp_path / name).read_bytes()).decode().splitlines()] for name in ("six.arpa.gz", "two.arpa.gz"))
    assert [fields[1:2] for fields in six] == [fields[1:2] for fields in two]  # the same n-grams in the same order
    values = [(float(a), b) for long, short in zip(six, two) if len(long) > 1 for a, b in zip(long[::2], short[::2])]
    assert len(values) > 30_000 and all(len(b.split(".")[1]) == 2 and abs(a - float(b)) <= 0.005 + 1e-6 for a, b in values)
    assert (tmp_path / "two.arpa.gz").stat().st_size < 0.8 * (tmp_path / "six.arpa.gz").stat().st_size


def test_lm_build_normalizes_text_and_leaves_out_excluded_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.txt").write_text("Turn ON the lights!\n\nthe meeting is at noon\n")
    (tmp_path / "test.jsonl").write_text(json.dumps({"audio": "x.wav", "text": "the meeting is at noon"}) + "\n")
    assert read_sentences([tmp_path / "text.txt"], exclude=[tmp_path / "test.jsonl"]) == ["turn on the lights"]
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--exclude", str(tmp_path / "test.jsonl"), "-o", str(tmp_path / "lm.arpa")]) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "ngram 3=4" in arpa and "turn on the\n" in arpa and "meeting" not in arpa
    assert "1 sentences, 4 words; 6 1-grams, 5 2-grams, 4 3-grams" in capsys.readouterr().out
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--decimals", "2", "-o", str(tmp_path / "short.arpa")]) == 0
    entries = [line.split("\t") for line in (tmp_path / "short.arpa").read_text().splitlines() if "\t" in line]
    assert ["turn", "on", "the"] in [fields[1].split() for fields in entries]
    assert all(re.fullmatch(r"-?\d+\.\d\d", value) for fields in entries for value in fields[::2])
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--decimals", "0", "-o", str(tmp_path / "none.arpa")]) == 2
    assert "--decimals must be from 1 to 9, got 0" in capsys.readouterr().err and not (tmp_path / "none.arpa").exists()


def test_lm_build_learns_from_wordnet_examples_except_excluded_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.txt").write_text("turn on the lights\n")
    (tmp_path / "test.txt").write_text("he recited the whole poem without a single trip\n")
    assert read_sentences([tmp_path / "text.txt"], extra=["Turn ON the lights!", "", "a gift, for you"]) == ["turn on the lights"] * 2 + ["a gift for you"]
    command = ["lm", "build", str(tmp_path / "text.txt"), "--wordnet-examples", "--exclude", str(tmp_path / "test.txt"), "-o", str(tmp_path / "lm.arpa")]
    assert main(command) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "turn on the\n" in arpa and "to avoid a\n" in arpa  # WordNet: "he arranged his robes to avoid a trip-up later"
    assert "the whole poem" not in arpa  # its other example of "trip" was excluded
    assert int(capsys.readouterr().out.split("lm.arpa: ")[1].split(" sentences")[0].replace(",", "")) > 30_000


def test_brown_sentences_lose_their_tags_and_keep_only_speakable_sentences(tmp_path: Path) -> None:
    (tmp_path / "cn01").write_text("\n\tHe/pps was/bedz well/rb rid/jj of/in her/ppo ./.\nHe/pps said/vbd ``/`` go/vb ''/'' ./.\n")
    (tmp_path / "cn02").write_text("It/pps cost/vbd $/nn 5/cd ./.\nHe/pps didn't/dod* go/vb ./.\n")  # a symbol and a digit: unspeakable
    (tmp_path / "cats.txt").write_text("cn01 fiction\nthe/at cat/nn sat/vbd\n")  # not a sample: ignored
    assert [(s.spoken, s.text) for s in brown_sentences(tmp_path)] == [
        ("He was well rid of her.", "he was well rid of her"), ("He said go.", "he said go"), ("He didn't go.", "he didn't go"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no Brown corpus files.*scripts/setup.sh"):
        brown_sentences(tmp_path / "missing")


def test_lm_build_learns_from_the_brown_corpus_and_prunes_to_a_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.txt").write_text("turn on the lights\nturn on the lights\nturn on the radio\n")
    command = ["lm", "build", str(tmp_path / "text.txt"), "--brown", "-o", str(tmp_path / "lm.arpa")]
    assert main(command) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "turn on the\n" in arpa and "\tdan morgan told\n" in arpa  # Brown's cn01: "Dan Morgan told himself he would forget Ann Turner."
    assert int(capsys.readouterr().out.split("lm.arpa: ")[1].split(" sentences")[0].replace(",", "")) > 30_000
    (tmp_path / "lm.arpa").unlink()
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--max-top-ngrams", "3", "-o", str(tmp_path / "lm.arpa")]) == 0
    assert "ngram 3=3" in (tmp_path / "lm.arpa").read_text()
    assert main([*command, "--max-top-ngrams", "-1"]) == 2
    assert "max_top_ngrams must be 0 or more, got -1" in capsys.readouterr().err


def test_lm_build_interpolates_a_brown_model_at_a_weight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.txt").write_text("turn on the lights\nturn on the lights\nturn on the radio\n")
    text_only = estimate(read_sentences([tmp_path / "text.txt"]), 3)
    command = ["lm", "build", str(tmp_path / "text.txt"), "--brown-weight", "0.3", "--max-top-ngrams", "50000", "-o", str(tmp_path / "lm.arpa")]
    assert main(command) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "ngram 3=50000" in arpa and "\tdan morgan" in arpa  # Brown's cn01: "Dan Morgan told himself..."
    (line,) = [line for line in arpa.splitlines() if line.endswith("\tturn on the")]
    # the text's "turn on the" keeps 70% of its weight; Brown, which never says it, adds little
    assert 0.7 * text_only.probability("the", ("turn", "on")) <= 10 ** float(line.split()[0]) < 0.75
    with pytest.raises(SystemExit):  # pooled or interpolated, not both
        main([*command, "--brown"])
    assert "argument --brown: not allowed with argument --brown-weight" in capsys.readouterr().err
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--brown-weight", "1", "-o", str(tmp_path / "lm.arpa")]) == 2
    assert "--brown-weight must be between 0 and 1, got 1.0" in capsys.readouterr().err


def test_nlp_corpus_sentences_keep_only_speakable_non_test_sentences(tmp_path: Path) -> None:
    (tmp_path / "builds").mkdir()
    (tmp_path / "builds" / "doc-0.json").write_text(json.dumps([
        "It wasn't worth it.", "It cost $5 and 2 cents.", "lol 😂 ok", "It wasn't worth it.",  # a symbol and digits, an emoji, a repeat
        "Could you pass me the salt, please?", 7,  # a hand-written test sentence; not text at all
    ]))  # fmt: skip
    (tmp_path / "builds" / "doc-1.json").write_text(json.dumps(["We were on a break!"]))
    assert [(s.spoken, s.text) for s in nlp_corpus_sentences(tmp_path)] == [("It wasn't worth it.", "it wasn't worth it"), ("We were on a break!", "we were on a break")]
    (tmp_path / "builds" / "doc-2.json").write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="doc-2.json: not a JSON list of sentences"):
        nlp_corpus_sentences(tmp_path)
    with pytest.raises(ValueError, match="no nlp-corpus files.*scripts/setup.sh"):
        nlp_corpus_sentences(tmp_path / "missing")


def test_the_installed_nlp_corpus_gives_tens_of_thousands_of_sentences() -> None:
    texts = {s.text for s in nlp_corpus_sentences()}
    assert len(texts) > 50_000 and "it wasn't worth it" in texts


def test_lm_build_interpolates_nlp_corpus_phrasing_but_never_its_new_words(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    web = [Sentence(text, text) for text in ("turn the radio off", "turn teh radio off", "the radio off again")]
    monkeypatch.setattr(asr.data.text, "nlp_corpus_sentences", lambda: web)
    (tmp_path / "text.txt").write_text("turn on the radio\nturn the lights off again\n")
    command = ["lm", "build", str(tmp_path / "text.txt"), "--nlp-corpus-weight", "0.25", "-o", str(tmp_path / "lm.arpa")]
    assert main(command) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "\tturn the radio\n" in arpa and "\tthe radio off\n" in arpa  # the web text's phrasing, at its weight
    assert "teh" not in arpa  # a sentence with a word the other text lacks is left out whole
    assert "4 sentences" in capsys.readouterr().out  # the text's two and the web's two with known words
    (line,) = [line for line in arpa.splitlines() if line.endswith("\tturn on the")]
    text_only = estimate(read_sentences([tmp_path / "text.txt"]), 3)
    assert 0.75 * text_only.probability("the", ("turn", "on")) <= 10 ** float(line.split()[0]) < text_only.probability("the", ("turn", "on"))
    assert main([*command, "--brown-weight", "0.8"]) == 2
    assert "--brown-weight + --nlp-corpus-weight must sum to less than 1, got 0.8 + 0.25" in capsys.readouterr().err
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--nlp-corpus-weight", "0", "-o", str(tmp_path / "lm.arpa")]) == 2
    assert "--nlp-corpus-weight must be between 0 and 1, got 0.0" in capsys.readouterr().err


def test_lm_build_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lm", "build", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "lm.arpa")]) == 2
    assert "nope.txt: file not found" in capsys.readouterr().err


def test_a_gzipped_arpa_file_is_byte_reproducible_and_readable(tmp_path: Path) -> None:
    from asr.beam import arpa_vocabulary, default_lm

    model = estimate(CORPUS, 3)
    write_arpa(model, tmp_path / "a" / "lm.arpa.gz")
    write_arpa(model, tmp_path / "b" / "lm.arpa.gz")
    assert (tmp_path / "a" / "lm.arpa.gz").read_bytes() == (tmp_path / "b" / "lm.arpa.gz").read_bytes()
    write_arpa(model, tmp_path / "a" / "lm.arpa")
    assert gzip.decompress((tmp_path / "a" / "lm.arpa.gz").read_bytes()) == (tmp_path / "a" / "lm.arpa").read_bytes()
    assert sorted(arpa_vocabulary(tmp_path / "a" / "lm.arpa.gz")) == model.vocabulary
    assert default_lm(tmp_path / "a") == tmp_path / "a" / "lm.arpa.gz" and default_lm(tmp_path) == tmp_path / "lm.arpa"
