"""CTC decoding without torch: best path and prefix beam search over per-frame log-probabilities (any array
with `tolist()`, or lists), so the ONNX engine decodes in plain Python and NumPy."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from centaurus.data import CHARACTERS, Tokenizer

Beams = dict[tuple[int, ...], tuple[float, float]]  # prefix -> (log p ending in blank, log p ending in non-blank)
EMPTY_BEAMS: Beams = {(): (0.0, -math.inf)}


def best_path_step(indices: list[int], *, last: int = 0) -> tuple[list[int], int]:
    """Best path over more frames of argmax `indices`: the tokens they add and the new last frame's index.

    `last` is the previous frame's index (blank before the first), so a repeat across a chunk boundary merges
    exactly as it does within one chunk. Blanks are dropped."""
    tokens = []
    for c in indices:
        if c != 0 and c != last:
            tokens.append(c)
        last = c
    return tokens, last


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


Scorer = Callable[[tuple[int, ...], int], float]  # (prefix, class extending it) -> log-score to add


def beam_step(beams: Beams, log_probs, *, beam_width: int, scorer: Scorer | None = None) -> Beams:
    """CTC prefix beam search over more frames, (T, vocab) log-probs. `scorer` (a language model, see
    `lm_scorer`) adds its score each time a class extends a prefix. Returns new beams, so a stream decoded
    chunk by chunk ends with the beams of the whole utterance."""
    for frame in log_probs.tolist():
        nxt = defaultdict(lambda: (-math.inf, -math.inf))
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            b, nb = nxt[prefix]
            nxt[prefix] = (_logsumexp(b, total + frame[0]), nb)
            for c in range(1, len(frame)):
                p = frame[c]
                extended = prefix + (c,)
                b, nb = nxt[extended]
                # A repeated character only extends the prefix after a blank separates the two.
                add = pb + p if prefix and prefix[-1] == c else total + p
                if scorer is not None:
                    add += scorer(prefix, c)
                nxt[extended] = (b, _logsumexp(nb, add))
                if prefix and prefix[-1] == c:
                    b, nb = nxt[prefix]
                    nxt[prefix] = (b, _logsumexp(nb, pnb + p))
        beams = dict(sorted(nxt.items(), key=lambda kv: -_logsumexp(*kv[1]))[:beam_width])
    return beams


def best_prefix(beams: Beams, tokenizer: Tokenizer = CHARACTERS) -> str:
    """The text of the most probable prefix."""
    return tokenizer.decode(list(max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))[0]))
