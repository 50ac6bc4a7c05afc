"""Audio files as NumPy arrays, without torch: headers, checks, streamed reading and atomic writing.

Every problem with an input file raises `AudioError("<path>: <problem>")`, which the CLI prints as one line.
The tensor API (`centaurus.audio.io`) is built on these; the ONNX runtime path uses them directly.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from centaurus.errors import AudioError

# Lossy telephony/ADPCM codecs decode differently between libsndfile builds; ask for PCM instead.
SAMPLE_RATE = 16000  # the rate of every corpus and task model in the toolkit
SUPPORTED_SUBTYPES = frozenset({
    "PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW",
    "VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III",
})
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says: native rate in Hz, frames per channel, channels, container and subtype."""

    path: Path
    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def _fail(path: Path, problem: str) -> AudioError:
    return AudioError(f"{path}: {problem}")


def _wav_declared_bytes(path: Path) -> int | None:
    """Size in bytes that a RIFF/WAVE header declares for its `data` chunk; None if not a plain RIFF wav."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                return size
            f.seek(size + (size & 1), os.SEEK_CUR)


_PCM_WIDTH = {"PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def _wav_truncated(path: Path, *, subtype: str, channels: int, frames: int) -> bool:
    """True if the wav header promises more sample bytes than the file holds (libsndfile silently shortens)."""
    declared = _wav_declared_bytes(path)
    if declared is None or declared == 0xFFFFFFFF or subtype not in _PCM_WIDTH:
        return False
    return declared // (_PCM_WIDTH[subtype] * channels) > frames


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Check that `path` is a readable, complete audio file of a supported subtype and return its header."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(path, f"not a readable audio file ({_libsndfile_reason(err)})") from None
    if info.subtype not in SUPPORTED_SUBTYPES:
        raise _fail(path, f"unsupported sample subtype {info.subtype}; convert it to 16-bit PCM wav or flac")
    if info.frames == 0:
        raise _fail(path, "zero-length audio (no samples)")
    if _wav_truncated(path, subtype=info.subtype, channels=info.channels, frames=info.frames):
        raise _fail(path, "truncated: the wav header declares more samples than the file holds")
    return AudioInfo(path, info.samplerate, info.frames, info.channels, info.format, info.subtype)


def _libsndfile_reason(err: Exception) -> str:
    msg = str(err)
    # libsndfile prefixes "Error opening '<path>': "; the path is already in front of our message.
    msg = msg.split("': ", 1)[-1] if "': " in msg else msg
    return msg.removeprefix("Error : ").strip()


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float32 -> (frames,) by averaging channels."""
    return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


def _check_finite(path: Path, block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise _fail(path, "contains NaN or Inf samples")


def iter_samples(path: str | os.PathLike, *, block_samples: int,
                 sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Stream a file as float32 mono (block_samples,) arrays at `sample_rate` Hz; the last block may be shorter.

    Memory stays bounded by the block size whatever the file length. Resampling uses soxr's streaming
    resampler, so the concatenated blocks equal a whole-file resample up to the resampler's precision.
    """
    if block_samples <= 0:
        raise ValueError("block_samples must be positive")
    info = audio_info(path)
    stream = None if info.sample_rate == sample_rate else soxr.ResampleStream(
        info.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    pending: list[np.ndarray] = []
    n_pending = 0
    read_size = max(1024, block_samples * info.sample_rate // sample_rate)
    decoded = 0
    try:
        with sf.SoundFile(str(info.path)) as f:
            while True:
                native = f.read(read_size, dtype="float32", always_2d=True)
                last = native.shape[0] < read_size
                decoded += native.shape[0]
                _check_finite(info.path, native)
                mono = _to_mono(native)
                out = mono if stream is None else stream.resample_chunk(mono, last=last)
                if out.size:
                    pending.append(np.ascontiguousarray(out, dtype=np.float32))
                    n_pending += out.size
                while n_pending >= block_samples:
                    joined = np.concatenate(pending)
                    yield joined[:block_samples].copy()
                    rest = joined[block_samples:]
                    pending, n_pending = ([rest] if rest.size else []), rest.size
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(info.path, f"corrupt audio data ({_libsndfile_reason(err)})") from None
    if decoded < info.frames:
        raise _fail(info.path, f"truncated: header says {info.frames} frames, only {decoded} decoded")
    if n_pending:
        yield np.concatenate(pending)
