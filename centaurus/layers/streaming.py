"""The streaming protocol shared by every stateful module.

A `StreamingModule` runs in one of two run modes:

* 'training' (default): `module(x)` processes a whole sequence from a zero state (the FFT path).
* 'inference': `module(x)` processes the next chunk of a stream, carrying its state between calls in
  non-persistent buffers (so `.to(device)` moves it). `reset_state()` starts a new stream; a change of
  batch size starts one too.

In either mode the explicit form `y, state = module(x, state)` is available: it never touches the carried
state, and `state=None` means a zero state. States are tensors (complex for SSMs) or tuples of them, with
the batch leading; nothing mutates a state it was given.
"""
import torch
from torch import nn

RUN_MODES = ("training", "inference")
_MISSING = object()


def flatten_state(state):
    """Nested tuples of tensors (or None) → (leaves, spec): complex leaves as (…, 2) real pairs, and the
    structure with a complex flag per leaf, for `unflatten_state`."""
    if isinstance(state, tuple):
        parts = [flatten_state(s) for s in state]
        return [leaf for leaves, _ in parts for leaf in leaves], tuple(spec for _, spec in parts)
    is_complex = state is not None and state.is_complex()
    return [torch.view_as_real(state) if is_complex else state], is_complex


def unflatten_state(leaves: list, spec, *, complex_leaves: bool = True):
    """The nested state back from `flatten_state`; `complex_leaves=False` keeps the real pairs (the form
    exported graphs and the SSM layers' real-arithmetic path take)."""
    def build(leaves, spec):
        if isinstance(spec, tuple):
            out = []
            for s in spec:
                item, leaves = build(leaves, s)
                out.append(item)
            return tuple(out), leaves
        leaf = leaves[0]
        return (torch.view_as_complex(leaf) if spec and complex_leaves else leaf), leaves[1:]
    return build(list(leaves), spec)[0]


class StreamingModule(nn.Module):
    """Base class: subclasses implement `init_state`, `forward_chunk` and, for speed, `forward_full`."""

    def __init__(self):
        super().__init__()
        self.run_mode = "training"
        self._carried_layout = None  # structure of the carried state, None when there is none

    def set_run_mode(self, mode: str) -> None:
        """Switch between 'training' (one-shot) and 'inference' (chunked with carried state)."""
        if mode not in RUN_MODES:
            raise ValueError(f"run mode must be one of {RUN_MODES}, got {mode!r}")
        self.run_mode = mode
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the carried state: the next inference call starts a new stream."""
        for name in [n for n in self._buffers if n.startswith("_carried")]:
            del self._buffers[name]
        self._carried_layout = None

    def init_state(self, batch_size: int, *, device=None, dtype=torch.float32):
        raise NotImplementedError

    def forward_chunk(self, x: torch.Tensor, state):
        """(y, new_state) for the next chunk x of a stream in state `state`."""
        raise NotImplementedError

    def forward_full(self, x: torch.Tensor) -> torch.Tensor:
        """One-shot output from a zero state."""
        return self.forward_chunk(x, self.init_state(x.shape[0], device=x.device, dtype=x.dtype))[0]

    def forward(self, x: torch.Tensor, state=_MISSING):
        if state is not _MISSING:
            if state is None:
                state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
            return self.forward_chunk(x, state)
        if self.run_mode == "training":
            return self.forward_full(x)
        state = self._load_carried(x)
        y, state = self.forward_chunk(x, state)
        self._store_carried(state)
        return y

    def _store_carried(self, state) -> None:
        self.reset_state()
        leaves, self._carried_layout = flatten_state(state)
        for i, leaf in enumerate(leaves):
            self.register_buffer(f"_carried{i}", leaf, persistent=False)
        self._carried_count = len(leaves)

    def _load_carried(self, x: torch.Tensor):
        fresh = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        if self._carried_layout is None:
            return fresh
        leaves = [self._buffers[f"_carried{i}"] for i in range(self._carried_count)]
        if any(leaf is not None and leaf.shape[0] != x.shape[0] for leaf in leaves):
            return fresh  # a new batch size is a new set of streams
        return unflatten_state(leaves, self._carried_layout)


class StreamingSequential(StreamingModule):
    """Like `nn.Sequential`; its state is the tuple of its children's states (None for stateless ones).

    Children that are not `StreamingModule`s must be pointwise in time (activations, 1×1 convs, ...).
    """

    def __init__(self, *modules: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(modules)

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return tuple(m.init_state(batch_size, device=device, dtype=dtype)
                     if isinstance(m, StreamingModule) else None for m in self.layers)

    def forward_full(self, x):
        for m in self.layers:
            x = m.forward_full(x) if isinstance(m, StreamingModule) else m(x)
        return x

    def forward_chunk(self, x, state):
        new_state = []
        for m, s in zip(self.layers, state):
            if isinstance(m, StreamingModule):
                x, s = m.forward_chunk(x, s)
            else:
                x = m(x)
            new_state.append(s)
        return x, tuple(new_state)


def streaming_modules(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, StreamingModule)]


def set_run_mode(model: nn.Module, mode: str) -> nn.Module:
    """Set the run mode of every streaming module in `model` (and reset their states). Returns `model`."""
    for m in streaming_modules(model):
        m.set_run_mode(mode)
    return model


def reset_state(model: nn.Module) -> nn.Module:
    """Reset the carried state of every streaming module in `model`. Returns `model`."""
    for m in streaming_modules(model):
        m.reset_state()
    return model
