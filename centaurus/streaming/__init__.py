"""Chunked real-time runtime over any streaming model."""
from .engine import Streamer, StreamReport

__all__ = ["Streamer", "StreamReport"]
