"""SpecAugment masks log-mel bands and frames in training only; an ASR model with it still streams exactly."""
from pathlib import Path

import torch

from centaurus.tasks.frontend import SpecAugment, SpecAugmentSpec
from centaurus.training import load_recipe


def test_masks_at_most_the_configured_bands_and_frames_per_example():
    torch.manual_seed(0)
    masks = SpecAugment(SpecAugmentSpec(freq_masks=1, freq_width=8, time_masks=1, time_width=30, time_fraction=1.0))
    x = torch.randn(64, 40, 200) + 5.0  # no zero values before masking
    y = masks.train()(x)
    bands = (y == 0).all(dim=2).sum(dim=1)   # mel bins zeroed over the whole utterance
    frames = (y == 0).all(dim=1).sum(dim=1)  # frames zeroed in every bin
    assert bands.max() <= 7 and frames.max() <= 29  # mask widths are drawn from [0, width)
    assert (bands > 0).float().mean() > 0.5 and (frames > 0).float().mean() > 0.5
    assert len(set(bands.tolist())) > 1  # drawn per example
    kept = y != 0
    assert torch.equal(y[kept], x[kept])  # nothing else changes
    assert torch.equal(masks.eval()(x), x)


def test_time_fraction_caps_the_time_masks():
    torch.manual_seed(1)
    masks = SpecAugment(SpecAugmentSpec(freq_masks=0, time_masks=1, time_width=100, time_fraction=0.1))
    frames = (masks.train()(torch.ones(256, 4, 50)) == 0).all(dim=1).sum(dim=1)
    assert frames.max() <= 5 and frames.max() > 0


def test_asr_model_with_spec_augment_streams_like_one_shot(tmp_path):
    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "asr" / "offline.yaml", [
        "model.spec_augment={}", f"data.root={tmp_path}", "model.channels=[16,16]", "model.downsample=[1,2]",
        "model.ffn=0"])
    torch.manual_seed(0)
    model = recipe.build_task().build_model()
    wav = torch.randn(1, 1, 4000) * 0.1
    model.train()
    assert not torch.equal(model(wav), model(wav))  # masks drawn afresh each call
    model.eval()
    one_shot = model(wav)
    model.set_run_mode("inference")
    model.reset_state()
    chunks = torch.cat([model(part) for part in wav.split(777, dim=-1)], dim=1)
    torch.testing.assert_close(chunks, one_shot, atol=1e-5, rtol=1e-5)
