"""Every shipped recipe validates; overrides are typed and checked like the file."""
from pathlib import Path

import pytest

from centaurus.errors import RecipeError
from centaurus.training import load_recipe

RECIPES = sorted((Path(__file__).parents[2] / "recipes").rglob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.task == path.parent.name and recipe.hardware.description and recipe.expected.metric


def test_overrides_are_typed():
    path = RECIPES[0]
    recipe = load_recipe(path, ["trainer.epochs=3", "data.root=/elsewhere", "optim.lr=1e-3"])
    assert recipe.trainer.epochs == 3 and recipe.data.root == "/elsewhere" and recipe.optim.lr == 1e-3
    with pytest.raises(RecipeError, match=r"unknown key trainer\.nope"):
        load_recipe(path, ["trainer.nope=1"])
    with pytest.raises(RecipeError, match=r"trainer\.batch_size: Input should be a valid integer"):
        load_recipe(path, ["trainer.batch_size=1.5"])
    with pytest.raises(RecipeError, match="expected KEY.PATH=VALUE"):
        load_recipe(path, ["trainer.epochs"])


@pytest.mark.parametrize("overrides,message", [
    (["loss.stft_power=0"], r"loss\.stft_power: Input should be greater than 0"),
    (["data.remix_eq_db=-3"], r"data\.remix_eq_db: Input should be greater than or equal to 0"),
    (["model.block=fancy"], r"model\.block: Input should be 'plain' or 'gated'"),
    (["model.frontend=stft", "model.hop=100"], r"model: .*hop 100 must divide n_fft 512 at least twice"),
    (["model.frontend=spectrum"], r"model\.frontend: Input should be 'waveform' or 'stft'"),
    (["model.mean_norm_frames=0"], r"model\.mean_norm_frames: Input should be greater than 0"),
    (["model.frontend=waveform", "model.mean_norm_frames=100"],
     r"model: .*mean_norm_frames, bands and erb_bands need frontend: stft"),
    (["model.frontend=waveform", "model.bands=32"], r"model: .*mean_norm_frames, bands and erb_bands need frontend: stft"),
    (["model.bands=0"], r"model\.bands: Input should be greater than or equal to 1"),
])
def test_denoise_options_are_checked(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(Path(__file__).parents[2] / "recipes" / "denoise" / "offline.yaml", overrides)


@pytest.mark.parametrize("override,message", [
    ("model.ffn=-1", r"model\.ffn: Input should be greater than or equal to 0"),
    ("model.residual=false", r"model: .*ffn .* needs residual: true"),
])
def test_classifier_feed_forward_option_is_checked(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(Path(__file__).parents[2] / "recipes" / "asr" / "offline.yaml", [override])


@pytest.mark.parametrize("override,message", [
    ("model.frontend=raw", r"model: .*spec_augment .* needs frontend: logmel"),
    ("model.spec_augment.time_fraction=1.5", r"model\.spec_augment\.time_fraction: Input should be less than"),
])
def test_spec_augment_options_are_checked(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(Path(__file__).parents[2] / "recipes" / "asr" / "offline.yaml", ["model.spec_augment={}", override])
