"""pocketsphinx's binary trie LMs read as n-gram models: round trips through pocketsphinx's own writer, the
installed US English model scored as pocketsphinx scores it, and `asr lm build --pocketsphinx-weight`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import asr.sphinx_lm
from asr.cli import main
from asr.lm import BOS, NGramModel, estimate, read_sentences, write_arpa
from asr.sphinx_lm import pocketsphinx_lm_path, read_sphinx_lm

pocketsphinx = pytest.importorskip("pocketsphinx")
CORPUS = ["the cat sat", "the cat ran", "a dog sat", "the dog ran far", "a cat sat on the mat", "turn the radio off"]


def sphinx_binary(model: NGramModel, folder: Path) -> Path:
    """``model`` written as ARPA, read by pocketsphinx and written again in its binary trie format."""
    write_arpa(model, folder / "lm.arpa")
    path = folder / "lm.bin"
    pocketsphinx.NGramModel.readfile(str(folder / "lm.arpa")).write(str(path), pocketsphinx.NGramModel.str_to_type("bin"))
    return path


def sphinx_log10(scorer: object, word: str, history: tuple[str, ...]) -> float:
    """pocketsphinx's own score of ``word`` after ``history``, as a log10 probability."""
    return scorer.prob([word, *reversed(history)]) * math.log10(1.0001)  # type: ignore[attr-defined]


def test_a_binary_model_reads_back_as_the_model_it_was_written_from(tmp_path: Path) -> None:
    model = estimate(CORPUS, 3)
    read = read_sphinx_lm(sphinx_binary(model, tmp_path))
    for n in (2, 3):
        assert read.probabilities[n].keys() == model.probabilities[n].keys()
        for gram, p in model.probabilities[n].items():
            assert read.probabilities[n][gram] == pytest.approx(p, rel=2e-3), gram  # pocketsphinx keeps log base 1.0001 integers
    assert {gram for gram in read.probabilities[1] if gram != (BOS,)} == model.probabilities[1].keys()
    assert read.vocabulary == model.vocabulary
    words = [*model.vocabulary, "</s>"]
    for history in [(), ("the",), ("the", "cat"), ("a", "dog"), ("mat", "radio")]:  # seen, backed off, never seen
        for word in words:
            assert math.log10(read.probability(word, history)) == pytest.approx(math.log10(model.probability(word, history)), abs=2e-3), (word, history)


def test_only_ngrams_of_the_given_words_are_read(tmp_path: Path) -> None:
    read = read_sphinx_lm(sphinx_binary(estimate(CORPUS, 3), tmp_path), words={"the", "cat", "sat", "ran"})
    assert read.vocabulary == ["cat", "ran", "sat", "the"]
    assert ("the", "cat", "sat") in read.probabilities[3] and ("<s>", "the") in read.probabilities[2]  # <s> and </s> always count
    assert not any("dog" in gram or "a" in gram for n in (1, 2, 3) for gram in read.probabilities[n])


def test_a_file_of_another_kind_is_named(tmp_path: Path) -> None:
    (tmp_path / "lm.arpa").write_text("\\data\\\nngram 1=1\n")
    with pytest.raises(ValueError, match="lm.arpa: not a pocketsphinx binary language model"):
        read_sphinx_lm(tmp_path / "lm.arpa")
    write_arpa(estimate(CORPUS, 2), tmp_path / "bigram.arpa")
    pocketsphinx.NGramModel.readfile(str(tmp_path / "bigram.arpa")).write(str(tmp_path / "bigram.bin"), pocketsphinx.NGramModel.str_to_type("bin"))
    with pytest.raises(ValueError, match="bigram.bin: a 2-gram model; only trigram models are read"):
        read_sphinx_lm(tmp_path / "bigram.bin")


def test_the_installed_us_english_model_reads_as_pocketsphinx_scores_it() -> None:
    path = pocketsphinx_lm_path()
    read = read_sphinx_lm(path, words={"pass", "me", "the", "salt", "please", "of", "zucchini", "aardvark"})
    scorer = pocketsphinx.NGramModel.readfile(str(path))
    for word, history in [("the", ("of",)), ("salt", ("me", "the")), ("please", ("the", "salt")), ("zucchini", ("of", "the")), ("aardvark", ("pass", "me"))]:
        assert math.log10(read.probability(word, history)) == pytest.approx(sphinx_log10(scorer, word, history), abs=1e-3), (word, history)


def test_lm_build_mixes_in_pocketsphinx_ngrams_of_known_words_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    sphinx = sphinx_binary(estimate(["turn the radio off", "turn the music up", "the radio off again"], 3), tmp_path)
    monkeypatch.setattr(asr.sphinx_lm, "pocketsphinx_lm_path", lambda: sphinx)
    (tmp_path / "text.txt").write_text("turn on the radio\nturn the lights off again\n")
    command = ["lm", "build", str(tmp_path / "text.txt"), "--pocketsphinx-weight", "0.4", "-o", str(tmp_path / "lm.arpa")]
    assert main(command) == 0
    arpa = (tmp_path / "lm.arpa").read_text()
    assert "\tturn the radio\n" in arpa and "\tthe radio off\n" in arpa  # pocketsphinx's phrasing, at its weight
    assert "music" not in arpa and "\tup" not in arpa  # its n-grams with words the text lacks are left out
    (line,) = [line for line in arpa.splitlines() if line.endswith("\tturn on the")]
    text_only = estimate(read_sentences([tmp_path / "text.txt"]), 3)
    assert 0.6 * text_only.probability("the", ("turn", "on")) <= 10 ** float(line.split()[0]) < text_only.probability("the", ("turn", "on"))
    assert main([*command, "--brown-weight", "0.7"]) == 2
    assert "--brown-weight + --pocketsphinx-weight must sum to less than 1, got 0.7 + 0.4" in capsys.readouterr().err
    assert main([*command, "--order", "4"]) == 2
    assert "--order must be 3, got 4" in capsys.readouterr().err
    assert main([*command, "--max-bigrams", "10"]) == 2
    assert "--max-bigrams prunes after --max-top-ngrams: give both" in capsys.readouterr().err
    assert main([*command, "--max-top-ngrams", "5", "--max-bigrams", "8", "-o", str(tmp_path / "small.arpa")]) == 0
    assert "ngram 2=8\n" in (tmp_path / "small.arpa").read_text() and "ngram 3=5\n" in (tmp_path / "small.arpa").read_text()
