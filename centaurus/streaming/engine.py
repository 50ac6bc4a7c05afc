"""A chunked real-time runtime that drives any `StreamingModule` with explicit state.

Audio of any length is pushed in; it is cut into fixed chunks of `chunk_ms`, each chunk runs through the
model with the state of the previous one, and the per-chunk outputs come back. Offline files go through
the same path (`run_file`), so offline and live results agree.
"""
from pathlib import Path

import numpy as np
import torch

from ..audio import iter_blocks
from ..layers import StreamingModule
from .chunked import ChunkedStream


class Streamer(ChunkedStream):
    """Runs `model` chunk by chunk on mono audio.

    Args:
        model: a `StreamingModule` taking (1, 1, T) audio; its `latency_samples` attribute, if any, is the
            look-ahead its outputs wait for beyond the chunk, and its `delay_samples`, if any, how far its
            output lags its input.
        sample_rate: rate of the pushed audio, Hz.
        chunk_ms: chunk length in milliseconds (rounded to whole samples).
        device: where the model and its state live ('cpu', 'cuda', ...).
        lookahead_samples: the model's look-ahead, when it has no `latency_samples` attribute.
    """

    def __init__(self, model: StreamingModule, *, sample_rate: int = 16000, chunk_ms: float = 16.0,
                 device: str | torch.device = "cpu", lookahead_samples: int | None = None):
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.sample_rate = sample_rate
        self.chunk_samples = max(1, round(chunk_ms * sample_rate / 1000))
        lookahead = getattr(model, "latency_samples", 0) if lookahead_samples is None else lookahead_samples
        self.lookahead_samples = int(lookahead)
        self.delay_samples = int(getattr(model, "delay_samples", 0))
        self.frame_samples = getattr(model, "downsample_factor", None)
        self.reset()

    def _reset_state(self) -> None:
        self._state = None

    def _mono(self, samples) -> np.ndarray:
        return torch.as_tensor(samples).detach().float().cpu().reshape(-1).numpy()

    def run_file(self, path: str | Path, *, block_seconds: float = 10.0) -> list[torch.Tensor]:
        """A file through the streaming path, read in blocks so memory stays bounded."""
        outputs = []
        for block in iter_blocks(path, block_samples=int(block_seconds * self.sample_rate),
                                 sample_rate=self.sample_rate):
            outputs += self.push(block)
        return outputs + self.flush()

    def _run(self, chunk: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(chunk).to(self.device)[None, None]                # (1, 1, T)
        return self._timed(self._step, x)[0].cpu()

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y, self._state = self.model(x, self._state)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return y
