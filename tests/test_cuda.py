"""On CUDA: every mode and every contraction order matches the CPU, fp16/bf16 autocast keeps the FFTs and the
discretisation in fp32, compile matches eager, streaming stays exact, and the trainer runs with fp16 (GradScaler)
and bf16.

Skipped without a GPU; run with `pytest -m cuda` on a CUDA machine.
"""
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus import SSMLayer, set_run_mode
from centaurus.models import MiniCentaur
from tests.ssm.test_contraction import PLANS, bottleneck_problem, output_and_gradients
from tests.test_compile_autocast import autocast_keeps_fp32, compiled_matches_eager

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
MODES = ["dws", "s5", "neck", "full"]


@pytest.mark.parametrize("mode", MODES)
def test_cuda_forward_and_backward_match_cpu(mode):
    layer = SSMLayer(16, 8, 6, mode=mode, state_blocks=2, skip=True)
    x = torch.randn(3, 8, 2000, requires_grad=True)
    y = layer(x)
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    cuda_layer, xc = layer.cuda(), x.detach().cuda().requires_grad_()
    yc = cuda_layer(xc)
    (gxc,) = torch.autograd.grad(yc.square().sum(), xc)
    torch.testing.assert_close(yc.cpu(), y, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gxc.cpu(), gx, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("complex_out", [False, True])
@pytest.mark.parametrize("channels", [(3, 5, 6), (9, 10, 8)])
def test_cuda_every_contraction_order_matches_cpu(complex_out, channels):
    leaves = bottleneck_problem(4, complex_out, channels)
    want, want_grads = output_and_gradients(PLANS[0], leaves)
    on_gpu = [t.detach().to("cuda", torch.complex64 if t.is_complex() else torch.float32).requires_grad_()
              for t in leaves]
    for plan in PLANS:
        out, grads = output_and_gradients(plan, on_gpu)
        torch.testing.assert_close(out.cpu().double(), want, rtol=1e-4, atol=1e-4)
        for got, expected in zip(grads, want_grads):
            torch.testing.assert_close(got.cpu().to(expected.dtype), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode", MODES)
def test_cuda_autocast_keeps_ffts_and_discretisation_in_fp32(mode, dtype):
    autocast_keeps_fp32(SSMLayer(16, 8, 8, mode=mode, state_blocks=2).cuda(), torch.randn(2, 8, 4000, device="cuda"),
                        dtype)


def test_cuda_compiled_model_matches_eager():
    compiled_matches_eager("cuda", 512, rtol=1e-4, atol=1e-5)


def test_cuda_streaming_is_exact_and_state_follows_the_device():
    model = MiniCentaur().eval()
    x = torch.randn(2, 1, 4003)
    with torch.no_grad():
        one_shot = model(x)
        set_run_mode(model, "inference")
        model(x[..., :5])  # state made on the CPU, then moved with the model
        model.cuda()
        set_run_mode(model, "inference")  # a fresh stream
        sizes = [1, 7, 160, 333, 1601]
        chunks, start = [], 0
        while start < x.shape[-1]:
            size = sizes[len(chunks) % len(sizes)]
            chunks.append(model(x[..., start:start + size].cuda()))
            start += size
    streamed = torch.cat(chunks, -1).cpu()
    assert (streamed - one_shot).abs().max() <= 1e-5


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_trainer_learns_with_autocast(amp, tmp_path):
    from centaurus.training import train, validate_recipe
    from tests.training.corpora import make_kws
    from tests.training.test_trainer import kws_recipe

    root = make_kws(tmp_path / "kws", train=16)
    recipe = validate_recipe(kws_recipe(root, tmp_path / "run", amp=amp), source="t")
    result = train(recipe, device="cuda", progress=False)
    losses = [r["loss"] for r in result.train_log]
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0], losses
    assert result.best_metric > 0.6  # chance on 3 balanced classes is 1/3


def _cli(*args):
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cuda_cli_inference_matches_cpu(tmp_path):
    """The shipped models through the real commands: same denoised audio, detections and transcript."""
    from centaurus_cli.demo import samples_dir
    samples = samples_dir()
    noisy = samples / "noisy_speech.flac"
    waves = {}
    for k, device in enumerate(("cpu", "cuda")):
        target = tmp_path / f"{k}-{device}.wav"
        _cli("denoise", str(noisy), "-o", str(target), "--engine", "torch", "--device", device)
        waves[device], _ = sf.read(target, dtype="float32")
    assert waves["cuda"].shape == waves["cpu"].shape
    assert np.abs(waves["cuda"] - waves["cpu"]).max() <= 3 / 32768  # a few 16-bit steps

    def detections(device, context):
        lines = _cli("kws", "detect", str(samples / "keywords.flac"), "--context", context, "--device", device)
        return [line.split("\t")[1:3] for line in lines.splitlines() if line.count("\t") == 3]  # time, word
    for context in ("window", "stream"):
        assert detections("cuda", context) == detections("cpu", context)
    texts = [_cli("transcribe", str(samples / "utterance.flac"), "--device", d).splitlines()[-1]
             for d in ("cpu", "cuda")]
    assert texts[0] == texts[1] and texts[0].strip()
    assert "FAILED" not in _cli("demo", "--device", "cuda", "--out", str(tmp_path / "demo"))
