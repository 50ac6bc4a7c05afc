"""Shipped steps store the SSM poles, not their plans: the first load folds the plans once into a cached copy,
and later loads read that copy, with the same outputs."""
import numpy as np

from centaurus.streaming.onnx_step import open_session, step_path


def _run(session, chunk):
    inputs = session.get_inputs()
    feeds = {inputs[0].name: chunk}
    for spec in inputs[1:]:
        feeds[spec.name] = np.zeros([d if isinstance(d, int) else 1 for d in spec.shape], np.float32)
    return session.run(None, feeds)[0]


def test_first_load_caches_the_folded_step_and_later_loads_use_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CENTAURUS_CACHE", str(tmp_path))
    path = step_path("denoise-offline", 16)
    chunk = np.random.default_rng(0).standard_normal((1, 1, 256)).astype(np.float32) * 0.1
    first = _run(open_session(path), chunk)
    cached = list((tmp_path / "onnx").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("stream-16ms-") and cached[0].suffix == ".onnx"
    stamp = cached[0].stat().st_mtime_ns
    again = _run(open_session(path), chunk)
    assert list((tmp_path / "onnx").iterdir()) == cached and cached[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first, again)


def test_an_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CENTAURUS_CACHE", str(blocker))
    assert open_session(step_path("denoise-offline", 16)).get_inputs()[0].name
