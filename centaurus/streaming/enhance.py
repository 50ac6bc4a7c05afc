"""Denoise a file of any length, or live audio, through the streaming path, with bounded memory.

The file is read in blocks at the model's rate (16 kHz, mono), pushed through a stream (a torch `Streamer`
or an ONNX `OnnxStreamer`), resampled back to the file's own rate as it goes, and written to a temporary
file that replaces the output only once complete. Output sample t lines up with input sample t: the model
is causal, and the output delay a model declares is dropped. Live blocks (a microphone's) go the same way
into a 16 kHz file, and to a speaker as they are produced. Nothing here imports torch, so the ONNX path runs
without it.
"""
import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..atomic import replacing
from ..audio.files import SAMPLE_RATE, audio_info, iter_samples
from ..errors import AudioError, DeviceError
from .chunked import StreamReport


class _Writer:
    """Resamples 16 kHz blocks, (T,) or (T, channels), to the output rate and writes exactly `frames` samples."""

    def __init__(self, handle: sf.SoundFile, rate: int, frames: int, channels: int = 1):
        self.handle, self.left = handle, frames
        self.resampler = None if rate == SAMPLE_RATE else soxr.ResampleStream(SAMPLE_RATE, rate, channels,
                                                                              dtype="float32")

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


class _Aligned:
    """A stream's outputs as samples aligned with its input: the `delay_samples` that precede the input's
    start are dropped, and nothing past `limit` samples (None: no limit yet) comes out."""

    def __init__(self, stream, limit: int | None = None):
        self.lead, self.limit, self.emitted = stream.delay_samples, limit, 0

    def __call__(self, outputs) -> np.ndarray:
        parts = [np.zeros(0, dtype=np.float32)]
        for out in outputs:
            samples = np.asarray(out[0])
            skipped = min(self.lead, samples.shape[0])
            samples, self.lead = samples[skipped:], self.lead - skipped
            if self.limit is not None:
                samples = samples[: max(0, self.limit - self.emitted)]
            self.emitted += samples.shape[0]
            parts.append(samples)
        return np.concatenate(parts)


def _checked_target(target: str | Path) -> Path:
    target = Path(target)
    if target.suffix.lower() not in (".wav", ".flac"):
        raise AudioError(f"{target}: output must be .wav or .flac")
    return target


@contextmanager
def _atomic_sound_file(target: Path, sample_rate: int, channels: int = 1) -> Iterator[sf.SoundFile]:
    """A file open for writing that replaces `target` only once closed without an error."""
    with replacing(target) as tmp, sf.SoundFile(str(tmp), "w", samplerate=sample_rate, channels=channels,
                                                format=target.suffix[1:].upper()) as handle:
        yield handle


def enhance_stream(stream, source: str | Path, target: str | Path, *, block_seconds: float = 10.0,
                   progress: bool = True, gain: float = 1.0) -> StreamReport:
    """Denoise `source` into `target` (wav or flac, at the source's rate). Returns the stream report.

    Args:
        stream: a fresh 16 kHz stream with `push(samples) -> outputs`, `flush() -> outputs`, `report()` and
            `lookahead_samples` and `delay_samples`, whose outputs are (1, T); the first `delay_samples` output
            samples precede the input's start and are dropped, and the look-ahead is flushed at the end so the
            output covers the whole input. The source's channels are mixed to mono for it. Or a list of such
            streams, one per channel of the source: each channel is denoised by its own, and the output keeps
            them all (the report then sums their compute over the file's duration).
        gain: factor on the input samples (before the model).
    """
    info = audio_info(source)
    target = _checked_target(target)
    each = isinstance(stream, list | tuple)
    streams = list(stream) if each else [stream]
    if each and len(streams) != info.channels:
        raise ValueError(f"{len(streams)} streams for the {info.channels} channel(s) of {source}")
    model_frames = round(info.frames * SAMPLE_RATE / info.sample_rate)
    with _atomic_sound_file(target, info.sample_rate, len(streams)) as handle, \
            Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                     disable=not progress, transient=True) as bar:
        task = bar.add_task(f"denoising {Path(source).name}", total=model_frames)
        writer = _Writer(handle, info.sample_rate, info.frames, len(streams))
        aligned = [_Aligned(s, limit=model_frames) for s in streams]

        def through(inputs, make) -> np.ndarray:
            """Each stream's aligned outputs for its input, as one (T,) or (T, channels) block."""
            out = [a(make(s, x)) for a, s, x in zip(aligned, streams, inputs)]
            return np.stack(out, axis=1) if each else out[0]

        for block in iter_samples(source, block_samples=int(block_seconds * SAMPLE_RATE), sample_rate=SAMPLE_RATE,
                                  mix=not each, gain=gain):
            writer.write(through(block.T if each else [block], make=lambda s, x: s.push(x)))
            bar.update(task, advance=block.shape[0])
        writer.write(through([None] * len(streams), make=lambda s, _: s.push(
            np.zeros(s.lookahead_samples, dtype=np.float32)) + s.flush()))
        writer.write(np.zeros((0, len(streams)) if each else 0, dtype=np.float32), last=True)
        if writer.left > 0:  # the resampler's tail can fall a few samples short
            handle.write(np.zeros((writer.left, len(streams)) if each else writer.left, dtype=np.float32))
    reports = [s.report() for s in streams]
    return dataclasses.replace(reports[0], chunks=sum(r.chunks for r in reports),
                               compute_seconds=sum(r.compute_seconds for r in reports))


def enhance_live(stream, blocks: Iterable, target: str | Path, *, speaker=None) -> StreamReport:
    """Denoise live 16 kHz mono blocks into `target` (wav or flac, 16 kHz) as they arrive, and play the output
    on `speaker` (a `Speaker`, or None) as it is produced. The file appears once the blocks end; the stream's
    look-ahead is flushed then, so the output is as long as the input. If a device goes away (`DeviceError`),
    the file still keeps what was heard before the error is raised. Returns the stream report."""
    target = _checked_target(target)
    aligned, heard, failure = _Aligned(stream), 0, None
    with _atomic_sound_file(target, SAMPLE_RATE) as handle:
        def emit(samples: np.ndarray) -> None:
            samples = np.clip(samples, -1.0, 1.0)
            handle.write(samples)
            if speaker is not None and failure is None:
                speaker.play(samples)

        try:
            for block in blocks:
                heard += len(block)
                emit(aligned(stream.push(block)))
        except DeviceError as err:
            failure = err
        aligned.limit = heard
        emit(aligned(stream.push(np.zeros(stream.lookahead_samples, dtype=np.float32)) + stream.flush()))
    if failure is not None:
        raise failure
    return stream.report()
