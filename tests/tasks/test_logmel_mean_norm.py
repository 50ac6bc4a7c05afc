"""The log-mel front end's causal mean normalisation: a gain on the input (a constant shift of every log-mel
band) leaves the model's output unchanged, and the model still streams exactly."""
from pathlib import Path

import pytest
import torch

from centaurus.errors import RecipeError
from centaurus.training import load_recipe

RECIPE = Path(__file__).parents[2] / "recipes" / "asr" / "offline.yaml"
SMALL = ["model.channels=[16,16]", "model.downsample=[1,2]", "model.ffn=0"]


def _model(tmp_path, *overrides):
    recipe = load_recipe(RECIPE, [f"data.root={tmp_path}", *SMALL, *overrides])
    torch.manual_seed(0)
    return recipe.build_task().build_model().eval()


def test_input_gain_leaves_the_output_unchanged_only_with_mean_norm(tmp_path):
    torch.manual_seed(1)
    wav = torch.randn(2, 1, 8000) * 0.05
    normed = _model(tmp_path, "model.mean_norm_frames=50")
    plain = _model(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(normed(wav * 8), normed(wav), atol=2e-4, rtol=1e-4)
        assert (plain(wav * 8) - plain(wav)).abs().max() > 0.1


def test_asr_model_with_mean_norm_streams_like_one_shot(tmp_path):
    model = _model(tmp_path, "model.mean_norm_frames=30")
    wav = torch.randn(1, 1, 9000) * 0.1
    with torch.no_grad():
        one_shot = model(wav)
        model.set_run_mode("inference")
        chunks = torch.cat([model(part) for part in wav.split(613, dim=-1)], dim=1)
    torch.testing.assert_close(chunks, one_shot, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("overrides,message", [
    (["model.mean_norm_frames=0"], r"model\.mean_norm_frames: Input should be greater than 0"),
    (["model.mean_norm_frames=100", "model.frontend=raw"], r"model: .*mean_norm_frames .* needs frontend: logmel"),
])
def test_mean_norm_option_is_checked(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(RECIPE, overrides)
