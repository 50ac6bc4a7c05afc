"""False accepts per hour, misses, the DET curve and threshold calibration on synthetic posterior streams whose
detections can be counted by hand."""
import numpy as np
import pytest

from centaurus.tasks.detection import (Decisions, StreamScores, active_classes, calibrate_thresholds,
                                       class_thresholds, det_curve, false_accepts, misses, replay, with_thresholds)

CLASSES = ["_silence_", "_unknown_", "yes", "no"]
HOP = 0.1


def rule(threshold=0.8) -> Decisions:
    """What the spotters use: 0.3 s of smoothing (3 hops), 1 s refractory period."""
    return Decisions(CLASSES, active_classes(CLASSES, None), threshold=threshold, refractory_s=1.0, smooth=3)


def stream(seconds: float, bursts=(), keyword=None) -> StreamScores:
    """Silence, except `(start_s, hops, class, probability)` bursts where that class holds the probability."""
    hops = round(seconds / HOP)
    posteriors = np.zeros((hops, len(CLASSES)), dtype=np.float32)
    posteriors[:, 0] = 1.0
    for start, length, name, p in bursts:
        i = round(start / HOP)
        posteriors[i:i + length] = (1 - p) / (len(CLASSES) - 1)
        posteriors[i:i + length, CLASSES.index(name)] = p
    return StreamScores(posteriors, (np.arange(hops) + 1) * HOP, seconds, keyword)


# One hour: a short "yes" (one detection), a long "yes" (2.5 s: three, a refractory period apart), a "no" at
# 0.85 and one at 0.7 (under every threshold used here).
HOUR = stream(3600.0, [(100.0, 5, "yes", 0.95), (1000.0, 25, "yes", 0.95), (2000.0, 5, "no", 0.85),
                       (3000.0, 5, "no", 0.7)])


def test_replay_is_the_online_rule():
    """Skipping the hops below every threshold changes nothing: the replay equals pushing every posterior."""
    online = rule({"yes": 0.9, "no": 0.6})
    pushed = [d for p, t in zip(HOUR.posteriors, HOUR.times) if (d := online(p[None], float(t))) is not None]
    assert replay(HOUR, rule({"yes": 0.9, "no": 0.6})) == pushed
    assert [d.keyword for d in pushed] == ["yes", "yes", "yes", "yes", "no", "no"]


def test_false_accepts_on_a_known_stream():
    at_08 = false_accepts([HOUR], rule(0.8))
    assert (at_08.count, at_08.per_keyword, at_08.hours, at_08.per_hour) == (5, {"yes": 4, "no": 1}, 1.0, 5.0)
    assert false_accepts([HOUR], rule(0.9)).per_keyword == {"yes": 4}
    assert false_accepts([HOUR], rule(0.96)).count == 0
    per_keyword = false_accepts([HOUR], rule({"yes": 0.99, "no": 0.8}))
    assert per_keyword.per_keyword == {"no": 1}
    only_no = Decisions(CLASSES, active_classes(CLASSES, ["no"]), threshold=0.8, refractory_s=1.0, smooth=3)
    assert false_accepts([HOUR], only_no).count == 1
    # Two half-hour streams holding the same events give the same rate.
    halves = [stream(1800.0, [(100.0, 5, "yes", 0.95), (1000.0, 25, "yes", 0.95)]),
              stream(1800.0, [(200.0, 5, "no", 0.85), (1200.0, 5, "no", 0.7)])]
    assert false_accepts(halves, rule(0.8)).per_hour == 5.0


def test_misses_count_clips_whose_keyword_never_fires():
    clips = [stream(1.5, [(0.3, 6, "yes", 0.97)], "yes"), stream(1.5, [(0.3, 6, "yes", 0.85)], "yes"),
             stream(1.5, [(0.3, 6, "no", 0.93)], "yes"), stream(1.5, [(0.3, 6, "no", 0.93)], "no")]
    at_08 = misses(clips, rule(0.8))
    assert (at_08.missed, at_08.clips, at_08.per_keyword) == (1, 4, {"no": (0, 1), "yes": (1, 3)})
    assert misses(clips, rule(0.9)).per_keyword == {"no": (0, 1), "yes": (2, 3)}
    assert misses(clips, rule(0.98)).rate == 1.0


def test_det_curve_trades_misses_for_false_accepts():
    clips = [stream(1.5, [(0.3, 6, "yes", p)], "yes") for p in (0.6, 0.77, 0.92, 0.99)]
    curve = det_curve(clips, [HOUR], rule(), thresholds=[0.5, 0.75, 0.8, 0.96])
    assert curve["miss_rate"] == [0.0, 0.25, 0.5, 0.75]
    assert curve["false_accepts_per_hour"] == [6.0, 5.0, 5.0, 0.0]


def test_calibration_meets_its_target_at_the_lowest_threshold():
    """Two hours in which each keyword fires at many heights; 2 FA/h split over two keywords allows each two
    false accepts. Each threshold is the lowest that keeps its keyword within that, so 0.01 lower breaks it."""
    rng = np.random.default_rng(0)
    heights = {"yes": rng.uniform(0.55, 0.99, 12), "no": rng.uniform(0.55, 0.99, 12)}
    negatives = [stream(3600.0, [(50.0 + 280 * i + 140 * (w == "no"), 5, w, float(heights[w][i]))
                                 for w in ("yes", "no") for i in range(12)]) for _ in range(2)]
    clips = [stream(1.5, [(0.3, 6, "yes", 1.0)], "yes"), stream(1.5, [(0.3, 6, "no", 0.6)], "no")]
    found = calibrate_thresholds(clips, negatives, rule(), target_fa_per_hour=2.0)
    assert found.reached == {"yes": True, "no": True}
    assert found.false_accepts.per_hour <= 2.0 and found.false_accepts.hours == 2.0
    for word, t in found.thresholds.items():
        alone = Decisions(CLASSES, active_classes(CLASSES, [word]), threshold=t, refractory_s=1.0, smooth=3)
        assert false_accepts(negatives, alone).count <= 2
        assert false_accepts(negatives, with_thresholds(alone, round(t - 0.01, 2))).count > 2
        # Two streams of the same bursts: the highest peak fires twice (once in each), so the threshold sits
        # just above the second highest.
        second = np.sort(heights[word].astype(np.float32))[-2]
        assert t == pytest.approx(np.ceil(second * 100) / 100)
    assert (found.misses.missed, found.misses.per_keyword["no"]) == (1, (1, 1))
    per_keyword = calibrate_thresholds(clips, negatives, rule(), target_fa_per_hour=2.0, per_keyword=True)
    assert all(per_keyword.thresholds[w] < found.thresholds[w] for w in ("yes", "no"))
    assert per_keyword.false_accepts.per_hour <= 4.0


def test_an_unreachable_target_is_reported():
    loud = [stream(3600.0, [(100.0 + 10 * i, 5, "yes", 1.0) for i in range(5)])]
    found = calibrate_thresholds([], loud, rule(), target_fa_per_hour=0.5)
    assert found.reached == {"yes": False, "no": True} and found.thresholds["yes"] == 0.99
    assert found.thresholds["no"] == 0.5 and found.misses is None


def test_thresholds_for_unknown_classes_are_refused():
    assert class_thresholds(CLASSES, {"yes": 0.9}).tolist() == pytest.approx([0.8, 0.8, 0.9, 0.8])
    with pytest.raises(ValueError, match="maybe"):
        class_thresholds(CLASSES, {"maybe": 0.9})
