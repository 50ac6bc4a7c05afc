"""`centaurus denoise` with a really trained tiny denoiser, on real files of other rates and channel counts."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from centaurus.audio import load_audio
from centaurus.training import load_model, train, validate_recipe
from tests.tasks.test_tasks_learn import denoise_recipe
from tests.training.corpora import make_denoise


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("denoiser")
    root = make_denoise(tmp / "data", train=8, test=2, samples=4096)
    recipe = denoise_recipe(root, tmp / "run", epochs=1)
    return train(validate_recipe(recipe, source="t"), device="cpu", progress=False).best_checkpoint


def test_denoise_keeps_rate_and_length_and_equals_one_shot(checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((22050, 2))).astype(np.float32)  # 0.5 s at 44.1 kHz
    source = tmp_path / "noisy.flac"
    sf.write(source, stereo, 44100)
    done = _cli("denoise", str(source), "--model", str(checkpoint), "--chunk-ms", "10")
    assert done.returncode == 0, done.stderr
    assert "RTF" in done.stdout
    target = tmp_path / "noisy.denoised.wav"
    out, rate = sf.read(target, dtype="float32")
    assert rate == 44100 and out.shape == (22050,)
    _, _, model, _ = load_model(checkpoint)
    with torch.no_grad():
        one_shot = model(load_audio(source)[None, None])[0, 0].numpy()
    expected = soxr.resample(one_shot, 16000, 44100)
    n = min(len(expected), len(out)) - 200  # the resampler's edge
    np.testing.assert_allclose(out[:n], np.clip(expected[:n], -1, 1), atol=2e-4)


def test_denoise_never_overwrites_unasked(checkpoint, tmp_path):
    source = tmp_path / "a.wav"
    sf.write(source, np.zeros(1600, dtype=np.float32), 16000)
    (tmp_path / "a.denoised.wav").write_bytes(b"keep me")
    refused = _cli("denoise", str(source), "--model", str(checkpoint))
    assert refused.returncode == 2 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "a.denoised.wav").read_bytes() == b"keep me"
    onto_input = _cli("denoise", str(source), "-o", str(source), "--model", str(checkpoint), "--force")
    assert onto_input.returncode == 2 and "is an input" in onto_input.stderr
    sf.write(tmp_path / "a.denoised.wav", np.zeros(800, dtype=np.float32), 8000)
    folder = _cli("denoise", str(tmp_path), "-o", str(tmp_path / "out"), "--model", str(checkpoint), "--force")
    assert folder.returncode == 0, folder.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.denoised.denoised.wav", "a.denoised.wav"]


def test_denoise_bad_inputs_give_one_line(checkpoint, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for args in (["denoise", str(empty), "--model", str(checkpoint)],
                 ["denoise", str(tmp_path / "missing.wav"), "--model", str(checkpoint)],
                 ["denoise", str(empty), "--model", "no-such-model"]):
        result = _cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:"), result.stderr
