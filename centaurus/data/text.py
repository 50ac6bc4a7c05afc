"""Character-level transcript normalisation and vocabulary for CTC ASR."""
from __future__ import annotations

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
