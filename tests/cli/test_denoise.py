"""`centaurus denoise` with a really trained tiny denoiser, on real files of other rates and channel counts."""
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from centaurus.audio import load_audio
from centaurus.training import load_model, train, validate_recipe
from tests.tasks.test_tasks_learn import MASKER, denoise_recipe
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


@pytest.fixture(scope="module")
def masker_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("masker")
    root = make_denoise(tmp / "data", train=8, test=2, samples=4096)
    recipe = denoise_recipe(root, tmp / "run", epochs=1)
    recipe["model"] = {**MASKER, "mean_norm_frames": 10.0, "bands": 8}  # running-mean and band features reach ONNX too
    return train(validate_recipe(recipe, source="t"), device="cpu", progress=False).best_checkpoint


@pytest.mark.slow  # ~75 s: three CLI processes and an export
def test_spectral_masker_output_is_aligned_in_both_engines(masker_checkpoint, tmp_path):
    """A masker's output lags its input by n_fft − hop samples; the file written is aligned with the input
    all the same, equal to the task's one-shot enhancement, through torch and through the exported step."""
    model = tmp_path / "model"
    shutil.copytree(masker_checkpoint, model)
    exported = _cli("export", str(model), "--onnx", str(model / "stream-16ms.onnx"), "--chunk-ms", "16")
    assert exported.returncode == 0, exported.stderr
    rng = np.random.default_rng(2)
    source = tmp_path / "noisy.wav"
    sf.write(source, (0.1 * rng.standard_normal(16000 + 77)).astype(np.float32), 16000)
    outputs = {}
    for engine in ("torch", "onnx"):
        target = tmp_path / f"{engine}.wav"
        done = _cli("denoise", str(source), "-o", str(target), "--model", str(model), "--engine", engine)
        assert done.returncode == 0 and done.stdout.strip().endswith(f"{engine})"), done.stdout + done.stderr
        assert "latency 22.0 ms" in done.stdout  # 16 ms chunks of whole frames, plus the 96-sample (6 ms) delay
        outputs[engine], _ = sf.read(target, dtype="float32")
    _, task, network, _ = load_model(model)
    expected = task.enhance(network, load_audio(source), device="cpu").numpy()
    assert outputs["torch"].shape == outputs["onnx"].shape == expected.shape == (16077,)
    assert np.abs(expected).max() > 100 / 2**15  # not silence
    np.testing.assert_allclose(outputs["torch"], np.clip(expected, -1, 1), atol=2 / 2**15)
    np.testing.assert_allclose(outputs["onnx"], outputs["torch"], atol=2 / 2**15)


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


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_onnx_engine_equals_torch_engine_and_never_imports_torch(checkpoint, tmp_path):
    """With an exported step beside the weights, the default engine (auto) runs it in onnxruntime: the torch
    engine's output, through the same command, in a process that never imports torch (what keeps hour-long
    files in ~100 MB)."""
    model = tmp_path / "model"
    shutil.copytree(checkpoint, model)
    exported = _cli("export", str(model), "--onnx", str(model / "stream-10ms.onnx"), "--chunk-ms", "10")
    assert exported.returncode == 0, exported.stderr
    rng = np.random.default_rng(1)
    source = tmp_path / "noisy.wav"
    sf.write(source, (0.1 * rng.standard_normal(16000 + 77)).astype(np.float32), 16000)  # a partial last chunk
    by_torch = _cli("denoise", str(source), "-o", str(tmp_path / "torch.wav"), "--model", str(model),
                    "--chunk-ms", "10", "--engine", "torch")
    assert by_torch.returncode == 0 and by_torch.stdout.strip().endswith("torch)"), by_torch.stdout + by_torch.stderr
    script = ("import sys; from centaurus_cli.main import app; "
              f"app(['denoise', {str(source)!r}, '-o', {str(tmp_path / 'onnx.wav')!r}, '--model', {str(model)!r}, "
              "'--chunk-ms', '10'], standalone_mode=False); "
              "assert 'torch' not in sys.modules, 'torch was imported'")
    by_auto = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert by_auto.returncode == 0 and by_auto.stdout.strip().endswith("onnx)"), by_auto.stdout + by_auto.stderr
    a, _ = sf.read(tmp_path / "torch.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "onnx.wav", dtype="float32")
    assert a.shape == b.shape == (16077,) and np.abs(a).max() > 100 / 2**15  # not silence
    np.testing.assert_allclose(b, a, atol=2 / 2**15)  # 16-bit output: one LSB of rounding apart
    other_chunk = _cli("denoise", str(source), "-o", str(tmp_path / "auto.wav"), "--model", str(model))
    assert other_chunk.returncode == 0 and other_chunk.stdout.strip().endswith("torch)"), other_chunk.stdout


def test_onnx_engine_bad_steps_give_one_line(checkpoint, tmp_path):
    source = tmp_path / "a.wav"
    sf.write(source, np.zeros(1600, dtype=np.float32), 16000)
    no_step = _cli("denoise", str(source), "--model", str(checkpoint), "--engine", "onnx", "--chunk-ms", "7")
    assert no_step.returncode == 2
    assert "no ONNX step for 7 ms" in no_step.stderr and "centaurus export" in no_step.stderr
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    corrupt = _cli("denoise", str(source), "--model", str(tmp_path / "bad.onnx"), "--engine", "onnx", "--force")
    assert corrupt.returncode == 2 and "bad.onnx: not a loadable ONNX model" in corrupt.stderr
    on_gpu = _cli("denoise", str(source), "--engine", "onnx", "--device", "cuda", "--force")
    assert on_gpu.returncode == 2 and "runs on the CPU" in on_gpu.stderr
    for done in (no_step, corrupt, on_gpu):
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_shipped_denoiser_onnx_step_matches_its_weights(tmp_path):
    """pretrained/denoise-offline/stream-16ms.onnx must be the export of the shipped weights."""
    from centaurus.streaming import OnnxStreamer, Streamer
    from centaurus.training import resolve_checkpoint
    folder = resolve_checkpoint("denoise-offline")
    _, _, model, _ = load_model(folder)
    audio = np.random.default_rng(2).standard_normal(8000).astype(np.float32) * 0.1
    onnx_out = np.concatenate([y.reshape(-1) for y in OnnxStreamer(folder / "stream-16ms.onnx").push(audio)])
    torch_out = torch.cat([y.reshape(-1) for y in Streamer(model, chunk_ms=16).push(audio)]).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5)
