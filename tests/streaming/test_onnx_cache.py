"""Shipped steps store the SSM poles, not their plans: the first load folds the plans once into a cached copy,
and later loads read that copy, with the same outputs."""
import os
import time

import numpy as np

from centaurus.streaming.onnx_step import CACHE_KEEP, open_session, step_path


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
    before = cached[0].stat()
    os.utime(cached[0], ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))
    again = _run(open_session(path), chunk)
    after = cached[0].stat()
    # the same file, not folded again (that would be a new one put in place), marked as just used
    assert list((tmp_path / "onnx").iterdir()) == cached and after.st_ino == before.st_ino
    assert after.st_mtime_ns > before.st_mtime_ns - 10**9
    np.testing.assert_array_equal(first, again)


def test_the_cache_keeps_the_most_recently_used_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("CENTAURUS_CACHE", str(tmp_path))
    folder = tmp_path / "onnx"
    folder.mkdir()
    # copies that earlier models left, the oldest first (only their times matter to pruning)
    old = [folder / f"stream-16ms-{i:020d}.onnx" for i in range(CACHE_KEEP)]
    for age, copy in enumerate(reversed(old), start=1):
        copy.write_bytes(b"")
        os.utime(copy, (time.time() - 3600 * age,) * 2)
    open_session(step_path("denoise-offline", 16))
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == CACHE_KEEP and old[0].name not in kept and old[1].name in kept
    assert any(name not in {p.name for p in old} for name in kept)  # the new copy


def test_an_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CENTAURUS_CACHE", str(blocker))
    assert open_session(step_path("denoise-offline", 16)).get_inputs()[0].name
