"""Export a model's streaming step to ONNX: fixed chunk size, explicit state inputs and outputs.

The exported graph computes `(output, state') = model(chunk, state)` for chunks of exactly T samples. SSM
states travel as (real, imaginary) pairs, since ONNX has no complex type, and the SSM layers then take their
real-arithmetic chunk plan, which the graph builds from each layer's poles and projections: a plan is far
larger than what it is built from, and onnxruntime builds it once, when it loads the graph. T must be a
multiple of the model's down-sampling factor, so that no pooling window is ever pending and every state has a
fixed shape.
"""
import json
from pathlib import Path

import torch

from ..audio import SAMPLE_RATE
from ..errors import CentaurusError
from ..layers import StreamingModule
from ..layers.ssm_layer import exporting
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


def _shared_constants(proto) -> None:
    """One copy of each constant tensor: a graph that calls a module several times (the keyword spotter's
    window, in pieces) is traced with that module's constants once per call."""
    import hashlib
    first: dict[bytes, str] = {}
    renamed: dict[str, str] = {}
    kept = []
    for node in proto.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            key = hashlib.sha256(node.attribute[0].t.SerializeToString(deterministic=True).replace(
                node.attribute[0].t.name.encode(), b"")).digest()
            if key in first:
                renamed[node.output[0]] = first[key]
                continue
            first[key] = node.output[0]
        kept.append(node)
    for node in kept:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    del proto.graph.node[:]
    proto.graph.node.extend(kept)


def _add_metadata(path: Path, **values) -> None:
    """Record what a runtime needs beyond the graph (rate, look-ahead) in the model's metadata, and keep one
    copy of each constant."""
    import onnx
    proto = onnx.load(str(path))
    _shared_constants(proto)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))


def _front_frames(model: StreamingModule) -> dict:
    """How a model with a log-mel front end frames audio (window and hop in samples; a raw-waveform model's
    frames are its samples), and the samples its first front-end state holds between chunks."""
    from ..tasks.frontend import LogMel
    front = model.layers[0] if hasattr(model, "layers") else None
    if isinstance(front, LogMel):
        return {"window_samples": front.n_fft, "hop_samples": front.hop}
    return {"window_samples": 1, "hop_samples": 1}


def export_onnx(model: StreamingModule, path: str | Path, *, chunk_samples: int, in_channels: int = 1,
                opset: int = 17, **metadata) -> _StepGraph:
    """Write the streaming step of `model` to `path` (ONNX). Inputs: `audio` (1, C, T) then `state_i`;
    outputs: `output` then `state_i_out`; metadata: `sample_rate`, `chunk_samples`, `latency_samples`,
    `delay_samples` and, where the model declares its down-sampling factor, `frame_samples`.
    Returns the step graph (for its state shapes)."""
    graph = step_graph(model, chunk_samples=chunk_samples, in_channels=in_channels)
    states = initial_state(graph)
    names = [f"state_{i}" for i in range(len(states))]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), exporting(model):  # no folding: the chunk plans stay built from the weights, not stored
        torch.onnx.export(graph, (torch.zeros(1, in_channels, chunk_samples), *states), str(tmp), dynamo=False,
                          do_constant_folding=False, opset_version=opset, input_names=["audio", *names],
                          output_names=["output", *[n + "_out" for n in names]])
    _add_metadata(tmp, sample_rate=SAMPLE_RATE, chunk_samples=chunk_samples,
                  latency_samples=int(getattr(model, "latency_samples", 0)),
                  delay_samples=int(getattr(model, "delay_samples", 0)),
                  **({"frame_samples": model.downsample_factor} if hasattr(model, "downsample_factor") else {}),
                  **metadata)
    tmp.replace(path)
    return graph


def export_ctc(model: StreamingModule, path: str | Path, *, tokenizer_config: dict, chunk_samples: int = 640,
               opset: int = 17) -> _StepGraph:
    """Write the acoustic step of a CTC model (`ASRTask.build_model`): audio chunk → per-frame log-probs
    (1, frames, vocab). Decoding stays outside the graph (`OnnxTranscriber`). The metadata add the tokenizer
    and how frames fall on the audio; with a log-mel front end, `prime_samples` says how many leading samples
    of a stream go straight into the front end's pending window (state_0), so that every chunk then completes
    whole output frames and the stream matches the torch one frame for frame."""
    framing = _front_frames(model)
    encoder = model.layers[-1]
    ratio = encoder.downsample_factor
    frame_samples = framing["hop_samples"] * ratio
    if chunk_samples % frame_samples:
        raise CentaurusError(f"chunk of {chunk_samples} samples: a CTC step needs a multiple of its output frame "
                             f"({frame_samples} samples)")
    prime = 0
    if framing["window_samples"] > 1:  # the log-mel front end's pending samples are the first state leaf
        graph = step_graph(model, chunk_samples=chunk_samples)
        prime = int(graph.shapes[0][-1]) if graph.live[:1] == [0] else 0
    return export_onnx(model, path, chunk_samples=chunk_samples, opset=opset, task="asr",
                       tokenizer=json.dumps(tokenizer_config), frame_ratio=ratio, prime_samples=prime, **framing)


