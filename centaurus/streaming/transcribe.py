"""Streaming CTC transcription: audio pushed in any sizes, text that grows as the model's frames complete.

Frames come from a `Streamer` (torch), so the streamed log-probs equal the one-shot ones at any chunk size, or
from the model's exported acoustic step in onnxruntime (`OnnxStreamer`), which yields the same frames without
torch. Greedy decoding carries the last frame's argmax across chunks (a repeat straddling a chunk boundary merges
as it would within one chunk); beam search carries its prefix beams. Either way the text after `finish()` equals decoding
the whole utterance at once.
"""
import json
from typing import TYPE_CHECKING

from ..data import CHARACTERS, Tokenizer
from ..tasks.ctc import EMPTY_BEAMS, Scorer, beam_step, best_path_step, best_prefix
from .chunked import ChunkedStream, StreamReport

if TYPE_CHECKING:
    from ..layers import StreamingModule


class Transcriber:
    """Runs a CTC model (audio (1, 1, L) → log-probs (1, frames, vocab), as `ASRTask` builds it) on a stream.

    Args:
        model: the streaming CTC model (torch), or its exported acoustic step already open as an `OnnxStreamer`
            (`centaurus export`), whose metadata carry the tokenizer; decoding is the same for both.
        beam_width: 0 or 1 decode the best path (as the ASR task does); more run CTC prefix beam search.
        scorer: a language model for beam search (`centaurus.tasks.lm.lm_scorer`).
        sample_rate: rate of the pushed audio, Hz (the model's rate).
        chunk_ms: chunk length in milliseconds (torch; an ONNX step has its own).
        device: where the model runs (torch).
    """

    def __init__(self, model: "StreamingModule | ChunkedStream", *, beam_width: int = 1,
                 scorer: Scorer | None = None, sample_rate: int = 16000, chunk_ms: float = 40.0, device="cpu"):
        if beam_width < 0:
            raise ValueError(f"beam_width must be 0 or more, got {beam_width}")
        if scorer is not None and beam_width <= 1:
            raise ValueError("a language model needs beam search (beam_width 2 or more)")
        self.beam_width, self.scorer = beam_width, scorer
        if isinstance(model, ChunkedStream):
            self.streamer = model
            self.tokenizer = Tokenizer.from_config(json.loads(model.metadata["tokenizer"]))
        else:
            from .engine import Streamer  # torch only on this path
            # the tokenizer (characters or BPE) of the encoder the ASR task built; characters for other models
            self.tokenizer = next((m.tokenizer for m in model.modules() if hasattr(m, "tokenizer")), CHARACTERS)
            self.streamer = Streamer(model, sample_rate=sample_rate, chunk_ms=chunk_ms, device=device)
        self.reset()

    def reset(self) -> None:
        """Start a new utterance."""
        self.streamer.reset()
        self._tokens: list[int] = []  # best path so far (greedy)
        self._last = 0                # the last frame's argmax; blank before the first frame
        self._beams = EMPTY_BEAMS     # prefix beams so far (beam search)

    @property
    def text(self) -> str:
        """The transcript of the frames decoded so far."""
        if self.beam_width > 1:
            return best_prefix(self._beams, self.tokenizer)
        return self.tokenizer.decode(self._tokens)

    def push(self, samples) -> str:
        """Feed mono samples (L,); returns the updated partial transcript (beam search may revise its end)."""
        self._decode(self.streamer.push(samples))
        return self.text

    def finish(self) -> str:
        """End of the utterance: decode the last, shorter chunk and return the final transcript."""
        self._decode(self.streamer.flush())
        return self.text

    def report(self) -> StreamReport:
        """Timings of the model calls so far (real-time factor, chunk latency)."""
        return self.streamer.report()

    def _decode(self, outputs: list) -> None:
        for log_probs in outputs:                                            # (frames, vocab) per chunk
            if self.beam_width > 1:
                self._beams = beam_step(self._beams, log_probs, beam_width=self.beam_width, scorer=self.scorer)
            else:
                tokens, self._last = best_path_step(log_probs.argmax(-1).tolist(), last=self._last)
                self._tokens += tokens
