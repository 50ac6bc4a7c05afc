"""Centaurus: real-time audio with deep state-space models."""
from ._lazy import lazy_exports

__version__ = "0.1.0"
_EXPORTS = dict.fromkeys(["SSMLayer", "StreamingModule", "StreamingSequential", "param_groups", "reset_state",
                          "set_run_mode", "streamable"], ".layers")
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
