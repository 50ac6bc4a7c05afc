"""The streaming keyword spotter on a really trained tiny model: chunk-size invariant, threshold and
refractory period honoured, keywords checked."""
import pytest
import torch

from centaurus.audio import load_audio
from centaurus.streaming import KeywordSpotter
from centaurus.training import load_model, train, validate_recipe
from tests.spoken import spoken_words
from tests.training.corpora import make_kws
from tests.training.test_trainer import kws_recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kws")
    root = make_kws(tmp / "data", train=8)
    recipe = kws_recipe(root, tmp / "run", epochs=2)
    result = train(validate_recipe(recipe, source="t"), device="cpu", progress=False)
    _, task, model, _ = load_model(result.best_checkpoint)
    clips = [load_audio(p) for p in sorted(root.glob("*/*.wav"))[:6]]
    stream = torch.cat([part for clip in clips for part in (clip, torch.zeros(8000))])
    return model, task.classes, stream, result.best_checkpoint


def _detect(spotter, stream, piece):
    found = []
    for chunk in stream.split(piece):
        found += spotter.push(chunk)
    return found + spotter.flush()


@pytest.mark.parametrize("context", ["window", "stream"])
def test_detections_do_not_depend_on_chunking(trained, context):
    model, classes, stream, checkpoint = trained
    runs = []
    for chunk_ms, piece in ((40, 999), (10, 160), (25, stream.shape[0])):
        spotter = KeywordSpotter(model, classes, threshold=0.0, refractory_s=0.3, chunk_ms=chunk_ms,
                                 context=context)
        runs.append([(round(d.time_s, 4), d.keyword, round(d.confidence, 4)) for d in _detect(spotter, stream, piece)])
    assert runs[0] and runs[0] == runs[1] == runs[2]


def test_window_context_equals_classifying_each_window_afresh(trained):
    """The front end streams once and windows reuse its frames: the same as running the whole model on each
    window of raw audio (the stream preceded by a window of silence), as the classifier was trained."""
    model, classes, stream, checkpoint = trained
    spotter = KeywordSpotter(model, classes, threshold=0.0, refractory_s=0.0, smooth_s=0.0)
    found = spotter.push(stream[:40000])
    padded = torch.cat([torch.zeros(spotter.window_samples), stream[:40000]])
    with torch.no_grad():
        expected = [model(padded[end:end + spotter.window_samples][None, None]).softmax(-1)[0]
                    for end in range(spotter.hop, 40001, spotter.hop)]
    assert len(found) == len(expected) == 25
    for detection, posterior in zip(found, expected):
        prob, index = (posterior * spotter.active).max(-1)  # _unknown_ and _silence_ never fire
        assert detection.keyword == classes[int(index)]
        assert detection.confidence == pytest.approx(float(prob), rel=1e-5)
    with pytest.raises(ValueError, match="hop_s"):
        KeywordSpotter(model, classes, hop_s=0.015)


def test_threshold_refractory_and_keywords(trained):
    model, classes, stream, checkpoint = trained
    assert KeywordSpotter(model, classes, threshold=1.01).push(stream) == []
    spotter = KeywordSpotter(model, classes, threshold=0.0, refractory_s=0.5)
    times = [d.time_s for d in spotter.push(stream)]
    assert len(times) > 3 and all(b - a >= 0.5 - 1e-9 for a, b in zip(times, times[1:]))
    words = [c for c in classes if not c.startswith("_")]
    only = KeywordSpotter(model, classes, threshold=0.0, keywords=words[:1])
    assert {d.keyword for d in only.push(stream)} == {words[0]}
    with pytest.raises(ValueError, match="not keywords"):
        KeywordSpotter(model, classes, keywords=["_silence_"])
    with pytest.raises(ValueError, match="context"):
        KeywordSpotter(model, classes, context="clip")


def test_shipped_spotter_finds_spoken_words_in_order(tmp_path):
    """espeak-ng speaks three words between silences; the shipped model must find them, in order."""
    from centaurus.training import shipped_models
    _, task, model, _ = load_model(shipped_models()["kws-offline"])
    parts = spoken_words(("yes", "stop", "left"), tmp_path)
    stream = torch.cat([*parts, torch.zeros(16000)])
    found = KeywordSpotter(model, task.classes).push(stream)
    assert [d.keyword for d in found] == ["yes", "stop", "left"]
    ends = [sum(p.shape[0] for p in parts[:2 * i + 2]) / 16000 for i in range(3)]  # where each word ends
    assert all(end - 0.5 < d.time_s < end + 1.0 for d, end in zip(found, ends)), (found, ends)


def test_kws_detect_cli(trained, tmp_path):
    import subprocess
    import sys

    import soundfile as sf

    model, classes, stream, checkpoint = trained
    path = tmp_path / "long.wav"
    sf.write(path, stream.numpy(), 16000)
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "kws", "detect", str(path), "--model",
                           str(checkpoint), "--threshold", "0", "--refractory", "0.5"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    spotter = KeywordSpotter(model, classes, threshold=0.0, refractory_s=0.5)
    expected = spotter.push(stream) + spotter.flush()
    assert f"{path}: {len(expected)} detection(s)" in done.stdout
    assert done.stdout.count(" s\t") == len(expected)
    bad = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "kws", "detect", str(tmp_path / "no.wav"),
                          "--model", str(checkpoint)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
