"""The shipped keyword spotter as a product: per-keyword thresholds stored in the model and used by `kws
detect`, false accepts counted exactly as `kws detect` prints them, `kws calibrate`, `centaurus eval`'s streamed
measures, the window mode against the clip model, and real voices where the validation set is present."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.streaming import KeywordSpotter, OnnxKeywordSpotter
from centaurus.streaming.calibrate import negative_scores, read_samples
from centaurus.streaming.spotting import stored_thresholds
from centaurus.tasks.detection import false_accepts, replay, with_thresholds
from centaurus.tasks.kws import window_scores
from centaurus.training import load_model, shipped_models
from centaurus_cli.kws import _spotter
from tests.spoken import spoken_words

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pretrained" / "samples"
SHIPPED = shipped_models()["kws-offline"]
REAL_KWS = ROOT / "data" / "validation" / "kws"


def _centaurus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def _heard(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line.split("\t")[2] for line in done.stdout.splitlines() if "\t" in line]


@pytest.fixture()
def model_copy(tmp_path) -> Path:
    """The shipped model's files in a folder of the test's own, whose config.json a test may change."""
    folder = tmp_path / "kws"
    shutil.copytree(SHIPPED, folder)
    return folder


def _store(folder: Path, thresholds: dict | None) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.pop("thresholds", None)
    if thresholds is not None:
        config["thresholds"] = thresholds
    (folder / "config.json").write_text(json.dumps(config))


def test_bundled_keywords_at_the_shipped_thresholds():
    """The shipped model hears the bundled recording's four words, in order, at the thresholds it ships with
    (its stored ones where it has them), on both engines."""
    words = (SAMPLES / "keywords.txt").read_text().split()
    assert _heard(_centaurus("kws", "detect", str(SAMPLES / "keywords.flac"), "--jobs", "1")) == words
    audio = load_audio(SAMPLES / "keywords.flac", sample_rate=SAMPLE_RATE).numpy()
    spotter = _spotter("kws-offline", None, None, 1.0, "window", 40.0, "cpu", "torch")
    assert [d.keyword for d in spotter.push(audio) + spotter.flush()] == words


def test_stored_thresholds_decide_and_threshold_overrides(model_copy):
    flac = str(SAMPLES / "keywords.flac")
    # "stop" can never fire; "up", which the word "stop" also lifts past 0.8, neither.
    stored = {"stop": 1.0, "up": 1.0, "seven": 0.5}
    _store(model_copy, stored)
    assert stored_thresholds(model_copy) == stored and stored_thresholds(model_copy / "kws-window.onnx") == stored
    assert _heard(_centaurus("kws", "detect", flac, "--model", str(model_copy))) == ["yes", "left", "seven"]
    audio = load_audio(flac, sample_rate=SAMPLE_RATE)
    for engine in ("onnx", "torch"):  # in this process: the torch engine's start in a subprocess is slow
        spotter = _spotter(str(model_copy), None, None, 1.0, "window", 40.0, "cpu", engine)
        assert type(spotter).__name__ == {"onnx": "OnnxKeywordSpotter", "torch": "KeywordSpotter"}[engine]
        assert [d.keyword for d in spotter.push(audio.numpy()) + spotter.flush()] == ["yes", "left", "seven"]
    assert _heard(_centaurus("kws", "detect", flac, "--model", str(model_copy), "--threshold", "0.8")) == \
        ["yes", "stop", "left", "seven"]
    _store(model_copy, {"stop": 1.5})
    done = _centaurus("kws", "detect", flac, "--model", str(model_copy))
    assert done.returncode == 2 and "'thresholds' must map keywords to probabilities" in done.stderr
    _store(model_copy, {"maybe": 0.9})
    done = _centaurus("kws", "detect", flac, "--model", str(model_copy))
    assert done.returncode == 2 and "maybe" in done.stderr


def test_window_scores_are_the_spotters():
    """`centaurus eval` streams in batches; it must see the posteriors both spotters decide on."""
    _, task, model, _ = load_model(SHIPPED)
    audio = load_audio(SAMPLES / "keywords.flac", sample_rate=SAMPLE_RATE)
    batched = window_scores(model, audio, device="cpu", batch_size=16)
    torch_spotter = KeywordSpotter(model, task.classes)
    streamed = torch_spotter.scores(audio)
    onnx = OnnxKeywordSpotter(SHIPPED / "kws-window.onnx").scores(audio.numpy())
    assert batched.posteriors.shape == streamed.posteriors.shape == onnx.posteriors.shape == (73, 35)
    assert np.array_equal(batched.times, streamed.times) and np.array_equal(batched.times, onnx.times)
    assert np.abs(batched.posteriors - streamed.posteriors).max() < 1e-5
    assert np.abs(onnx.posteriors - streamed.posteriors).max() < 1e-5
    rule = torch_spotter.decisions
    pushed = torch_spotter.push(audio) + torch_spotter.flush()
    assert replay(streamed, rule) == pushed  # the batched scores differ in the last float bits
    assert [(d.time_s, d.keyword) for d in replay(batched, rule)] == [(d.time_s, d.keyword) for d in pushed]
    assert [d.keyword for d in pushed] == (SAMPLES / "keywords.txt").read_text().split()


def test_false_accepts_are_what_kws_detect_prints(tmp_path):
    """Replayed posteriors count exactly the detections `kws detect` prints, at a threshold low enough that
    non-keyword speech fires."""
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    for name in ("clean_speech.flac", "noisy_speech.flac", "utterance.flac"):
        shutil.copy(SAMPLES / name, negatives / name)
    spotter = OnnxKeywordSpotter(SHIPPED / "kws-window.onnx")
    scores = negative_scores(spotter, negatives)
    assert sum(s.seconds for s in scores) == pytest.approx(13.19, abs=0.01)
    for threshold in (0.2, 0.4):
        counted = false_accepts(scores, with_thresholds(spotter.decisions, threshold))
        printed = _heard(_centaurus("kws", "detect", *map(str, sorted(negatives.iterdir())), "--threshold",
                                    str(threshold), "--jobs", "1"))
        assert counted.count == len(printed) and counted.count > 0
        assert counted.per_keyword == {w: printed.count(w) for w in set(printed)}


@pytest.mark.slow  # subprocesses that stream and load torch: 25-50 s on a busy machine
def test_kws_calibrate_stores_thresholds_that_keep_detect_quiet(tmp_path, model_copy):
    negatives, positives = tmp_path / "negatives", tmp_path / "positives"
    negatives.mkdir()
    for name in ("clean_speech.flac", "noisy_speech.flac", "utterance.flac"):
        shutil.copy(SAMPLES / name, negatives / name)
    for word, part in zip(("yes", "stop"), spoken_words(("yes", "stop"), tmp_path)[1::2]):
        (positives / word).mkdir(parents=True)
        sf.write(positives / word / f"{word}.wav", part.numpy(), SAMPLE_RATE)
    done = _centaurus("kws", "calibrate", str(model_copy), "--negatives", str(negatives), "--positives",
                      str(positives), "--det", str(tmp_path / "det.png"))
    assert done.returncode == 0, done.stderr
    config = json.loads((model_copy / "config.json").read_text())
    thresholds = config["thresholds"]
    assert len(thresholds) == 35 and all(0.5 <= t <= 0.99 for t in thresholds.values())
    assert min(thresholds.values()) == 0.5 < max(thresholds.values())  # speech lifts some keywords only
    assert config["calibration"]["positive_clips"] == 2 and (tmp_path / "det.png").stat().st_size > 1000
    assert "0.00 false accepts per hour (0)" in done.stdout
    # What calibration promised, kws detect does: not a word in the negatives, both keyword clips heard.
    assert _heard(_centaurus("kws", "detect", *map(str, sorted(negatives.iterdir())), "--model",
                             str(model_copy), "--jobs", "1")) == []
    heard = _heard(_centaurus("kws", "detect", str(positives / "yes" / "yes.wav"), str(positives / "stop" /
                                                                                      "stop.wav"),
                              "--model", str(model_copy), "--jobs", "1"))
    assert heard == ["yes", "stop"], done.stdout
    missing = _centaurus("kws", "calibrate", str(model_copy), "--negatives", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no recordings" in missing.stderr


def test_window_mode_matches_the_clip_model(tmp_path):
    """A 1 s keyword clip inside a stream of speech: the window that holds exactly the clip gives the clip
    model's posterior, although the stream's front end had speech before it; the keyword's score over the
    hops around the clip peaks where the clip model's score is."""
    _, task, model, _ = load_model(SHIPPED)
    speech = load_audio(SAMPLES / "clean_speech.flac", sample_rate=SAMPLE_RATE)
    words = ("yes", "stop", "left", "seven", "no")
    gaps = []
    for word, part in zip(words, spoken_words(words, tmp_path)[1::2]):
        clip = torch.zeros(SAMPLE_RATE)
        start = (SAMPLE_RATE - part.shape[0]) // 2
        clip[start:start + part.shape[0]] = part[:SAMPLE_RATE]
        with torch.inference_mode():
            alone = model(clip[None, None]).softmax(-1)[0].numpy()
        stream = torch.cat([speech[:2 * SAMPLE_RATE], clip, speech[2 * SAMPLE_RATE:4 * SAMPLE_RATE]])
        scores = KeywordSpotter(model, task.classes).scores(stream)
        aligned = scores.posteriors[int(np.flatnonzero(np.isclose(scores.times, 3.0))[0])]
        gaps.append(np.abs(aligned - alone).max())
        assert task.classes[int(aligned.argmax())] == task.classes[int(alone.argmax())] == word
    assert max(gaps) < 1e-4, gaps  # measured: under 1e-4 on real and espeak clips in real speech


