"""EMA, bf16 autocast on CPU and torch.compile in the real trainer, on the tiny tone corpus."""
import math

import pytest
import torch
from safetensors.torch import load_file

from centaurus.training import train, validate_recipe
from tests.training.corpora import make_kws
from tests.training.test_trainer import kws_recipe


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_kws(tmp_path_factory.mktemp("kws"), train=8)


def _last(out):
    folder = out / "checkpoints" / "last"
    return load_file(str(folder / "model.safetensors")), load_file(str(folder / "train_state.safetensors"))


def test_ema_weights_are_saved_for_inference_and_trail_the_raw_weights(root, tmp_path):
    def run(decay, name):
        recipe = validate_recipe(kws_recipe(root, tmp_path / name, epochs=2, ema_decay=decay), source="t")
        train(recipe, device="cpu", progress=False)
        return _last(tmp_path / name)
    weights, state = run(0.9, "ema")
    raw = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
    ema = {k[len("ema.module."):]: v for k, v in state.items() if k.startswith("ema.module.")}
    assert weights.keys() == ema.keys() and all(torch.equal(weights[k], ema[k]) for k in ema)
    floats = [k for k in raw if raw[k].is_floating_point() and "running" not in k]
    assert max(float((raw[k] - ema[k]).abs().max()) for k in floats) > 1e-3  # decay 0.9 lags the raw weights
    tiny, _ = run(1e-6, "ema0")  # decay ~0: the average is the latest raw weights
    raw0 = {k[6:]: v for k, v in _last(tmp_path / "ema0")[1].items() if k.startswith("model.")}
    assert max(float((tiny[k] - raw0[k]).abs().max()) for k in floats) < 1e-4


def test_bf16_autocast_trains_on_cpu(root, tmp_path):
    recipe = validate_recipe(kws_recipe(root, tmp_path / "run", epochs=2, amp="bf16"), source="t")
    result = train(recipe, device="cpu", progress=False)
    losses = [r["loss"] for r in result.train_log]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0], losses
    task = recipe.build_task()
    model = task.build_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 1, 16000))
    assert out.dtype == torch.bfloat16  # autocast really reaches the network's matmuls


@pytest.mark.slow
def test_compiled_training_matches_eager(root, tmp_path):
    def run(name, **trainer):
        recipe = validate_recipe(kws_recipe(root, tmp_path / name, epochs=1, **trainer), source="t")
        return train(recipe, device="cpu", progress=False), _last(tmp_path / name)[0]
    (eager, eager_weights), (compiled, compiled_weights) = run("eager"), run("compiled", compile=True)
    eager_losses, compiled_losses = [r["loss"] for r in eager.train_log], [r["loss"] for r in compiled.train_log]
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-3), (eager_losses, compiled_losses)
    floats = [k for k in eager_weights if eager_weights[k].is_floating_point()]
    assert max(float((eager_weights[k] - compiled_weights[k]).abs().max()) for k in floats) < 1e-3
