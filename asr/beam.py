"""CTC beam search with a word n-gram language model: flashlight-text's lexicon decoder, via torchaudio.

Shape legend: T output steps, V vocabulary (blank = 0).

The decoder only builds words of the lexicon, which is the LM's vocabulary (its unigrams), and
scores each hypothesis as acoustic log-probability + ``lm_weight`` x LM log-probability +
``word_score`` per word. As in greedy decoding, a word spans its characters' steps (the decoder
reports where each character's run ends; the start is walked back to where its first
character's run begins) and its confidence is the posterior of its least certain character
(each character's peak within a step of where the decoder put it).
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import torch
from torchaudio.models.decoder import ctc_decoder

from asr.config import BeamConfig
from asr.decoding import Transcript, Word
from asr.lm import BOS, EOS, UNK
from asr.tokens import Tokenizer

__all__ = ["BeamDecoder", "arpa_vocabulary", "default_lm"]

SILENCE = "|"  # the decoder's word separator, standing in for our space token


def default_lm(model_folder: Path) -> Path:
    """The LM shipped beside a model: lm.arpa.gz, else lm.arpa (which may not exist)."""
    packed = model_folder / "lm.arpa.gz"
    return packed if packed.exists() else model_folder / "lm.arpa"


def arpa_vocabulary(path: Path) -> list[str]:
    """The words of an ARPA file's (or .arpa.gz's) unigram section, without <s>, </s> and <unk>."""
    words, in_unigrams = [], False
    with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif in_unigrams and (not line or line.startswith("\\")):
                break
            elif in_unigrams:
                word = line.split("\t")[1]
                if word not in (BOS, EOS, UNK):
                    words.append(word)
    if not words:
        raise ValueError(f"{path}: no unigrams found; is it an ARPA language model?")
    return words


class BeamDecoder:
    """Offline beam search over a whole utterance's (T, V) log-probs."""

    def __init__(self, tokenizer: Tokenizer, step_seconds: float, lm_path: str | Path, config: BeamConfig = BeamConfig()) -> None:
        lm_path = Path(lm_path)
        if not lm_path.exists():
            raise ValueError(f"language model not found: {lm_path}")
        self.tokenizer, self.step_seconds, self.config = tokenizer, step_seconds, config
        self._tokens = [SILENCE if token == " " else token for token in tokenizer.tokens]
        with tempfile.TemporaryDirectory() as folder:
            lexicon = Path(folder) / "lexicon.txt"
            lexicon.write_text("".join(f"{word} {' '.join(word)} {SILENCE}\n" for word in arpa_vocabulary(lm_path)))
            self._decoder = ctc_decoder(
                lexicon=str(lexicon), tokens=self._tokens, lm=str(lm_path), nbest=config.nbest, beam_size=config.beam_size,
                beam_threshold=config.beam_threshold, lm_weight=config.lm_weight, word_score=config.word_score,
                blank_token=self._tokens[tokenizer.blank_id], sil_token=SILENCE, unk_word=UNK,
            )  # fmt: skip

    def decode(self, log_probs: torch.Tensor) -> list[Transcript]:
        """(T, V) log-probs -> the ``nbest`` best transcripts, best first."""
        log_probs = log_probs.float().cpu().contiguous()
        hypotheses = self._decoder(log_probs.unsqueeze(0))[0]
        best = log_probs.argmax(dim=-1).tolist()  # (T,) the best token of each step
        return [self._transcript(h.tokens.tolist(), h.timesteps.tolist(), log_probs, best) for h in hypotheses]

    def _transcript(self, tokens: list[int], steps: list[int], log_probs: torch.Tensor, best: list[int]) -> Transcript:
        words: list[Word] = []
        current: list[tuple[int, int]] = []
        for token, step in [*zip(tokens, steps), (self.tokenizer.space_id, -1)]:
            if token != self.tokenizer.space_id:
                current.append((token, step))
                continue
            if current:
                conf = min(self._peak(log_probs, t, s) for t, s in current)
                first_token, first_step = current[0]
                start, end = _run_start(best, first_token, first_step) * self.step_seconds, (current[-1][1] + 1) * self.step_seconds
                words.append(Word(self.tokenizer.decode([t for t, _ in current]), start, end, conf))
                current = []
        return Transcript(" ".join(w.word for w in words), tuple(words))

    @staticmethod
    def _peak(log_probs: torch.Tensor, token: int, step: int) -> float:
        """The token's highest posterior within one step of where the decoder placed it.

        The decoder may place a character a step off its acoustic peak when the LM pulls it there.
        """
        window = log_probs[max(0, step - 1) : step + 2, token]
        return float(window.max().exp())


def _run_start(best: list[int], token: int, step: int) -> int:
    """The first step of the run of steps, ending at ``step``, where ``token`` is the best token.

    The decoder reports the last step of a token's run; a word starts at the first (as in greedy decoding).
    """
    while step > 0 and best[step - 1] == token:
        step -= 1
    return step
