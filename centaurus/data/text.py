"""Transcript normalisation and the CTC vocabularies: characters by default, or learnt BPE pieces."""
from __future__ import annotations

import base64
import io
import re
import unicodedata

# Index 0 is the CTC blank; then space, apostrophe and a-z.
BLANK = "<blank>"
VOCAB = (BLANK, " ", "'") + tuple("abcdefghijklmnopqrstuvwxyz")
_CHAR_INDEX = {c: i for i, c in enumerate(VOCAB)}


def normalize_text(text: str) -> str:
    """Lowercase letters a-z, apostrophe and single spaces; accents are stripped, everything else is a space.

    Digits are dropped rather than spelled out; curly apostrophes count as apostrophes.
    """
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^a-z' ]+", " ", text.lower())
    # An apostrophe only survives inside a word (don't, o'clock), not as a quote mark.
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())


def encode_text(text: str) -> list[int]:
    """Vocabulary indices of an already normalised transcript."""
    try:
        return [_CHAR_INDEX[c] for c in text]
    except KeyError as err:
        raise ValueError(f"character {err.args[0]!r} is not in the vocabulary; normalise the text first") from None


def decode_indices(indices: list[int]) -> str:
    """Inverse of `encode_text` (blanks are dropped)."""
    return "".join(VOCAB[i] for i in indices if i != 0)


class Tokenizer:
    """Normalised text ↔ CTC classes 1 … V (class 0 is the blank): single characters, or BPE pieces.

    A BPE tokenizer is a SentencePiece model learnt from training transcripts; `config()` holds it as base64
    of its protobuf, so a checkpoint carries its tokenizer in plain JSON (nothing unpickled on load).
    """

    def __init__(self, bpe_model: bytes | None = None):
        self._bpe = None
        if bpe_model is not None:
            import sentencepiece  # only BPE models need it
            self._bpe = sentencepiece.SentencePieceProcessor(model_proto=bpe_model)
            self._bpe_model = bpe_model

    @classmethod
    def train_bpe(cls, texts: list[str], vocab_size: int) -> Tokenizer:
        """Learn `vocab_size` BPE pieces (characters included) from normalised transcripts, deterministically."""
        import sentencepiece
        if not texts:
            raise ValueError("BPE needs training transcripts; none were given")
        model = io.BytesIO()
        # unk takes piece 0 (class 1); no bos/eos/pad, which CTC has no use for. The text is normalised already
        # (identity rule: no 300 kB normaliser table in the model). One thread: the same pieces on every rank.
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="bpe",
            character_coverage=1.0, normalization_rule_name="identity", unk_id=0, bos_id=-1, eos_id=-1,
            pad_id=-1, num_threads=1, minloglevel=2, hard_vocab_limit=False)
        return cls(model.getvalue())

    @classmethod
    def from_config(cls, config: dict) -> Tokenizer:
        if config["kind"] == "char":
            return cls()
        return cls(base64.b64decode(config["bpe_model"]))

    def config(self) -> dict:
        if self._bpe is None:
            return {"kind": "char"}
        return {"kind": "bpe", "bpe_model": base64.b64encode(self._bpe_model).decode("ascii")}

    @property
    def classes(self) -> int:
        """Output classes of a CTC head: the blank plus every token."""
        return len(VOCAB) if self._bpe is None else self._bpe.get_piece_size() + 1

    def encode(self, text: str) -> list[int]:
        if self._bpe is None:
            return encode_text(text)
        return [i + 1 for i in self._bpe.encode(text)]

    def decode(self, classes: list[int]) -> str:
        """Text of a class sequence (blanks dropped)."""
        if self._bpe is None:
            return decode_indices(classes)
        return self._bpe.decode([c - 1 for c in classes if c != 0])


CHARACTERS = Tokenizer()
