"""Keyword spotting over a stream: sliding-window posteriors with smoothing, threshold and refractory period.

The classifier was trained on the mean of a clip's frame features; over a stream the same head reads the
mean of the last `window_s` of frames, one posterior per frame. Posteriors are averaged over `smooth_s`, and
a keyword fires when its smoothed probability reaches `threshold`, at most once per `refractory_s`.
"""
from dataclasses import dataclass

import torch

from ..layers import StreamingSequential
from ..models import CentaurusClassifier
from .engine import Streamer


@dataclass(frozen=True)
class Detection:
    """A keyword heard at `time_s` seconds (the end of the frame that fired), with its smoothed probability."""

    time_s: float
    keyword: str
    confidence: float


class KeywordSpotter:
    """Runs a keyword-spotting model (front end + `CentaurusClassifier`) on audio pushed in any sizes.

    Args:
        model: `StreamingSequential(front end..., CentaurusClassifier)` as the KWS task builds it.
        classes: class names in output order; `_unknown_` and `_silence_` never fire.
        keywords: the classes that may fire (default: every word).
    """

    def __init__(self, model: StreamingSequential, classes: list[str], *, keywords: list[str] | None = None,
                 threshold: float = 0.8, window_s: float = 1.0, smooth_s: float = 0.1, refractory_s: float = 1.0,
                 sample_rate: int = 16000, chunk_ms: float = 40.0, device: str = "cpu"):
        *front, classifier = model.layers
        if not isinstance(classifier, CentaurusClassifier):
            raise ValueError("expected a model ending in a CentaurusClassifier")
        words = [c for c in classes if not c.startswith("_")]
        unknown = sorted(set(keywords or words) - set(words))
        if unknown:
            raise ValueError(f"not keywords of this model: {', '.join(unknown)} (it knows {', '.join(words)})")
        self.classes, self.threshold, self.refractory_s = list(classes), threshold, refractory_s
        self.active = torch.tensor([c in (keywords or words) for c in classes])
        self.head = classifier.head.to(device).eval()
        hop = getattr(front[0], "hop", 1) if front else 1
        self.frame_s = hop * classifier.downsample_factor / sample_rate
        self.window = max(1, round(window_s / self.frame_s))
        self.smooth = max(1, round(smooth_s / self.frame_s))
        self.streamer = Streamer(StreamingSequential(*front, classifier.backbone), sample_rate=sample_rate,
                                 chunk_ms=chunk_ms, device=device)
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self.streamer.reset()
        self._features = torch.zeros(0, self.head[0].in_features)    # last `window` frames (F, C)
        self._posteriors = torch.zeros(0, len(self.classes))          # last `smooth` posteriors
        self._frames = 0
        self._last_fire = -float("inf")

    def push(self, samples: torch.Tensor) -> list[Detection]:
        """Feed mono samples (L,); returns the detections they complete."""
        return self._consume(self.streamer.push(samples))

    def flush(self) -> list[Detection]:
        return self._consume(self.streamer.flush())

    def _consume(self, outputs: list[torch.Tensor]) -> list[Detection]:
        detections = []
        for frames in outputs:                                        # (C, frames) per chunk
            for feature in frames.T:
                detection = self._frame(feature)
                if detection is not None:
                    detections.append(detection)
        return detections

    def _frame(self, feature: torch.Tensor) -> Detection | None:
        self._frames += 1
        self._features = torch.cat([self._features, feature[None]])[-self.window:]
        if self._features.shape[0] < self.window:  # the head was trained on whole windows only
            return None
        with torch.inference_mode():
            posterior = self.head(self._features.mean(0, keepdim=True)).softmax(-1)
        self._posteriors = torch.cat([self._posteriors, posterior])[-self.smooth:]
        prob, index = (self._posteriors.mean(0) * self.active).max(-1)
        now = self._frames * self.frame_s
        if prob < self.threshold or now - self._last_fire < self.refractory_s:
            return None
        self._last_fire = now
        return Detection(now, self.classes[int(index)], float(prob))