class _WindowGraph(torch.nn.Module):
    """forward(hop, *front_state, window) → (posterior, *front_state', window'): the front end over one hop
    of audio, its frames appended to the last window's, and the classifier on the newest `window` frames
    from a zero state, as `KeywordSpotter` does in its 'window' context. The classifier streams over the
    window from its initial state in pieces of whole down-sampling groups (the small real-arithmetic plans:
    its full-sequence path has complex ops ONNX lacks); the last piece's running-mean logits are the
    one-shot logits (frames past the last whole group make no output in either)."""

    def __init__(self, front: _StepGraph, classifier: StreamingModule, frames: int, piece: int):
        super().__init__()
        self.front, self.classifier, self.frames, self.piece = front, classifier, frames, piece
        leaves, self.spec = flatten_state(classifier.init_state(1))
        self.shapes = [None if leaf is None else leaf.shape for leaf in leaves]

    def forward(self, hop, *args):
        *state, window = args
        new_frames, *state = self.front(hop, *state)
        window = torch.cat([window, new_frames], -1)[..., -self.frames:]
        start = [None if shape is None else window.new_zeros(shape) for shape in self.shapes]
        carried, piece = unflatten_state(start, self.spec, complex_leaves=False), self.piece
        for first in range(0, self.frames - self.frames % piece, piece):  # a partial group makes no output
            logits, carried = self.classifier(window[..., first:first + piece], carried)
        return (logits.softmax(-1), *state, window)


def export_kws_window(model: StreamingModule, path: str | Path, *, classes: list[str], window_s: float = 1.0,
                      hop_s: float = 0.1, opset: int = 17) -> _WindowGraph:
    """Write the keyword spotter's 'window' step: every `hop_s` of audio, the posteriors of the last
    `window_s`. Inputs `audio` (1, 1, hop), `state_i` (the front end's) and `window` (1, features, frames);
    outputs `output` (1, classes), `state_i_out`, `window_out`. Metadata: classes, the hop and window."""
    *front, classifier = model.layers
    hop, window_samples = round(hop_s * SAMPLE_RATE), round(window_s * SAMPLE_RATE)
    front_model = type(model)(*front)
    front_graph = step_graph(front_model, chunk_samples=hop)
    with torch.no_grad():
        frames = front_model(torch.zeros(1, 1, window_samples), None)[0]
    if frames.shape[-1] > window_samples // 16:  # no frame hop: tracing its in-graph plans takes > 10 GB
        raise CentaurusError(f"a front end at {frames.shape[-1]} frames a window has no ONNX window step "
                             "(a raw-waveform front end); the torch engine runs it")
    # About 24 frames a call: fewer, larger products run faster in onnxruntime (the shipped spotter: RTF 0.031
    # against 0.053 with one down-sampling group a call, 1 core), and the chunk plans stay small.
    factor = classifier.downsample_factor
    graph = _WindowGraph(front_graph, classifier, frames.shape[-1], max(1, 24 // factor) * factor).eval()
    states = initial_state(front_graph)
    names = [f"state_{i}" for i in range(len(states))]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    inputs = (torch.zeros(1, 1, hop), *states, torch.zeros_like(frames))
    with torch.no_grad(), exporting(model):
        torch.onnx.export(graph, inputs, str(tmp), dynamo=False, do_constant_folding=False, opset_version=opset,
                          input_names=["audio", *names, "window"],
                          output_names=["output", *[n + "_out" for n in names], "window_out"])
    _add_metadata(tmp, sample_rate=SAMPLE_RATE, chunk_samples=hop, task="kws", context="window",
                  window_samples=window_samples, classes=json.dumps(classes))
    tmp.replace(path)
    return graph


def export_task_step(model: StreamingModule, task, path: str | Path, *, chunk_samples: int | None = None) -> Path:
    """Write the step an inference command runs for a model of `task` (a loaded checkpoint's): a keyword
    spotter's window step (`kws`; its hop is fixed, so `chunk_samples` does not apply), a recogniser's acoustic
    step with its tokenizer (`transcribe`; 40 ms chunks by default), a denoiser's step (`denoise`; 16 ms)."""
    if task.name == "kws":
        export_kws_window(model, path, classes=list(task.classes))
    elif task.name == "asr":
        export_ctc(model, path, tokenizer_config=task.tokenizer.config(),
                   chunk_samples=chunk_samples or round(0.04 * SAMPLE_RATE))
    else:
        export_onnx(model, path, chunk_samples=chunk_samples or round(0.016 * SAMPLE_RATE))
    return Path(path)


def export_steps(checkpoint: str | Path, *, force: bool = True) -> list[Path]:
    """Write the ONNX steps that the inference commands run by default into a checkpoint folder, beside its
    weights: a denoiser's `stream-16ms.onnx` (live audio) and `stream-256ms.onnx` (files: the same output at a
    fraction of the cost), a recogniser's `stream-40ms.onnx` and `stream-160ms.onnx` likewise, a keyword
    spotter's `kws-window.onnx`. Returns the files written; with `force` False, existing ones stay."""
    from ..training import load_model
    from .onnx_step import STEP_CHUNKS, STEP_NAME
    from .spotting import WINDOW_STEP
    folder = Path(checkpoint)
    _, task, model, _ = load_model(folder)
    chunks = STEP_CHUNKS["asr" if task.name == "asr" else "denoise"]
    steps = {WINDOW_STEP: None} if task.name == "kws" else {
        STEP_NAME.format(chunk_ms=ms): round(ms * SAMPLE_RATE / 1000) for ms in chunks}
    return [export_task_step(model, task, folder / name, chunk_samples=chunk)
            for name, chunk in steps.items() if force or not (folder / name).exists()]
