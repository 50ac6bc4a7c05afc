"""Centaurus: real-time audio with deep state-space models."""
from .layers import SSMLayer, StreamingModule, StreamingSequential, param_groups, reset_state, set_run_mode, streamable

__version__ = "0.1.0"
__all__ = ["SSMLayer", "StreamingModule", "StreamingSequential", "param_groups", "reset_state", "set_run_mode",
           "streamable"]
