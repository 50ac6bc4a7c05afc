"""Audio I/O: read anything libsndfile reads into float32 mono at a target rate, write atomically, stream blocks.

Every problem with an input file raises `AudioError("<path>: <problem>")`, which the CLI prints as one line.
"""
from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

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


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample a (L,) float32 signal from `orig_rate` to `new_rate` Hz with soxr (high quality)."""
    if orig_rate == new_rate:
        return wav
    out = soxr.resample(wav.numpy(), orig_rate, new_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def load_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read a whole file as a float32 mono tensor of shape (L,) at `sample_rate` Hz (stereo is averaged)."""
    info = audio_info(path)
    try:
        data, _ = sf.read(str(info.path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(info.path, f"corrupt audio data ({_libsndfile_reason(err)})") from None
    if data.shape[0] < info.frames:
        raise _fail(info.path, f"truncated: header says {info.frames} frames, only {data.shape[0]} decoded")
    _check_finite(info.path, data)
    return resample(torch.from_numpy(_to_mono(data).copy()), info.sample_rate, sample_rate)


def load_segment(path: str | os.PathLike, *, offset: int, frames: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read `frames` samples starting at sample `offset` (both counted at the file's native rate) as (L,) mono.

    Resampled to `sample_rate` after the cut, so short cuts from long files stay cheap.
    """
    info = audio_info(path)
    if offset < 0 or offset + frames > info.frames:
        raise _fail(info.path, f"segment [{offset}, {offset + frames}) lies outside its {info.frames} frames")
    try:
        data, _ = sf.read(str(info.path), start=offset, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(info.path, f"corrupt audio data ({_libsndfile_reason(err)})") from None
    _check_finite(info.path, data)
    return resample(torch.from_numpy(_to_mono(data).copy()), info.sample_rate, sample_rate)


def save_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> None:
    """Write a (L,) or (C, L) float tensor at `sample_rate` Hz to .wav (16-bit PCM) or .flac, atomically.

    The data goes to a temporary file in the same folder, which is then renamed over `path`, so readers
    never see a half-written file.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _fail(path, f"cannot write {path.suffix!r}; use one of {sorted(WRITE_FORMATS)}")
    data = wav.detach().to(torch.float32).cpu().numpy()
    if not np.isfinite(data).all():
        raise _fail(path, "refusing to write NaN or Inf samples")
    data = data.T if data.ndim == 2 else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, np.clip(data, -1.0, 1.0), sample_rate, format=fmt, subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def iter_blocks(path: str | os.PathLike, *, block_samples: int,
                sample_rate: int = SAMPLE_RATE) -> Iterator[torch.Tensor]:
    """Stream a file as float32 mono (block_samples,) tensors at `sample_rate` Hz; the last block may be shorter.

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
                    yield torch.from_numpy(joined[:block_samples].copy())
                    rest = joined[block_samples:]
                    pending, n_pending = ([rest] if rest.size else []), rest.size
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(info.path, f"corrupt audio data ({_libsndfile_reason(err)})") from None
    if decoded < info.frames:
        raise _fail(info.path, f"truncated: header says {info.frames} frames, only {decoded} decoded")
    if n_pending:
        yield torch.from_numpy(np.concatenate(pending))
