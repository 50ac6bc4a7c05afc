"""Keyword spotting over a stream: sliding-window posteriors with smoothing, threshold and refractory period.

Two ways to get a posterior every hop:

* context 'window' (default): classify the last `window_s` of audio from a zero state, every `hop_s`. This is
  exactly the condition a classifier trained on clips saw, so it suits the shipped models. The front end is
  frame-wise (each log-mel frame comes from its own samples), so it streams once over the audio and each
  window reuses the frames of the last one: only the classifier runs per window, on the window's frames.
* context 'stream': run the backbone once over the whole stream with carried state, and read the head on the
  mean of the last `window_s` of frames (a posterior per frame). Cheaper, but only right for models trained
  on streamed context: a clip-trained model's state drifts over long streams.

Posteriors are averaged over `smooth_s`, and a keyword fires when its smoothed probability reaches
`threshold`, at most once per `refractory_s`. Detections do not depend on how the audio is chunked.
"""
import numpy as np
import torch

from ..layers import StreamingSequential
from ..models import CentaurusClassifier
from .engine import Streamer
from ..tasks.detection import Decisions, Detection, StreamScores, active_classes


class KeywordSpotter:
    """Runs a keyword-spotting model (front end + `CentaurusClassifier`) on audio pushed in any sizes.

    Args:
        model: `StreamingSequential(front end..., CentaurusClassifier)` as the KWS task builds it.
        classes: class names in output order; `_unknown_` and `_silence_` never fire.
        keywords: the classes that may fire (default: every word).
        threshold: one for every keyword, or a {keyword: value} map (a model's stored thresholds).
    """

    def __init__(self, model: StreamingSequential, classes: list[str], *, keywords: list[str] | None = None,
                 threshold: float | dict[str, float] = 0.8, window_s: float = 1.0, smooth_s: float = 0.3, refractory_s: float = 1.0,
                 context: str = "window", hop_s: float = 0.1, sample_rate: int = 16000, chunk_ms: float = 40.0,
                 device: str = "cpu"):
        if context not in ("window", "stream"):
            raise ValueError(f"context must be 'window' or 'stream', got {context!r}")
        *front, classifier = model.layers
        if not isinstance(classifier, CentaurusClassifier):
            raise ValueError("expected a model ending in a CentaurusClassifier")
        self.classes = list(classes)
        active = active_classes(self.classes, keywords)
        self.active = torch.from_numpy(active)
        self.device = torch.device(device)
        self.head = classifier.head.to(device).eval()
        self.context, self.model, self.sample_rate = context, model.to(device).eval(), sample_rate
        frame_hop = getattr(front[0], "hop", 1) if front else 1
        self.frame_s = frame_hop * classifier.downsample_factor / sample_rate if context == "stream" else hop_s
        self.window = max(1, round(window_s / self.frame_s))            # frames ('stream')
        self.window_samples = round(window_s * sample_rate)             # samples ('window')
        self.hop = max(1, round(hop_s * sample_rate))
        if context == "window" and self.hop % frame_hop:
            raise ValueError(f"hop_s must be a whole number of front-end frames ({frame_hop} samples)")
        self.decisions = Decisions(self.classes, active, threshold=threshold, refractory_s=refractory_s,
                                   smooth=max(1, round(smooth_s / self.frame_s)))
        self.streamer = (Streamer(StreamingSequential(*front, classifier.backbone), sample_rate=sample_rate,
                                  chunk_ms=chunk_ms, device=device) if context == "stream" else None)
        self.classifier, self.front = classifier, StreamingSequential(*front)
        with torch.inference_mode():
            silence = torch.zeros(1, 1, self.window_samples, device=device)
            self.window_frames = self.front(silence, None)[0].shape[-1]  # front-end frames per window
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        if self.streamer is not None:
            self.streamer.reset()
        self._features = torch.zeros(0, self.head[0].in_features)    # last `window` frames (F, C)
        self.decisions.reset()
        self._frames = 0
        self._unframed = torch.zeros(0)                               # samples since the last hop boundary
        self._hops = 0
        self._front_state = self._window = None
        if self.context == "window":
            self._advance(torch.zeros(self.window_samples))           # the stream is preceded by silence

    def push(self, samples) -> list[Detection]:
        """Feed mono samples (L,), a tensor or an array; returns the detections they complete."""
        return self._decide(self._posteriors(samples))

    def flush(self) -> list[Detection]:
        """End of the stream: the last partial chunk, or half a window of silence so a final word can centre."""
        return self._decide(self._tail())

    def scores(self, samples, keyword: str | None = None) -> StreamScores:
        """The raw posteriors that pushing `samples` (a whole stream, from a reset) and flushing would decide
        on, for `centaurus.tasks.detection`'s measures."""
        self.reset()
        found = self._posteriors(samples) + self._tail()
        self.reset()
        return StreamScores(np.concatenate([p for p, _ in found]) if found else
                            np.zeros((0, len(self.classes)), dtype=np.float32),
                            np.array([t for _, t in found]), len(torch.as_tensor(samples).reshape(-1)) /
                            self.sample_rate, keyword)

    def _posteriors(self, samples) -> list[tuple[np.ndarray, float]]:
        if self.context == "stream":
            return self._consume(self.streamer.push(samples))
        return self._windows(torch.as_tensor(samples).detach().float().cpu().reshape(-1))

    def _tail(self) -> list[tuple[np.ndarray, float]]:
        if self.context == "stream":
            return self._consume(self.streamer.flush())
        return self._windows(torch.zeros(self.window_samples // 2))

    def _decide(self, posteriors: list[tuple[np.ndarray, float]]) -> list[Detection]:
        return [d for d in (self.decisions(p, now) for p, now in posteriors) if d is not None]

    def _windows(self, samples: torch.Tensor) -> list[tuple[np.ndarray, float]]:
        """The (1, C) posterior of the window ending at every multiple of the hop that these samples reach."""
        self._unframed = torch.cat([self._unframed, samples])
        posteriors = []
        while self._unframed.shape[0] >= self.hop:
            self._advance(self._unframed[:self.hop])
            self._unframed, self._hops = self._unframed[self.hop:], self._hops + 1
            with torch.inference_mode():
                posterior = self.classifier(self._window).softmax(-1)
            posteriors.append((posterior.cpu().float().numpy(), self._hops * self.hop / self.sample_rate))
        return posteriors

    def _advance(self, samples: torch.Tensor) -> None:
        """Run the front end over the next samples (whole hops, so the frames never depend on how the audio
        was pushed) and keep the frames of the last window. The window starts on the frame grid, since the
        hop is a whole number of frames."""
        with torch.inference_mode():
            x = samples[None, None].to(self.device)
            frames, self._front_state = self.front(x, self._front_state)              # (1, F, frames)
            window = frames if self._window is None else torch.cat([self._window, frames], -1)
            self._window = window[..., -self.window_frames:]

    def _consume(self, outputs: list[torch.Tensor]) -> list[tuple[np.ndarray, float]]:
        posteriors = []
        for frames in outputs:                                        # (C, frames) per chunk
            for feature in frames.T:
                self._frames += 1
                self._features = torch.cat([self._features, feature[None]])[-self.window:]
                if self._features.shape[0] < self.window:  # the head was trained on whole windows only
                    continue
                with torch.inference_mode():
                    posterior = self.head(self._features.mean(0, keepdim=True).to(self.device)).softmax(-1)
                posteriors.append((posterior.cpu().float().numpy(), self._frames * self.frame_s))
        return posteriors
