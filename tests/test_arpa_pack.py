"""Packed ARPA LMs: the same n-grams and values back, fewer bytes, clear errors, and `asr lm pack`/`unpack`/`build`."""

from __future__ import annotations

import gzip
import lzma
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.arpa_pack import is_packed, kenlm_readable, pack_arpa, packed_vocabulary, unpack_arpa
from asr.cli import main
from asr.lm import estimate, write_arpa

WORDS = st.sampled_from(["a", "b", "the", "don't", "café", "x-ray", "zebra"])
TEXTS = st.lists(st.lists(WORDS, min_size=1, max_size=7).map(" ".join), min_size=1, max_size=15)


def same_values(arpa: str) -> str:
    """ARPA text with each negative zero written as zero, the one thing packing does not keep."""
    return "\n".join("\t".join("0" + field[2:] if field.startswith("-0") and float(field) == 0 else field for field in line.split("\t")) for line in arpa.split("\n"))


def random_lm(path: Path, sentences: int = 3000, decimals: int = 2) -> None:
    draw = random.Random(0)
    words = [f"w{n}" for n in range(300)]
    write_arpa(estimate([" ".join(draw.choices(words, k=draw.randint(3, 12))) for _ in range(sentences)], 3), path, decimals)


@settings(max_examples=40, deadline=None)
@given(texts=TEXTS, order=st.integers(1, 4), decimals=st.integers(1, 6))
def test_unpacking_gives_back_the_arpa_text_that_was_packed(texts: list[str], order: int, decimals: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        arpa, packed, unpacked = Path(folder) / "lm.arpa", Path(folder) / "lm.pack", Path(folder) / "back.arpa"
        write_arpa(estimate(texts, order), arpa, decimals)
        pack_arpa(arpa, packed, decimals)
        unpack_arpa(packed, unpacked)
        assert unpacked.read_text() == same_values(arpa.read_text())
        assert packed_vocabulary(packed) == [line.split("\t")[1] for line in arpa.read_text().split("\\1-grams:\n")[1].split("\n\n")[0].splitlines()]


def test_an_order_without_ngrams_packs(tmp_path: Path) -> None:
    (tmp_path / "lm.arpa").write_text("\n\\data\\\nngram 1=2\nngram 2=0\nngram 3=0\n\n\\1-grams:\n-0.30\ta\n-0.30\tb\n\n\\2-grams:\n\n\\3-grams:\n\n\\end\\\n")
    pack_arpa(tmp_path / "lm.arpa", tmp_path / "lm.pack")
    unpack_arpa(tmp_path / "lm.pack", tmp_path / "back.arpa")
    assert (tmp_path / "back.arpa").read_text() == (tmp_path / "lm.arpa").read_text()


def test_a_packed_lm_is_under_half_the_gzipped_size_and_always_the_same_bytes(tmp_path: Path) -> None:
    random_lm(tmp_path / "lm.arpa.gz")
    pack_arpa(tmp_path / "lm.arpa.gz", tmp_path / "a.pack")
    pack_arpa(tmp_path / "lm.arpa.gz", tmp_path / "b.pack")
    assert (tmp_path / "a.pack").read_bytes() == (tmp_path / "b.pack").read_bytes()
    assert (tmp_path / "a.pack").stat().st_size < 0.5 * (tmp_path / "lm.arpa.gz").stat().st_size
    unpack_arpa(tmp_path / "a.pack", tmp_path / "back.arpa.gz")
    assert gzip.decompress((tmp_path / "back.arpa.gz").read_bytes()).decode() == same_values(gzip.decompress((tmp_path / "lm.arpa.gz").read_bytes()).decode())


def test_packing_rounds_to_the_decimals_asked_for(tmp_path: Path) -> None:
    random_lm(tmp_path / "six.arpa", sentences=300, decimals=6)
    pack_arpa(tmp_path / "six.arpa", tmp_path / "two.pack", decimals=2)
    unpack_arpa(tmp_path / "two.pack", tmp_path / "two.arpa")
    six, two = ([line.split("\t") for line in (tmp_path / name).read_text().splitlines()] for name in ("six.arpa", "two.arpa"))
    assert [fields[1:2] for fields in six] == [fields[1:2] for fields in two]
    values = [(float(a), b) for long, short in zip(six, two) if len(long) > 1 for a, b in zip(long[::2], short[::2])]
    assert len(values) > 3000 and all(len(b.split(".")[1]) == 2 and abs(a - float(b)) <= 0.005 + 1e-6 for a, b in values)


def test_kenlm_reads_a_packed_lm_through_a_temporary_arpa_file_that_is_then_removed(tmp_path: Path) -> None:
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm", reason="flashlight-text is not installed")
    dictionary = pytest.importorskip("flashlight.lib.text.dictionary")
    random_lm(tmp_path / "lm.arpa", sentences=300)
    pack_arpa(tmp_path / "lm.arpa", tmp_path / "lm.pack")
    words = dictionary.create_word_dict({word: [[word]] for word in ["<s>", "</s>", "<unk>", *(f"w{n}" for n in range(300))]})
    with kenlm_readable(tmp_path / "lm.arpa") as same:
        assert same == tmp_path / "lm.arpa"
    with kenlm_readable(tmp_path / "lm.pack") as unpacked:
        packed_lm = kenlm.KenLM(str(unpacked), words)
    assert not unpacked.exists() and not unpacked.parent.exists()
    arpa_lm = kenlm.KenLM(str(tmp_path / "lm.arpa"), words)
    sentence = [words.get_index(word) for word in ["w1", "w7", "w7", "w299", "</s>"]]
    scores = []
    for lm in (arpa_lm, packed_lm):
        state, total = lm.start(False), 0.0
        for word in sentence:
            state, score = lm.score(state, word)
            total += score
        scores.append(total)
    assert scores[0] == pytest.approx(scores[1], abs=1e-4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n\n\\end\\\n", r"bad\.arpa: the n-grams found \(\[1\]\) do not match the header's counts \(\[2\]\)"),
        ("\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1.0\ta\n\n\\2-grams:\n-1.0\ta b\n\n\\end\\\n", "the word 'b', which is not among the unigrams"),
        ("\\data\\\nngram 1=2\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1.0\ta\n-1.0\tb\n\n\\2-grams:\n-1.0\ta a\n\n\\3-grams:\n-1.0\ta b a\n\n\\end\\\n",
         "a 3-gram's context is not among the shorter n-grams"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0 a\n\n\\end\\\n", r"bad\.arpa:5: not an ARPA 1-gram line"),
        ("hello\n", r"bad\.arpa:1: not an ARPA line"),
        ("\\data\\\nngram 1=1\n\n\\2-grams:\n", r"bad\.arpa:4: unexpected section"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nminus one\ta\n\n\\end\\\n", r"bad\.arpa:5: could not convert string to float"),
        ("\\data\\\nngram 1=one\n", r"bad\.arpa:2: invalid literal for int"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\ta\0b\n\n\\end\\\n", r"bad\.arpa:5: a word holds a NUL character"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_arpa_is_refused_with_its_name(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.arpa").write_text(text)
    with pytest.raises(ValueError, match=message):
        pack_arpa(tmp_path / "bad.arpa", tmp_path / "bad.pack")
    assert not (tmp_path / "bad.pack").exists()


def test_a_temporary_folder_without_room_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    random_lm(tmp_path / "lm.arpa", sentences=100)
    pack_arpa(tmp_path / "lm.arpa", tmp_path / "lm.pack")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("asr.arpa_pack.unpack_arpa", full)
    with pytest.raises(ValueError, match=r"lm\.pack: cannot unpack it into .*No space left on device.*set TMPDIR"):
        with kenlm_readable(tmp_path / "lm.pack"):
            pass


def test_a_damaged_or_foreign_packed_file_is_refused_with_its_name(tmp_path: Path) -> None:
    random_lm(tmp_path / "lm.arpa", sentences=100)
    pack_arpa(tmp_path / "lm.arpa", tmp_path / "lm.pack")
    whole = lzma.decompress((tmp_path / "lm.pack").read_bytes())
    (tmp_path / "cut.pack").write_bytes(lzma.compress(whole[: len(whole) // 2]))
    (tmp_path / "text.pack").write_text("not packed at all\n")
    (tmp_path / "other.pack").write_bytes(lzma.compress(b"another format\n"))
    (tmp_path / "broken.pack").write_bytes((tmp_path / "lm.pack").read_bytes()[:200])
    for name in ("cut.pack", "text.pack", "other.pack", "broken.pack"):
        with pytest.raises(ValueError, match=f"{name}: cannot read it as a packed language model"):
            unpack_arpa(tmp_path / name, tmp_path / "out.arpa")
    vocabulary_start = whole.index(b"\n", whole.index(b"\n") + 1) + 1  # after the magic line and the JSON header
    (tmp_path / "nul.pack").write_bytes(lzma.compress(whole[:vocabulary_start] + b"\0" + whole[vocabulary_start + 1 :]))
    with pytest.raises(ValueError, match="nul.pack: a word holds a NUL character"):
        unpack_arpa(tmp_path / "nul.pack", tmp_path / "out.arpa")
    with pytest.raises(ValueError, match="a packed LM keeps 1 to 6 decimals, got 7"):
        pack_arpa(tmp_path / "lm.arpa", tmp_path / "x.pack", decimals=7)


def test_asr_lm_pack_unpack_and_build_write_the_same_packed_lm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.txt").write_text("the cat sat\nthe dog sat on the mat\na cat ran\n")
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--decimals", "2", "-o", str(tmp_path / "lm.arpa.gz")]) == 0
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--decimals", "2", "-o", str(tmp_path / "built.pack")]) == 0
    assert main(["lm", "pack", str(tmp_path / "lm.arpa.gz"), "-o", str(tmp_path / "packed.pack")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "built.pack").read_bytes() == (tmp_path / "packed.pack").read_bytes() and is_packed(tmp_path / "built.pack")
    assert main(["lm", "unpack", str(tmp_path / "built.pack"), "-o", str(tmp_path / "back.arpa")]) == 0
    assert (tmp_path / "back.arpa").read_text() == same_values(gzip.decompress((tmp_path / "lm.arpa.gz").read_bytes()).decode())
    assert main(["lm", "build", str(tmp_path / "text.txt"), "--decimals", "7", "-o", str(tmp_path / "seven.pack")]) == 2
    assert "a packed LM keeps at most 6 decimals" in capsys.readouterr().err and not (tmp_path / "seven.pack").exists()
    assert main(["lm", "pack", str(tmp_path / "lm.arpa.gz"), "-o", str(tmp_path / "lm.xz")]) == 2
    assert "lm.xz: a packed LM's name ends in .pack" in capsys.readouterr().err and not (tmp_path / "lm.xz").exists()
