"""Run an exported streaming step (`centaurus export --onnx`) with onnxruntime, without torch.

`OnnxStreamer` is a `ChunkedStream` like the torch `Streamer` (push/flush/report), on NumPy arrays, so
`enhance_stream` drives either. Without torch the process needs about a tenth of the memory, which is what
makes hour-long files fit in a few hundred MB.
"""
import contextlib
import hashlib
import os
from pathlib import Path

import numpy as np

from ..atomic import replacing
from ..audio.files import SAMPLE_RATE
from ..errors import CheckpointError
from ..training.pretrained import resolve_checkpoint  # names → folders; imports no torch
from .chunked import ChunkedStream

STEP_NAME = "stream-{chunk_ms:g}ms.onnx"  # where `export` puts a checkpoint's step, next to its weights
# The (live, file) chunks in ms of the steps `export` writes for a denoiser and a recogniser. Chunked streaming
# equals one-shot, so a file runs the same model in larger chunks, where per-operation overhead no longer
# dominates. Denoiser, one core: RTF 0.23 at 16 ms, 0.035 at 256 ms (512 ms gains little more and doubles the
# file; 1024 ms passes 150 MB RSS). Recogniser: 160 ms about halves the cost of 40 ms (320 ms: little more, 185 MB).
# Larger chunks of the recogniser leave the real-arithmetic chunk plans, which ONNX needs.
STEP_CHUNKS = {"denoise": (16.0, 256.0), "asr": (40.0, 160.0)}


def step_path(model: str | Path, chunk_ms: float) -> Path:
    """The ONNX step for `model`: an .onnx file as it is, or the step for `chunk_ms` inside a checkpoint
    folder or shipped model."""
    if str(model).endswith(".onnx"):
        if not Path(model).is_file():
            raise CheckpointError(f"{model}: no such ONNX file")
        return Path(model)
    folder = resolve_checkpoint(model)
    path = folder / STEP_NAME.format(chunk_ms=chunk_ms)
    if not path.is_file():
        have = sorted(p.name for p in folder.glob("stream-*ms.onnx")) or ["none"]
        raise CheckpointError(f"{folder}: no ONNX step for {chunk_ms:g} ms chunks (has: {', '.join(have)}); make one "
                              f"with `centaurus export {folder} --onnx {path} --chunk-ms {chunk_ms:g}`")
    return path


def pick_step(model: str | Path, task: str, chunk_ms: float | None, *, live: bool) -> Path:
    """The ONNX step a command of `task` ('denoise' or 'asr') runs: the one for `chunk_ms` when given; else the
    live step for live audio, and for files the file step where the model has one, else the live step."""
    live_ms, file_ms = STEP_CHUNKS[task]
    if chunk_ms is None and not live and not str(model).endswith(".onnx"):
        try:
            return step_path(model, file_ms)
        except CheckpointError:
            pass
    return step_path(model, chunk_ms or live_ms)


def open_session(path: str | Path, *, threads: int | None = None):
    """An onnxruntime CPU session for `path` on `threads` intra-op threads (default one); a file it cannot load
    is a `CheckpointError`. One thread by default: a step is hundreds of small operations, where more threads
    mostly wait on each other (the denoiser's 256 ms step on a busy 2-core machine: RTF 0.06 on one thread,
    0.13-0.15 on onnxruntime's own choice of two, which also ignores a process pinned to one core)."""
    import onnxruntime as ort

    def session(source: Path, *, save: Path | None = None):
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        options.intra_op_num_threads, options.inter_op_num_threads = threads or 1, 1
        if save is not None:  # constant folding only: what is saved runs on any CPU
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = str(save)
        try:
            return ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for every kind of bad file
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: not a loadable ONNX model ({reason})") from None

    path = Path(path)
    folded = _folded_path(path)
    if folded is None:
        return session(path)
    if folded.is_file():
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(folded)  # its time is its last use, which pruning goes by
        return session(folded)
    # First use: onnxruntime builds the SSM plans from the poles (the file stores only those) and keeps every
    # intermediate until it is done, several times the folded size; later runs load the folded copy.
    try:
        folded.parent.mkdir(parents=True, exist_ok=True)
        with replacing(folded) as tmp:
            session(path, save=tmp)
        _prune(folded.parent)
    except OSError:  # a read-only cache: fold at every load instead
        return session(path)
    return session(folded)


