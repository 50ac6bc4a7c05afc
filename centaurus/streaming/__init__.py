"""Chunked real-time runtime over any streaming model."""
from .engine import Streamer, StreamReport
from .enhance import enhance_file
from .export import export_onnx, initial_state, step_graph
from .kws import Detection, KeywordSpotter

__all__ = ["Detection", "KeywordSpotter", "Streamer", "StreamReport", "enhance_file", "export_onnx", "initial_state",
           "step_graph"]