# When this test was written the shipped model ranked the right word first on 2 of the 8 real clips ("no"
# twice, at 0.69 and 0.70) and heard none at 0.8: real voices are its known weakness (issue 31).
REAL_RANKED = 2


@pytest.mark.skipif(not (REAL_KWS / "testing_list.txt").is_file(),
                    reason=f"{REAL_KWS} is absent: build it with `centaurus data validation` (real recordings "
                           f"are not shipped in the repository)")
def test_real_voices_regression():
    """The shipped model on the real keyword recordings, each streamed as `kws detect` streams it: on how
    many is the clip's word the keyword it scores highest, and how many does it hear at its thresholds."""
    spotter = OnnxKeywordSpotter(SHIPPED / "kws-window.onnx", threshold=stored_thresholds(SHIPPED) or 0.8)
    clips = [line.strip() for line in (REAL_KWS / "testing_list.txt").read_text().splitlines() if line.strip()]
    ranked = heard = 0
    for name in clips:
        word, scores = name.split("/")[0], spotter.scores(read_samples(REAL_KWS / name))
        ranked += spotter.classes[int(scores.smoothed(spotter.decisions).max(0).argmax())] == word
        heard += word in {d.keyword for d in replay(scores, spotter.decisions)}
    print(f"real keyword clips: {ranked} of {len(clips)} ranked first, {heard} heard at the thresholds")
    assert len(clips) == 8 and ranked >= REAL_RANKED


