"""What every streaming engine (torch or ONNX) shares: cutting pushed audio into fixed chunks, timing the
chunk calls, and the report of what the stream cost. No torch here."""
import statistics
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StreamReport:
    """What a stream cost. Times are wall-clock compute of the model calls only."""

    sample_rate: int
    chunk_samples: int
    chunks: int
    audio_seconds: float
    compute_seconds: float
    chunk_ms_p50: float
    chunk_ms_p99: float
    algorithmic_latency_ms: float

    @property
    def rtf(self) -> float:
        """Real-time factor: compute time over audio time (below 1 keeps up with real time)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else float("nan")


def stream_report(timings: list[float], *, samples: int, sample_rate: int, chunk_samples: int,
                  wait_samples: int) -> StreamReport:
    """The report of a stream whose chunk calls took `timings` seconds over `samples` input samples, where an
    output waits `wait_samples` beyond the end of its chunk."""
    ms = sorted(t * 1000 for t in timings) or [float("nan")]
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return StreamReport(
        sample_rate=sample_rate, chunk_samples=chunk_samples, chunks=len(timings),
        audio_seconds=samples / sample_rate, compute_seconds=sum(timings),
        chunk_ms_p50=statistics.median(ms), chunk_ms_p99=p99,
        algorithmic_latency_ms=(chunk_samples + wait_samples) / sample_rate * 1000)


class ChunkedStream:
    """Buffers pushed mono audio and runs every whole chunk of `chunk_samples` through `_run`, the engine's
    step. Engines set `sample_rate`, `chunk_samples`, `lookahead_samples`, `delay_samples` (how many leading
    output samples come before the output aligned with the input's first sample) and `frame_samples` (the
    model's down-sampling factor, where it declares one), implement `_run(chunk) -> output`
    (timing the model call with `_timed`) and `_reset_state`, and may override `_mono` (how pushed samples
    become a float32 array) and `_run_last` (the shorter last chunk)."""

    sample_rate: int
    chunk_samples: int
    lookahead_samples: int
    delay_samples: int = 0
    frame_samples: int | None = None

    def reset(self) -> None:
        """Start a new stream: zero state, empty buffer, fresh timings."""
        self._reset_state()
        self._pending = np.zeros(0, dtype=np.float32)
        self._timings: list[float] = []
        self._samples = 0

    def push(self, samples) -> list:
        """Buffer mono samples (L,) and run every whole chunk. Returns the outputs of the chunks run."""
        self._pending = np.concatenate([self._pending, self._mono(samples)])
        whole = self._pending.shape[0] // self.chunk_samples * self.chunk_samples
        outputs = [self._run(self._pending[s:s + self.chunk_samples]) for s in range(0, whole, self.chunk_samples)]
        self._pending = self._pending[whole:]
        self._samples += whole
        return outputs

    def flush(self) -> list:
        """Run what is left in the buffer as a last, shorter chunk."""
        left = self._pending.shape[0]
        if not left:
            return []
        chunk, self._pending = self._pending, np.zeros(0, dtype=np.float32)
        self._samples += left
        return [self._run_last(chunk)]

    def run(self, samples) -> list:
        """A whole signal through the streaming path: push, then flush."""
        return self.push(samples) + self.flush()

    def report(self) -> StreamReport:
        """Timings and latency of the stream so far."""
        return stream_report(self._timings, samples=self._samples, sample_rate=self.sample_rate,
                             chunk_samples=self.chunk_samples, wait_samples=self._wait_samples())

    def _wait_samples(self) -> int:
        """How long an output waits beyond the end of its chunk. Chunks of whole model frames leave no window
        pending, so their outputs wait only for the model's output delay; other chunks, its whole look-ahead."""
        whole_frames = self.frame_samples and self.chunk_samples % self.frame_samples == 0
        return self.delay_samples if whole_frames else self.lookahead_samples

    def _timed(self, step, *args):
        """step(*args), its wall-clock time counted as the chunk's compute."""
        start = time.perf_counter()
        out = step(*args)
        self._timings.append(time.perf_counter() - start)
        return out

    def _mono(self, samples) -> np.ndarray:
        return np.asarray(samples, dtype=np.float32).reshape(-1)

    def _run_last(self, chunk: np.ndarray):
        return self._run(chunk)

    def _reset_state(self) -> None:
        raise NotImplementedError

    def _run(self, chunk: np.ndarray):
        raise NotImplementedError
