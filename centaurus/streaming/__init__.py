"""Chunked real-time runtime over any streaming model."""
from .engine import Streamer, StreamReport
from .export import export_onnx, initial_state, step_graph

__all__ = ["Streamer", "StreamReport", "export_onnx", "initial_state", "step_graph"]
