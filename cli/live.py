"""Live microphone input for the commands: blocks until a time limit or Ctrl-C."""
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from centaurus.streaming.mic import Microphone


@contextmanager
def live_blocks(mic: "Microphone", seconds: float | None) -> Iterator[Iterator["torch.Tensor"]]:
    """The microphone's blocks until `seconds` of audio (None: no limit) or Ctrl-C. Ctrl-C sets a flag instead
    of raising, so the stream stops between blocks with the consumer's state whole, and what was heard can
    still be finished and reported."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())

    def blocks() -> Iterator["torch.Tensor"]:
        for block in mic:
            if stop.is_set():
                return
            yield block
            if seconds is not None and mic.seconds >= seconds:
                return

    try:
        yield blocks()
    finally:
        signal.signal(signal.SIGINT, previous)
