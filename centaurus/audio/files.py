"""Audio files as NumPy arrays, without torch: headers, checks, streamed reading and atomic writing.

Every problem with an input file raises `AudioError("<path>: <problem>")`, which the CLI prints as one line.
The tensor API (`centaurus.audio.io`) is built on these; the ONNX runtime path uses them directly.
"""
from __future__ import annotations

import os
import re
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
MIN_RATE, MAX_RATE = 4000, 384000  # below: no speech band left; above: no real converter; both mean a broken header


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


# libmpg123 writes its notes, warnings and errors on a corrupt MP3 straight to fd 2, past Python.
_DECODER_CHATTER = re.compile(r"(Note|Warning): |\[src/libmpg123/|\S*mpg123")
_fd2_lock = threading.Lock()


@contextmanager
def _decoder_chatter_kept_off_stderr() -> Iterator[None]:
    """Send fd 2 to a temporary file while libsndfile decodes; afterwards write back whatever else arrived
    there (another thread's output), without the decoder's lines."""
    with _fd2_lock, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _DECODER_CHATTER.match(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def _is_mp3(path: Path, subtype: str = "") -> bool:
    return path.suffix.lower() == ".mp3" or subtype.startswith("MPEG_")


def _undecodable(path: Path, reason: str, subtype: str = "") -> AudioError:
    if _is_mp3(path, subtype):
        return _fail(path, "cannot decode: corrupt or truncated MP3")
    return _fail(path, reason)


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
        with _decoder_chatter_kept_off_stderr():
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _undecodable(path, f"not a readable audio file ({_libsndfile_reason(err)})") from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise _fail(path, f"sample rate {info.samplerate} Hz is outside {MIN_RATE // 1000} kHz to "
                          f"{MAX_RATE // 1000} kHz; is the header broken?")
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
    msg = msg.removeprefix("Error : ").strip()
    # Said of any file no format recognises; ours exists (checked before), so that reading misleads.
    return "unrecognised or corrupt data" if msg.startswith("File does not exist or is not a regular file") else msg


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float32 -> (frames,) by averaging channels."""
    return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


def _check_finite(path: Path, block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise _fail(path, "contains NaN or Inf samples")


def iter_samples(path: str | os.PathLike, *, block_samples: int, sample_rate: int = SAMPLE_RATE,
                 mix: bool = True, gain: float = 1.0) -> Iterator[np.ndarray]:
    """Stream a file as float32 mono (block_samples,) arrays at `sample_rate` Hz; the last block may be shorter.

    With `mix=False` the channels stay apart: (block_samples, channels) blocks. Samples are multiplied by
    `gain`. Memory stays bounded by the block size whatever the file length. Resampling uses soxr's streaming
    resampler, so the concatenated blocks equal a whole-file resample up to the resampler's precision.
    """
    if block_samples <= 0:
        raise ValueError("block_samples must be positive")
    info = audio_info(path)
    channels = 1 if mix else info.channels
    stream = None if info.sample_rate == sample_rate else soxr.ResampleStream(
        info.sample_rate, sample_rate, channels, dtype="float32", quality="HQ")
    pending: list[np.ndarray] = []
    n_pending = 0
    read_size = max(1024, block_samples * info.sample_rate // sample_rate)
    decoded = 0
    try:
        with _decoder_chatter_kept_off_stderr():  # not around the yields: the caller's own output stays
            f = sf.SoundFile(str(info.path))
        with f:
            while True:
                with _decoder_chatter_kept_off_stderr():
                    native = f.read(read_size, dtype="float32", always_2d=True)
                last = native.shape[0] < read_size
                decoded += native.shape[0]
                _check_finite(info.path, native)
                samples = _to_mono(native) if mix else native
                if gain != 1.0:
                    samples = samples * np.float32(gain)
                out = samples if stream is None else stream.resample_chunk(samples, last=last)
                if out.shape[0]:
                    pending.append(np.ascontiguousarray(out, dtype=np.float32))
                    n_pending += out.shape[0]
                while n_pending >= block_samples:
                    joined = np.concatenate(pending)
                    yield joined[:block_samples].copy()
                    rest = joined[block_samples:]
                    pending, n_pending = ([rest] if rest.shape[0] else []), rest.shape[0]
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _undecodable(info.path, f"corrupt audio data ({_libsndfile_reason(err)})", info.subtype) from None
    if decoded < info.frames:
        what = "cannot decode: corrupt or truncated MP3" if _is_mp3(info.path, info.subtype) else "truncated"
        raise _fail(info.path, f"{what} (header says {info.frames} frames, only {decoded} decoded)")
    if n_pending:
        yield np.concatenate(pending)


def peak_level(path: str | os.PathLike) -> float:
    """The largest absolute sample of any channel, read in bounded memory (floats can exceed 1)."""
    info = audio_info(path)
    peak = 0.0
    try:
        with _decoder_chatter_kept_off_stderr(), sf.SoundFile(str(info.path)) as f:
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                _check_finite(info.path, block)
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _undecodable(info.path, f"corrupt audio data ({_libsndfile_reason(err)})", info.subtype) from None
    return peak
