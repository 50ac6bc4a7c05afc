"""Denoise a file of any length through the streaming path, with bounded memory.

The file is read in blocks at the model's rate (16 kHz, mono), pushed through a stream (a torch `Streamer`
or an ONNX `OnnxStreamer`), resampled back to the file's own rate as it goes, and written to a temporary
file that replaces the output only once complete. Output sample t lines up with input sample t: the model
is causal and adds no delay. Nothing here imports torch, so the ONNX path runs without it.
"""
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..audio.files import SAMPLE_RATE, audio_info, iter_samples
from ..errors import AudioError
from .chunked import StreamReport


class _Writer:
    """Resamples 16 kHz blocks to the output rate and writes exactly `frames` samples."""

    def __init__(self, handle: sf.SoundFile, rate: int, frames: int):
        self.handle, self.left = handle, frames
        self.resampler = None if rate == SAMPLE_RATE else soxr.ResampleStream(SAMPLE_RATE, rate, 1, dtype="float32")

    def write(self, block: np.ndarray, *, last: bool = False) -> None:
        if self.resampler is not None:
            block = self.resampler.resample_chunk(block, last=last)
        block = np.clip(block[: self.left], -1.0, 1.0)
        self.handle.write(block)
        self.left -= block.shape[0]


def enhance_file(model, source: str | Path, target: str | Path, *, chunk_ms: float = 16.0, device: str = "cpu",
                 block_seconds: float = 10.0, progress: bool = True) -> StreamReport:
    """Denoise `source` into `target` with a torch `StreamingModule` (waveform in, waveform out, 16 kHz)
    streamed in chunks of `chunk_ms` on `device`. Returns the stream report."""
    from .engine import Streamer  # torch only on this path
    return enhance_stream(Streamer(model, sample_rate=SAMPLE_RATE, chunk_ms=chunk_ms, device=device), source, target,
                          block_seconds=block_seconds, progress=progress)


def enhance_stream(stream, source: str | Path, target: str | Path, *, block_seconds: float = 10.0,
                   progress: bool = True) -> StreamReport:
    """Denoise `source` into `target` (wav or flac, mono, at the source's rate). Returns the stream report.

    Args:
        stream: a fresh 16 kHz stream with `push(samples) -> outputs`, `flush() -> outputs`, `report()` and
            `lookahead_samples` and `delay_samples`, whose outputs are (1, T); the first `delay_samples` output
            samples precede the input's start and are dropped, and the look-ahead is flushed at the end so the
            output covers the whole input.
    """
    info = audio_info(source)
    target = Path(target)
    if target.suffix.lower() not in (".wav", ".flac"):
        raise AudioError(f"{target}: output must be .wav or .flac")
    model_frames = round(info.frames * SAMPLE_RATE / info.sample_rate)
    fd, tmp = tempfile.mkstemp(suffix=target.suffix, dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        with sf.SoundFile(tmp, "w", samplerate=info.sample_rate, channels=1,
                          format=target.suffix[1:].upper()) as handle, \
                Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                         disable=not progress, transient=True) as bar:
            task = bar.add_task(f"denoising {Path(source).name}", total=model_frames)
            writer = _Writer(handle, info.sample_rate, info.frames)
            emitted, lead = 0, stream.delay_samples

            def emit(outputs):
                nonlocal emitted, lead
                for out in outputs:
                    samples = np.asarray(out[0])
                    skipped = min(lead, samples.shape[0])
                    samples, lead = samples[skipped:][: max(0, model_frames - emitted)], lead - skipped
                    emitted += samples.shape[0]
                    writer.write(samples)

            for block in iter_samples(source, block_samples=int(block_seconds * SAMPLE_RATE), sample_rate=SAMPLE_RATE):
                emit(stream.push(block))
                bar.update(task, advance=block.shape[0])
            emit(stream.push(np.zeros(stream.lookahead_samples, dtype=np.float32)) + stream.flush())
            writer.write(np.zeros(0, dtype=np.float32), last=True)
            if writer.left > 0:  # the resampler's tail can fall a few samples short
                handle.write(np.zeros(writer.left, dtype=np.float32))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return stream.report()
