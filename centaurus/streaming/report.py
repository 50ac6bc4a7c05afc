"""What a stream cost: the report shared by every streaming engine (torch or ONNX). No torch here."""
import statistics
from dataclasses import dataclass


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
                  lookahead_samples: int) -> StreamReport:
    """The report of a stream whose chunk calls took `timings` seconds over `samples` input samples."""
    ms = sorted(t * 1000 for t in timings) or [float("nan")]
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return StreamReport(
        sample_rate=sample_rate, chunk_samples=chunk_samples, chunks=len(timings),
        audio_seconds=samples / sample_rate, compute_seconds=sum(timings),
        chunk_ms_p50=statistics.median(ms), chunk_ms_p99=p99,
        algorithmic_latency_ms=(chunk_samples + lookahead_samples) / sample_rate * 1000)
