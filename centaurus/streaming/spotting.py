"""What keyword spotting decides from posteriors, for either engine, and the ONNX engine itself; no torch here.

`Decisions` (`centaurus.tasks.detection`) smooths the posteriors, applies the thresholds (one for all or one per
keyword, as a model may store them) and the refractory period; the torch `KeywordSpotter` and
`OnnxKeywordSpotter` both feed it, so equal posteriors give equal detections.
`OnnxKeywordSpotter` runs the 'window' context's exported step (`export_kws_window`): every hop, the front
end over the new audio and the classifier over the last window of frames.
"""
import json
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..tasks.detection import Decisions, Detection, StreamScores, active_classes
from ..training.pretrained import resolve_checkpoint
from .onnx_step import open_session

WINDOW_STEP = "kws-window.onnx"  # where `export` puts a keyword spotter's window step, next to its weights


def stored_thresholds(model: str | Path) -> dict[str, float] | None:
    """The per-keyword thresholds stored in a checkpoint's config.json (`centaurus kws calibrate` writes them),
    for a checkpoint folder, a shipped name or a step file inside a checkpoint folder; None where none are."""
    folder = Path(model).parent if str(model).endswith(".onnx") else resolve_checkpoint(model)
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        thresholds = json.loads(config.read_text(encoding="utf-8")).get("thresholds")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CheckpointError(f"{config}: not a valid checkpoint config ({err})") from None
    if thresholds is None:
        return None
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, (int, float)) and 0 < v <= 1 for v in thresholds.values()):
        raise CheckpointError(f"{config}: 'thresholds' must map keywords to probabilities in (0, 1]")
    return {str(k): float(v) for k, v in thresholds.items()}


def window_step_path(model: str | Path) -> Path | None:
    """The keyword spotter's exported window step for `model` (a step file, a checkpoint folder or a shipped
    name), or None where it has none."""
    if str(model).endswith(".onnx"):
        if not Path(model).is_file():
            raise CheckpointError(f"{model}: no such ONNX file")
        return Path(model)
    path = resolve_checkpoint(model) / WINDOW_STEP
    return path if path.is_file() else None


class OnnxKeywordSpotter:
    """The 'window' context of `KeywordSpotter` on its exported step, in onnxruntime: the posteriors of the
    last window (its length and hop are the step's) every hop, from a stream preceded by silence.

    Args:
        path: the step written by `export_kws_window`.
        keywords: the classes that may fire (default: every word).
        threshold: one for every keyword, or a {keyword: value} map (a model's stored thresholds).
        threads: intra-op threads (default one).
    """

    def __init__(self, path: str | Path, *, keywords: list[str] | None = None,
                 threshold: float | dict[str, float] = 0.8,
                 smooth_s: float = 0.3, refractory_s: float = 1.0, threads: int | None = None):
        self.session = open_session(path, threads=threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("context") != "window":
            raise CheckpointError(f"{path}: not a keyword spotter's window step")
        self.classes = json.loads(meta["classes"])
        self.sample_rate, self.hop = int(meta["sample_rate"]), int(meta["chunk_samples"])
        self.window_samples = int(meta["window_samples"])
        self.hop_s = self.hop / self.sample_rate
        inputs = self.session.get_inputs()
        self._names = [i.name for i in inputs[1:]]
        self._shapes = [i.shape for i in inputs[1:]]
        self.decisions = Decisions(self.classes, active_classes(self.classes, keywords), threshold=threshold,
                                   refractory_s=refractory_s, smooth=max(1, round(smooth_s / self.hop_s)))
        self._state = [np.zeros(shape, dtype=np.float32) for shape in self._shapes]
        silence = np.zeros(self.hop, dtype=np.float32)
        for _ in range(-(-self.window_samples // self.hop)):  # the window fills with the frames of silence
            self._step(silence)
        self._start = self._state
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self.decisions.reset()
        self._state = list(self._start)
        self._unframed = np.zeros(0, dtype=np.float32)
        self._hops = 0

    def _step(self, hop: np.ndarray) -> np.ndarray:
        output, *self._state = self.session.run(None, {"audio": hop[None, None],
                                                       **dict(zip(self._names, self._state))})
        return output

    def _posteriors(self, samples) -> list[tuple[np.ndarray, float]]:
        """The (1, C) posterior at the end of every hop these samples complete, with its time."""
        self._unframed = np.concatenate([self._unframed, np.asarray(samples, dtype=np.float32).reshape(-1)])
        out = []
        while self._unframed.shape[0] >= self.hop:
            posterior = self._step(self._unframed[:self.hop])
            self._unframed, self._hops = self._unframed[self.hop:], self._hops + 1
            out.append((posterior, self._hops * self.hop / self.sample_rate))
        return out

    def _decide(self, posteriors: list[tuple[np.ndarray, float]]) -> list[Detection]:
        return [d for d in (self.decisions(p, now) for p, now in posteriors) if d is not None]

    def push(self, samples) -> list[Detection]:
        """Feed mono samples (L,); returns the detections they complete."""
        return self._decide(self._posteriors(samples))

    def flush(self) -> list[Detection]:
        """End of the stream: half a window of silence, so a final word can centre."""
        return self._decide(self._posteriors(self._tail()))

    def _tail(self) -> np.ndarray:
        return np.zeros(self.window_samples // 2, dtype=np.float32)

    def scores(self, samples, keyword: str | None = None) -> StreamScores:
        """The raw posteriors that pushing `samples` (a whole stream, from a reset) and flushing would decide
        on, for `centaurus.tasks.detection`'s measures."""
        self.reset()
        found = self._posteriors(samples) + self._posteriors(self._tail())
        self.reset()
        return StreamScores(np.concatenate([p for p, _ in found]) if found else
                            np.zeros((0, len(self.classes)), dtype=np.float32),
                            np.array([t for _, t in found]), len(np.asarray(samples).reshape(-1)) /
                            self.sample_rate, keyword)