@pytest.mark.slow  # subprocesses that stream and load torch: 25-50 s on a busy machine
def test_eval_streams_negatives_and_draws_a_det_curve(tmp_path, model_copy):
    """`centaurus eval --negatives` on a keyword spotter: accuracy on the clips, and false accepts counted as
    `kws detect` counts them at the model's stored thresholds, with a DET curve."""
    root, negatives = tmp_path / "root", tmp_path / "negatives"
    names = []
    for word, part in zip(("yes", "stop"), spoken_words(("yes", "stop"), tmp_path)[1::2]):
        (root / word).mkdir(parents=True)
        clip = torch.zeros(SAMPLE_RATE)
        clip[:part.shape[0]] = part[:SAMPLE_RATE]
        sf.write(root / word / "espeak_nohash_0.wav", clip.numpy(), SAMPLE_RATE)
        names.append(f"{word}/espeak_nohash_0.wav")
    for split in ("testing_list.txt", "validation_list.txt"):
        (root / split).write_text("\n".join(names) + "\n")
    negatives.mkdir()
    for name in ("clean_speech.flac", "noisy_speech.flac", "utterance.flac"):
        shutil.copy(SAMPLES / name, negatives / name)
    stored = {"yes": 0.5, "stop": 0.3, "left": 0.3}
    _store(model_copy, stored)
    done = _centaurus("eval", str(model_copy), "--data", str(root), "--negatives", str(negatives), "--out",
                      str(tmp_path / "report"), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    metrics = report["metrics"]
    assert metrics["accuracy"] == 1.0 and metrics["examples"] == 2 and metrics["streamed_miss_rate"] == 0.0
    assert metrics["negative_hours"] == pytest.approx(13.19 / 3600, abs=1e-5) and report["thresholds"] == "stored"
    printed = _heard(_centaurus("kws", "detect", *map(str, sorted(negatives.iterdir())), "--model",
                                str(model_copy), "--jobs", "1"))
    assert metrics["false_accepts"] == len(printed)
    assert report["false_accepts_by_keyword"] == {w: printed.count(w) for w in set(printed)}
    assert len(report["det"]["threshold"]) == 95 and (tmp_path / "report" / "det.png").stat().st_size > 1000
