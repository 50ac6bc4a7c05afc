"""Centaurus: real-time audio with deep state-space models."""
from .layers import SSMLayer, param_groups, streamable, StreamingModule, StreamingSequential, reset_state, set_run_mode

__version__ = "0.1.0"
__all__ = ["SSMLayer", "param_groups", "streamable", "StreamingModule", "StreamingSequential", "reset_state", "set_run_mode"]
