"""Live output: float32 mono blocks played on a PortAudio output device as they are produced.

The producer (the denoising loop) queues samples; PortAudio's thread pulls them in its callback and plays
silence when none are queued yet (an underrun, counted), so a slow producer makes gaps, never a stalled
audio thread. Problems with the device raise `DeviceError`, which the CLI prints as one line.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
import soxr
from typing_extensions import Self

from ..errors import DeviceError
from .devices import open_stream, portaudio, query_device, stream_format

_DRAIN_POLL_S = 0.02


class Speaker:
    """Plays float32 mono (L,) arrays given at `sample_rate` Hz on an output device.

    The stream opens at `sample_rate` if the device takes it, otherwise at the device's default rate (the
    samples are resampled here); mono if the device takes it, otherwise the same samples on two channels.

        with Speaker() as speaker:
            speaker.play(samples)  # returns at once; the device plays them as its clock asks

    Args:
        device: PortAudio device index; None for the system's default output.
        sample_rate: rate of the samples given to `play`, Hz.
        block_ms: length of the blocks PortAudio asks for, ms.

    Attributes:
        underruns: device blocks that found fewer samples queued than they needed, after the first samples came.
        device_name, play_rate, play_channels: the device and the format its stream opens with.
    """

    def __init__(self, device: int | None = None, *, sample_rate: int = 16000, block_ms: float = 16.0):
        if block_ms <= 0:
            raise ValueError("block_ms must be positive")
        self.sample_rate, self.block_ms = sample_rate, block_ms
        sd = portaudio()
        info = query_device(sd, device, "output")
        self.device_index, self.device_name = info["index"], info["name"]
        self.play_rate, self.play_channels = stream_format(sd, info, sample_rate, "output")
        self.underruns = 0
        self._queued: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        self._counting = False  # underruns count from the first samples until the end of the audio
        self._stream: Any = None
        self._resampler = None if self.play_rate == sample_rate else soxr.ResampleStream(
            sample_rate, self.play_rate, 1, dtype="float32", quality="HQ")

    def __enter__(self) -> Self:
        sd = portaudio()
        self._stream = open_stream(sd, "output", self.device_index, self.device_name, rate=self.play_rate,
                                   channels=self.play_channels, block_ms=self.block_ms, callback=self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        """Let what is queued play out (unless leaving on an error), then close the stream."""
        stream, self._stream = self._stream, None
        if exc[0] is None:
            if self._resampler is not None:
                self._enqueue(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
            with self._lock:
                self._counting = False  # the last block runs short by design
            deadline = time.monotonic() + self.queued_seconds + 1.0
            while self.queued_seconds > 0 and stream.active and time.monotonic() < deadline:
                time.sleep(_DRAIN_POLL_S)
        stream.close()  # ignores errors: a device that went away has nothing left to release

    @property
    def queued_seconds(self) -> float:
        """Audio waiting to be played."""
        with self._lock:
            return sum(block.shape[0] for block in self._queued) / self.play_rate

    def play(self, samples: np.ndarray) -> None:
        """Queue mono samples at `sample_rate`; raises `DeviceError` once the device has stopped."""
        if self._stream is None:
            raise RuntimeError("play inside `with Speaker(...) as speaker:`")
        if not self._stream.active:
            raise DeviceError(f"output device {self.device_name!r} went away")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._enqueue(samples if self._resampler is None else self._resampler.resample_chunk(samples))

    def _enqueue(self, samples: np.ndarray) -> None:
        if samples.size:
            with self._lock:
                self._queued.append(np.clip(samples, -1.0, 1.0))
                self._counting = True

    def _callback(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        """PortAudio's thread: fill the (frames, channels) buffer from the queue, silence for what is missing."""
        filled = 0
        with self._lock:
            while filled < frames and self._queued:
                block = self._queued[0]
                take = min(frames - filled, block.shape[0])
                outdata[filled:filled + take] = block[:take, None]
                filled += take
                if take == block.shape[0]:
                    self._queued.popleft()
                else:
                    self._queued[0] = block[take:]
            if filled < frames and self._counting:
                self.underruns += 1
        outdata[filled:] = 0.0
