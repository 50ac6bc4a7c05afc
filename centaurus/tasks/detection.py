"""Keyword detection on streams, and how to judge it: false accepts per hour, miss rate, DET curve, thresholds
calibrated for a false-accept target. numpy only (no torch), so the ONNX spotter and its tools use it too.

`Decisions` is the one rule that turns a spotter's posteriors into detections (both spotters of
`centaurus.streaming` feed it): the posteriors of the last `smooth` hops are averaged, a keyword fires when its
average reaches its own threshold, and nothing fires within `refractory_s` of the last detection. The measures
here replay recorded posteriors (`StreamScores`) through that same rule, so a false accept counted here is a
detection that `kws detect`/`kws listen` would print.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_THRESHOLD = 0.8  # where a model stores no thresholds and none is asked for
# The spotters' defaults: a 1 s window every 0.1 s, 0.3 s of smoothing, 1 s between detections.
WINDOW_S, HOP_S, SMOOTH_S, REFRACTORY_S = 1.0, 0.1, 0.3, 1.0


def smoothing_hops(smooth_s: float, hop_s: float) -> int:
    """How many posteriors a spotter averages."""
    return max(1, round(smooth_s / hop_s))


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


def class_thresholds(classes: list[str], threshold: float | dict[str, float]) -> np.ndarray:
    """Per-class thresholds (C,): one value for all, or a {keyword: value} map (a keyword it leaves out gets
    `DEFAULT_THRESHOLD`)."""
    if not isinstance(threshold, dict):
        return np.full(len(classes), float(threshold), dtype=np.float32)
    unknown = sorted(set(threshold) - set(classes))
    if unknown:
        raise ValueError(f"thresholds for classes the model does not have: {', '.join(unknown)}")
    return np.array([threshold.get(c, DEFAULT_THRESHOLD) for c in classes], dtype=np.float32)


class Decisions:
    """Averages the last `smooth` posteriors; a keyword fires when its average reaches its threshold (one for
    all, or a {keyword: value} map), at most once per `refractory_s`. Where several clear their thresholds at
    once, the most probable fires."""

    def __init__(self, classes: list[str], active: np.ndarray, *, threshold: float | dict[str, float],
                 refractory_s: float, smooth: int):
        self.classes, self.active = list(classes), active.astype(np.float32)
        self.thresholds = class_thresholds(self.classes, threshold)
        self.refractory_s, self.smooth = refractory_s, smooth
        self.reset()

    def reset(self) -> None:
        self._posteriors = np.zeros((0, len(self.classes)), dtype=np.float32)
        self._last_fire = -float("inf")

    def __call__(self, posterior: np.ndarray, now: float) -> Detection | None:
        """Smooth the (1, classes) posterior with the last few and fire if it clears the bars."""
        return self.fire(self.smoothed(posterior), now)

    def smoothed(self, posterior: np.ndarray) -> np.ndarray:
        """The active classes' mean posterior (C,) over the last `smooth` hops, this (1, C) one included."""
        self._posteriors = np.concatenate([self._posteriors, posterior.astype(np.float32)])[-self.smooth:]
        return self._posteriors.mean(0) * self.active

    def fire(self, scores: np.ndarray, now: float) -> Detection | None:
        """The detection that smoothed `scores` (C,) make at `now`, if any. Scores below every threshold change
        nothing, which lets a replay skip them."""
        clear = (scores >= self.thresholds) & (self.active > 0)
        if not clear.any() or now - self._last_fire < self.refractory_s:
            return None
        index = int(np.where(clear, scores, -1.0).argmax())
        self._last_fire = now
        return Detection(now, self.classes[index], float(scores[index]))


@dataclass
class StreamScores:
    """A spotter's raw posteriors over one stream, as its `push` and `flush` make them: `posteriors` (N, C) at
    `times` (N,) seconds; `seconds` of audio; `keyword`: the word a positive clip holds (None: a negative)."""

    posteriors: np.ndarray
    times: np.ndarray
    seconds: float
    keyword: str | None = None
    _smoothed: dict = field(default_factory=dict, repr=False)

    def smoothed(self, rule: Decisions) -> np.ndarray:
        """(N, C) smoothed scores under `rule`'s smoothing and active classes. The means are cached per
        smoothing length: they depend neither on the thresholds nor on which classes are active."""
        if rule.smooth not in self._smoothed:
            every = Decisions(rule.classes, np.ones(len(rule.classes), bool), threshold=1.0, refractory_s=0.0,
                              smooth=rule.smooth)
            self._smoothed[rule.smooth] = (np.stack([every.smoothed(p[None]) for p in self.posteriors])
                                           if len(self.posteriors) else
                                           np.zeros((0, len(rule.classes)), dtype=np.float32))
        return self._smoothed[rule.smooth] * rule.active


def replay(stream: StreamScores, rule: Decisions) -> list[Detection]:
    """The detections `rule` makes on the stream, exactly as a spotter pushing that audio would make them."""
    scores = stream.smoothed(rule)
    rule.reset()
    detections = []
    for i in np.flatnonzero((scores >= rule.thresholds).any(1)):  # hops below every threshold never fire
        detection = rule.fire(scores[i], float(stream.times[i]))
        if detection is not None:
            detections.append(detection)
    return detections