CACHE_KEEP = 16  # folded steps kept: each retrained or re-exported model adds one


def _prune(folder: Path) -> None:
    """Delete all but the `CACHE_KEEP` most recently used folded steps in `folder`."""
    def last_use(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:  # another process pruned it first
            return 0.0
    for old in sorted(folder.glob("*.onnx"), key=last_use, reverse=True)[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def _folded_path(path: Path) -> Path | None:
    """Where the constant-folded copy of the step at `path` is cached (keyed by its content), or None where it
    cannot be read. `CENTAURUS_CACHE` moves the cache (default ~/.cache/centaurus), which keeps the
    `CACHE_KEEP` most recently used copies."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    except OSError:
        return None
    root = Path(os.environ.get("CENTAURUS_CACHE") or Path.home() / ".cache" / "centaurus")
    return root / "onnx" / f"{path.stem}-{digest}.onnx"


class OnnxStreamer(ChunkedStream):
    """Runs an exported step chunk by chunk on mono audio, carrying its state tensors.

    Args:
        path: the .onnx file written by `export_onnx`.
        threads: intra-op threads (default one).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None):
        self.session = open_session(path, threads=threads)
        audio, *states = self.session.get_inputs()
        if audio.name != "audio" or len(audio.shape) != 3 or not isinstance(audio.shape[-1], int):
            raise CheckpointError(f"{path}: not a Centaurus streaming step (no fixed-size 'audio' input)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = Path(path)
        self.chunk_samples = audio.shape[-1]
        self.sample_rate = int(meta.get("sample_rate", SAMPLE_RATE))
        self.lookahead_samples = int(meta.get("latency_samples", 0))
        self.delay_samples = int(meta.get("delay_samples", 0))
        self.frame_samples = int(meta["frame_samples"]) if "frame_samples" in meta else None
        self.metadata = dict(meta)
        self._state_names = [s.name for s in states]
        self._state_shapes = [s.shape for s in states]
        self._prime = int(meta.get("prime_samples", 0))
        if "frame_ratio" in meta:  # frame outputs: (window, hop) front-end frames, `frame_ratio` per output
            self._framing = tuple(int(meta[k]) for k in ("window_samples", "hop_samples", "frame_ratio"))
        self.reset()

    def _reset_state(self) -> None:
        self._state = [np.zeros(shape, dtype=np.float32) for shape in self._state_shapes]
        self._primer = np.zeros(0, dtype=np.float32)
        self._frames_out = 0

    def push(self, samples) -> list:
        """As `ChunkedStream.push`; a step with `prime_samples` first takes that many samples of the stream
        as its front end's pending window (state_0), as the torch stream holds them after its first chunk."""
        samples = self._mono(samples)
        if self._primer.shape[0] < self._prime:
            take = samples[: self._prime - self._primer.shape[0]]
            self._primer, samples = np.concatenate([self._primer, take]), samples[take.shape[0]:]
            self._samples += take.shape[0]
            if self._primer.shape[0] == self._prime:
                self._state[0] = self._primer.reshape(self._state_shapes[0])
        return super().push(samples)

    def flush(self) -> list:
        if self._primer.shape[0] < self._prime:  # too short for a single front-end frame
            return []
        return super().flush()

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        """(T,) → (1, T), the state carried to the next chunk."""
        feeds = {"audio": chunk[None, None], **dict(zip(self._state_names, self._state))}
        output, *self._state = self._timed(self.session.run, None, feeds)
        self._frames_out += output.shape[1]
        return output[0]

    def _run_last(self, chunk: np.ndarray) -> np.ndarray:
        """The step's size is fixed, so the last chunk is padded with zeros and its output cut back to what
        the stream's own samples complete; the model is causal, so the padding cannot change what is kept."""
        padded = np.concatenate([chunk, np.zeros(self.chunk_samples - chunk.shape[0], dtype=np.float32)])
        emitted = self._frames_out
        output = self._run(padded)
        if not hasattr(self, "_framing"):
            return output[..., :chunk.shape[0]]
        window, hop, ratio = self._framing
        frames = (self._samples - window) // hop + 1 if self._samples >= window else 0
        return output[: max(0, frames // ratio - emitted)]
