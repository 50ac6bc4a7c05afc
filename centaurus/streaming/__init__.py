"""Chunked real-time runtime over any streaming model: torch (`Streamer`) or an exported ONNX step
(`OnnxStreamer`). Names load on first use, so the ONNX path never imports torch."""
from .._lazy import lazy_exports

_EXPORTS = {
    "Streamer": ".engine", "StreamReport": ".chunked", "ChunkedStream": ".chunked", "OnnxStreamer": ".onnx_step",
    "enhance_file": ".enhance", "enhance_stream": ".enhance", "enhance_live": ".enhance",
    "export_onnx": ".export", "export_steps": ".export", "initial_state": ".export", "step_graph": ".export",
    "Detection": ".spotting", "KeywordSpotter": ".kws", "OnnxKeywordSpotter": ".spotting",
    "Transcriber": ".transcribe",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