def with_thresholds(rule: Decisions, threshold: float | dict[str, float]) -> Decisions:
    """`rule` with other thresholds (same classes, smoothing, refractory period)."""
    return Decisions(rule.classes, rule.active > 0, threshold=threshold, refractory_s=rule.refractory_s,
                     smooth=rule.smooth)


@dataclass(frozen=True)
class FalseAccepts:
    """Detections on audio that holds no keyword: `count` in `hours`, and how many each keyword made."""

    count: int
    hours: float
    per_keyword: dict[str, int]

    @property
    def per_hour(self) -> float:
        return self.count / self.hours if self.hours > 0 else float("nan")


def false_accepts(negatives: list[StreamScores], rule: Decisions) -> FalseAccepts:
    """Every detection on the negative streams is a false accept."""
    per_keyword: dict[str, int] = {}
    for stream in negatives:
        for d in replay(stream, rule):
            per_keyword[d.keyword] = per_keyword.get(d.keyword, 0) + 1
    return FalseAccepts(sum(per_keyword.values()), sum(s.seconds for s in negatives) / 3600, per_keyword)


@dataclass(frozen=True)
class Misses:
    """Positive clips whose keyword was not detected: `missed` of `clips`, and per keyword (missed, clips)."""

    missed: int
    clips: int
    per_keyword: dict[str, tuple[int, int]]

    @property
    def rate(self) -> float:
        return self.missed / self.clips if self.clips else float("nan")


def misses(positives: list[StreamScores], rule: Decisions) -> Misses:
    """A positive clip is a hit when its keyword is among the detections on it (another keyword firing on it
    as well is not counted here; it is a confusion, not a miss)."""
    per_keyword: dict[str, list[int]] = {}
    for clip in positives:
        counts = per_keyword.setdefault(clip.keyword, [0, 0])
        counts[0] += clip.keyword not in {d.keyword for d in replay(clip, rule)}
        counts[1] += 1
    return Misses(sum(m for m, _ in per_keyword.values()), len(positives),
                  {k: (m, n) for k, (m, n) in sorted(per_keyword.items())})


def det_curve(positives: list[StreamScores], negatives: list[StreamScores], rule: Decisions,
              thresholds: np.ndarray | None = None) -> dict[str, list[float]]:
    """Miss rate and false accepts per hour with one threshold for every keyword, over `thresholds` (default
    0.05 to 0.99): the detection error trade-off."""
    grid = np.round(np.linspace(0.05, 0.99, 95), 2) if thresholds is None else np.asarray(thresholds)
    curve = {"threshold": [], "miss_rate": [], "false_accepts_per_hour": []}
    for t in grid:
        at = with_thresholds(rule, float(t))
        curve["threshold"].append(float(t))
        curve["miss_rate"].append(misses(positives, at).rate)
        curve["false_accepts_per_hour"].append(false_accepts(negatives, at).per_hour)
    return curve


@dataclass(frozen=True)
class Calibration:
    """Thresholds per keyword for a false-accept target, and what they give on the calibration streams
    (`reached`: False for the keywords that exceed their share even at `ceiling`)."""

    thresholds: dict[str, float]
    target_fa_per_hour: float
    false_accepts: FalseAccepts
    misses: Misses | None
    reached: dict[str, bool]


def calibrate_thresholds(positives: list[StreamScores], negatives: list[StreamScores], rule: Decisions, *,
                         target_fa_per_hour: float = 0.5, per_keyword: bool = False, floor: float = 0.5,
                         ceiling: float = 0.99) -> Calibration:
    """The lowest threshold for each active keyword (so the fewest misses) at which it fires no more than its
    share of `target_fa_per_hour` on the negatives: the target split evenly over the keywords, or, with
    `per_keyword`, the whole target for each. Kept within [floor, ceiling], on a 0.01 grid.

    Each keyword is calibrated alone (the others cannot fire); the false accepts reported are those of all of
    them together under the rule, which are no more than the sum of the shares except where one keyword's
    detection, by its refractory period, had hidden another's."""
    keywords = [c for c, a in zip(rule.classes, rule.active) if a]
    hours = sum(s.seconds for s in negatives) / 3600
    share = target_fa_per_hour if per_keyword else target_fa_per_hour / max(1, len(keywords))
    allowed = int(np.floor(share * hours + 1e-9))
    grid = np.round(np.arange(round(floor * 100), round(ceiling * 100) + 1) / 100, 2)
    thresholds, reached = {}, {}
    for keyword in keywords:
        alone = Decisions(rule.classes, np.array([c == keyword for c in rule.classes]), threshold=1.0,
                          refractory_s=rule.refractory_s, smooth=rule.smooth)
        # Smoothed scores do not depend on the threshold, so one peak per stream bounds the grid search.
        peak = max((float(s.smoothed(alone).max(initial=0.0)) for s in negatives), default=0.0)
        chosen = None
        for t in grid:
            if t <= peak and false_accepts(negatives, with_thresholds(alone, float(t))).count > allowed:
                continue
            chosen = float(t)
            break
        thresholds[keyword], reached[keyword] = (ceiling, False) if chosen is None else (chosen, True)
    calibrated = with_thresholds(rule, thresholds)
    return Calibration(thresholds, target_fa_per_hour, false_accepts(negatives, calibrated),
                       misses(positives, calibrated) if positives else None, reached)
