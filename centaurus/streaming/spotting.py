"""What keyword spotting decides from posteriors, for either engine, and the ONNX engine itself; no torch here.

`Decisions` smooths the posteriors, applies the threshold and the refractory period; the torch
`KeywordSpotter` and `OnnxKeywordSpotter` both feed it, so equal posteriors give equal detections.
`OnnxKeywordSpotter` runs the 'window' context's exported step (`export_kws_window`): every hop, the front
end over the new audio and the classifier over the last window of frames.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..training.pretrained import resolve_checkpoint
from .onnx_step import open_session

WINDOW_STEP = "kws-window.onnx"  # where `export` puts a keyword spotter's window step, next to its weights


@dataclass(frozen=True)
class Detection:
    """A keyword heard at `time_s` seconds (the end of the frame that fired), with its smoothed probability."""

    time_s: float
    keyword: str
    confidence: float


def active_classes(classes: list[str], keywords: list[str] | None) -> np.ndarray:
    """Which classes may fire: `keywords` (default: every word; `_unknown_` and `_silence_` never fire)."""
    words = [c for c in classes if not c.startswith("_")]
    unknown = sorted(set(keywords or words) - set(words))
    if unknown:
        raise ValueError(f"not keywords of this model: {', '.join(unknown)} (it knows {', '.join(words)})")
    return np.array([c in (keywords or words) for c in classes])


class Decisions:
    """Averages the last `smooth` posteriors; a keyword fires when its average reaches `threshold`, at most
    once per `refractory_s`."""

    def __init__(self, classes: list[str], active: np.ndarray, *, threshold: float, refractory_s: float,
                 smooth: int):
        self.classes, self.active = list(classes), active.astype(np.float32)
        self.threshold, self.refractory_s, self.smooth = threshold, refractory_s, smooth
        self.reset()

    def reset(self) -> None:
        self._posteriors = np.zeros((0, len(self.classes)), dtype=np.float32)
        self._last_fire = -float("inf")

    def __call__(self, posterior: np.ndarray, now: float) -> Detection | None:
        """Smooth the (1, classes) posterior with the last few and fire if it clears the bars."""
        self._posteriors = np.concatenate([self._posteriors, posterior.astype(np.float32)])[-self.smooth:]
        scores = self._posteriors.mean(0) * self.active
        index = int(scores.argmax())
        if scores[index] < self.threshold or now - self._last_fire < self.refractory_s:
            return None
        self._last_fire = now
        return Detection(now, self.classes[index], float(scores[index]))


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
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str | Path, *, keywords: list[str] | None = None, threshold: float = 0.8,
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

    def push(self, samples) -> list[Detection]:
        """Feed mono samples (L,); returns the detections they complete."""
        self._unframed = np.concatenate([self._unframed, np.asarray(samples, dtype=np.float32).reshape(-1)])
        detections = []
        while self._unframed.shape[0] >= self.hop:
            posterior = self._step(self._unframed[:self.hop])
            self._unframed, self._hops = self._unframed[self.hop:], self._hops + 1
            detection = self.decisions(posterior, self._hops * self.hop / self.sample_rate)
            if detection is not None:
                detections.append(detection)
        return detections

    def flush(self) -> list[Detection]:
        """End of the stream: half a window of silence, so a final word can centre."""
        return self.push(np.zeros(self.window_samples // 2, dtype=np.float32))
