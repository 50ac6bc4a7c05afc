"""Run an exported streaming step (`centaurus export --onnx`) with onnxruntime, without torch.

`OnnxStreamer` has the push/flush/report interface of the torch `Streamer`, on NumPy arrays, so
`enhance_stream` drives either. Without torch the process needs about a tenth of the memory, which is what
makes hour-long files fit in a few hundred MB.
"""
import time
from pathlib import Path

import numpy as np

from ..audio.files import SAMPLE_RATE
from ..errors import CentaurusError, CheckpointError
from ..training.pretrained import resolve_checkpoint  # names → folders; imports no torch
from .report import StreamReport, stream_report

STEP_NAME = "stream-{chunk_ms:g}ms.onnx"  # where `export` puts a checkpoint's step, next to its weights


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


class OnnxStreamer:
    """Runs an exported step chunk by chunk on mono audio, carrying its state tensors.

    Args:
        path: the .onnx file written by `export_onnx`.
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CentaurusError("the ONNX engine needs onnxruntime: pip install 'centaurus[export]'") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for every kind of bad file
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: not a loadable ONNX model ({reason})") from None
        audio, *states = self.session.get_inputs()
        if audio.name != "audio" or len(audio.shape) != 3 or not isinstance(audio.shape[-1], int):
            raise CheckpointError(f"{path}: not a Centaurus streaming step (no fixed-size 'audio' input)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = Path(path)
        self.chunk_samples = audio.shape[-1]
        self.sample_rate = int(meta.get("sample_rate", SAMPLE_RATE))
        self.lookahead_samples = int(meta.get("latency_samples", 0))
        self._state_names = [s.name for s in states]
        self._state_shapes = [s.shape for s in states]
        self.reset()

    def reset(self) -> None:
        """Start a new stream: zero state, empty buffer, fresh timings."""
        self._state = [np.zeros(shape, dtype=np.float32) for shape in self._state_shapes]
        self._pending = np.zeros(0, dtype=np.float32)
        self._timings: list[float] = []
        self._samples = 0

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        """Buffer mono samples (L,) and run every whole chunk. Returns the (1, T) outputs of the chunks run."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        whole = self._pending.shape[0] // self.chunk_samples * self.chunk_samples
        outputs = [self._run(self._pending[s:s + self.chunk_samples]) for s in range(0, whole, self.chunk_samples)]
        self._pending = self._pending[whole:]
        return outputs

    def flush(self) -> list[np.ndarray]:
        """Run what is left as a last chunk. The step's size is fixed, so it is padded with zeros and the output
        cut back; the model is causal, so the padding cannot change the samples kept."""
        left = self._pending.shape[0]
        if not left:
            return []
        chunk = np.concatenate([self._pending, np.zeros(self.chunk_samples - left, dtype=np.float32)])
        self._pending = np.zeros(0, dtype=np.float32)
        out = self._run(chunk)[..., :left]
        self._samples -= self.chunk_samples - left
        return [out]

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        feeds = {"audio": chunk[None, None], **dict(zip(self._state_names, self._state))}
        start = time.perf_counter()
        output, *self._state = self.session.run(None, feeds)
        self._timings.append(time.perf_counter() - start)
        self._samples += chunk.shape[0]
        return output[0]

    def report(self) -> StreamReport:
        """Timings and latency of the stream so far."""
        return stream_report(self._timings, samples=self._samples, sample_rate=self.sample_rate,
                             chunk_samples=self.chunk_samples, lookahead_samples=self.lookahead_samples)
