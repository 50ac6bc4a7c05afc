"""A character n-gram language model for CTC prefix beam search: interpolated Witten-Bell smoothing over
counts learnt from transcripts, plus the lexicon of their words, stored as JSON (plain data, nothing unpickled)."""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from pathlib import Path

from centaurus.atomic import write_text
from centaurus.data import CHARACTERS, VOCAB, Tokenizer
from centaurus.errors import CentaurusError

START = "^"  # pads the history before a transcript's first character
ALPHABET = VOCAB[1:]  # every character a transcript may hold (not the CTC blank)


class CharNgram:
    """P(c | the previous order−1 characters), interpolated down to a uniform distribution over `ALPHABET`:
    P(c|h) = (C(h c) + T(h)·P(c|h')) / (C(h) + T(h)), with T(h) the number of distinct characters seen after h
    and h' the history less its oldest character (Witten-Bell). `words` is the lexicon: every word of the texts
    it was counted from (empty in files written before it was stored)."""

    def __init__(self, order: int, counts: dict[str, dict[str, int]], words: Iterable[str] = ()):
        if order < 1:
            raise ValueError(f"order must be 1 or more, got {order}")
        self.order, self.counts = order, counts
        self.words = frozenset(words)
        self.word_prefixes = frozenset(w[:i] for w in self.words for i in range(len(w) + 1))
        self._totals = {h: (sum(nxt.values()), len(nxt)) for h, nxt in counts.items()}
        self.logprob = functools.lru_cache(maxsize=2**20)(self._logprob)

    @classmethod
    def train(cls, texts: list[str], order: int = 5) -> CharNgram:
        """Count every history of 0 … order−1 characters in normalised transcripts, and collect their words."""
        counts: dict[str, dict[str, int]] = {}
        for text in texts:
            padded = START * (order - 1) + text
            for i in range(order - 1, len(padded)):
                for k in range(order):
                    followers = counts.setdefault(padded[i - k:i], {})
                    followers[padded[i]] = followers.get(padded[i], 0) + 1
        return cls(order, counts, sorted({word for text in texts for word in text.split()}))

    def _logprob(self, history: str, char: str) -> float:
        """Natural-log P(char | history); only the last order−1 characters of the history count."""
        history = (START * self.order + history)[len(history) + 1:]  # the last order−1, padded on the left
        p = 1 / len(ALPHABET)
        for k in range(len(history) + 1):  # from the empty history up to the longest
            h = history[len(history) - k:]
            if h in self._totals:
                total, types = self._totals[h]
                p = (self.counts[h].get(char, 0) + types * p) / (total + types)
        return math.log(p)

    def save(self, path: str | Path) -> None:
        """Write the counts as JSON, atomically."""
        try:
            write_text(path, json.dumps({"kind": "char-ngram", "order": self.order, "counts": self.counts,
                                        "words": sorted(self.words)}))
        except OSError as err:
            raise CentaurusError(f"{path}: cannot write the language model ({err.strerror})") from None

    @classmethod
    def load(cls, path: str | Path) -> CharNgram:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("kind") != "char-ngram":
                raise ValueError("not a character n-gram model")
            words = data.get("words", [])
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ValueError("its word list is not a list of words")
            return cls(int(data["order"]), data["counts"], words)
        except FileNotFoundError:
            raise CentaurusError(f"{path}: no such language model file") from None
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
            raise CentaurusError(f"{path}: not a Centaurus language model ({err})") from None


def lm_scorer(lm: CharNgram, tokenizer: Tokenizer, *, weight: float, bonus: float, oov_penalty: float = 0.0):
    """What CTC beam search adds when class c extends a prefix: weight·log P_LM(c | prefix) + bonus (the bonus
    offsets the LM's pull towards short transcripts), less `oov_penalty` where c takes the prefix's last word out
    of the LM's lexicon: a character that no lexicon word continues with, or a space after a word that is only
    the start of one. A word pays once, so words the lexicon lacks stay possible, at a price; the last word of
    an utterance is not checked for completeness."""
    if tokenizer.config()["kind"] != "char":
        raise CentaurusError("the n-gram language model scores characters; this model predicts BPE pieces")
    if oov_penalty and not lm.words:
        raise CentaurusError("the language model has no lexicon (written by an older `centaurus lm`); rebuild it "
                             "to use an out-of-lexicon penalty, or set the penalty to 0")
    context, space = lm.order - 1, VOCAB.index(" ")

    def leaves_lexicon(prefix: tuple[int, ...], c: int) -> bool:
        start = len(prefix)
        while start and prefix[start - 1] != space:
            start -= 1
        word = "".join(VOCAB[i] for i in prefix[start:])
        if word not in lm.word_prefixes:  # it already left, and paid
            return False
        return word not in lm.words and word != "" if c == space else word + VOCAB[c] not in lm.word_prefixes

    def score(prefix: tuple[int, ...], c: int) -> float:
        history = CHARACTERS.decode(list(prefix[len(prefix) - context:])) if context else ""
        penalty = oov_penalty if oov_penalty and leaves_lexicon(prefix, c) else 0.0
        return weight * lm.logprob(history, VOCAB[c]) + bonus - penalty

    return score
