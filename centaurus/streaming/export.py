"""Export a model's streaming step to ONNX: fixed chunk size, explicit state inputs and outputs.

The exported graph computes `(output, state') = model(chunk, state)` for chunks of exactly T samples. SSM
states travel as (real, imaginary) pairs, since ONNX has no complex type, and the SSM layers then take their
real-arithmetic chunk plan. T must be a multiple of the model's down-sampling factor, so that no pooling
window is ever pending and every state has a fixed shape.
"""
from pathlib import Path

import torch

from ..audio import SAMPLE_RATE
from ..errors import CentaurusError
from ..layers import StreamingModule
from ..layers.ssm_layer import pinned_caches
from ..layers.streaming import flatten_state, unflatten_state


class _StepGraph(torch.nn.Module):
    """forward(chunk, *live_state) → (output, *live_state'); always-empty state leaves stay inside."""

    def __init__(self, model: StreamingModule, spec, shapes: list[torch.Size | None]):
        super().__init__()
        self.model, self.spec, self.shapes = model, spec, shapes
        self.live = [i for i, shape in enumerate(shapes) if shape is not None and shape.numel() > 0]

    def model_state(self, live: list[torch.Tensor]):
        """The model's own (nested, real-valued) state for the given live leaves."""
        leaves = [None if shape is None else live[0].new_zeros(shape) for shape in self.shapes]
        for i, leaf in zip(self.live, live):
            leaves[i] = leaf
        return unflatten_state(leaves, self.spec, complex_leaves=False)

    def forward(self, chunk, *live):
        y, new_state = self.model(chunk, self.model_state(list(live)))
        new_leaves, _ = flatten_state(new_state)
        return (y, *[new_leaves[i] for i in self.live])


def initial_state(graph: _StepGraph) -> list[torch.Tensor]:
    """Zeros for the live state inputs of an exported step: the start of a stream. Where a model keeps
    samples pending between chunks (a front end's overlapping windows), zeros mean the stream starts after
    that many samples of silence."""
    return [torch.zeros(graph.shapes[i]) for i in graph.live]


def step_graph(model: StreamingModule, *, chunk_samples: int, in_channels: int = 1) -> _StepGraph:
    """The streaming step of `model` for chunks of `chunk_samples`, with real-valued state leaves."""
    factor = int(getattr(model, "downsample_factor", 1))
    if chunk_samples % factor:
        raise CentaurusError(f"chunk of {chunk_samples} samples: it must be a multiple of the model's "
                             f"down-sampling factor {factor} to export a fixed-shape step")
    model.eval()
    probe = torch.zeros(1, in_channels, chunk_samples)
    with torch.no_grad():
        leaves, spec = flatten_state(model.init_state(1))
        _, state = model(probe, unflatten_state(leaves, spec, complex_leaves=False))
        _, again = model(probe, state)
    (leaves, spec), (again_leaves, _) = flatten_state(state), flatten_state(again)
    shapes = [None if leaf is None else leaf.shape for leaf in leaves]
    if shapes != [None if leaf is None else leaf.shape for leaf in again_leaves]:
        raise CentaurusError(f"chunk of {chunk_samples} samples: the model's pending samples change from chunk to "
                             "chunk; use a multiple of its total down-sampling (hop × pooling) factor")
    return _StepGraph(model, spec, shapes).eval()  # the exporter restores this mode on the model after


def _add_metadata(path: Path, **values) -> None:
    """Record what a runtime needs beyond the graph (rate, look-ahead) in the model's metadata."""
    import onnx
    proto = onnx.load(str(path))
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))


def export_onnx(model: StreamingModule, path: str | Path, *, chunk_samples: int, in_channels: int = 1,
                opset: int = 17) -> _StepGraph:
    """Write the streaming step of `model` to `path` (ONNX). Inputs: `audio` (1, C, T) then `state_i`;
    outputs: `output` then `state_i_out`; metadata: `sample_rate`, `chunk_samples`, `latency_samples`,
    `delay_samples` and, where the model declares its down-sampling factor, `frame_samples`.
    Returns the step graph (for its state shapes)."""
    graph = step_graph(model, chunk_samples=chunk_samples, in_channels=in_channels)
    states = initial_state(graph)
    names = [f"state_{i}" for i in range(len(states))]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), pinned_caches(model):
        torch.onnx.export(graph, (torch.zeros(1, in_channels, chunk_samples), *states), str(tmp), dynamo=False,
                          opset_version=opset, input_names=["audio", *names],
                          output_names=["output", *[n + "_out" for n in names]])
    _add_metadata(tmp, sample_rate=SAMPLE_RATE, chunk_samples=chunk_samples,
                  latency_samples=int(getattr(model, "latency_samples", 0)),
                  delay_samples=int(getattr(model, "delay_samples", 0)),
                  **({"frame_samples": model.downsample_factor} if hasattr(model, "downsample_factor") else {}))
    tmp.replace(path)
    return graph
