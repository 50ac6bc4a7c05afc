"""Dynamic mixing (`data.remix`): a training item's noise is another training pair's noise, rescaled."""
import numpy as np
import soundfile as sf
import torch

from centaurus.data.augment import random_eq
from centaurus.training import validate_recipe
from tests.tasks.test_tasks_learn import denoise_recipe

LEVELS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)  # each pair's noise is a constant of its own level


def _constant_noise_corpus(root):
    t = np.arange(6000) / 16000
    for split, folder in (("train", "trainset_28spk"), ("test", "testset")):
        for i, level in enumerate(LEVELS):
            clean = 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t)
            for kind, wav in (("clean", clean), ("noisy", clean + level)):
                path = root / f"{kind}_{folder}_wav" / f"p{i}_{split}{i:03d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wav.astype(np.float32), 16000, subtype="FLOAT")
    return root


def _task(tmp_path, **data):
    recipe = denoise_recipe(_constant_noise_corpus(tmp_path / "data"), tmp_path / "run")
    recipe["data"].update(valid_count=1, **data)
    return validate_recipe(recipe, source="t").build_task()


def test_remixed_noise_is_another_pairs_noise_within_the_gain_range(tmp_path):
    task = _task(tmp_path, remix=1.0, remix_db=5.0)
    items = task.dataset("train", train=True)
    ratios = set()
    for index in range(len(items)):
        for epoch in range(8):
            noisy, clean = items[(epoch, index)]
            noise = (noisy - clean).numpy()
            assert np.ptp(noise) < 1e-6, "the noise must be one pair's constant, rescaled"
            # level × gain with |gain| ≤ 5 dB: some training pair's level explains it
            gains_db = 20 * np.log10(noise[0] / np.array(LEVELS[:-1]))  # the last pair validates
            assert np.abs(gains_db).min() <= 5.0 + 1e-3, noise[0]
            ratios.add(round(float(noise[0]) / LEVELS[index], 3))
    assert len(ratios) > len(LEVELS), "remixing must vary the noise across epochs and items"
    again = task.dataset("train", train=True)[(3, 2)]
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(again, items[(3, 2)]))  # seeded


def test_without_remix_items_keep_their_own_noise(tmp_path):
    items = _task(tmp_path).dataset("train", train=True)
    for index in range(len(items)):
        noisy, clean = items[(0, index)]
        np.testing.assert_allclose((noisy - clean).numpy(), LEVELS[index], atol=1e-6)


def test_random_eq_is_a_smooth_bounded_seeded_recolouring():
    wav = torch.randn(16000)
    out = random_eq(wav, 12.0, torch.Generator().manual_seed(3))
    assert out.shape == wav.shape
    gain_db = 20 * torch.log10(torch.fft.rfft(out).abs() / torch.fft.rfft(wav).abs())
    assert gain_db.abs().max() <= 12.0 + 1e-3 and gain_db.abs().max() > 1.0, gain_db.abs().max()
    assert gain_db.diff().abs().max() < 0.1, "the curve is smooth over frequency"
    torch.testing.assert_close(out, random_eq(wav, 12.0, torch.Generator().manual_seed(3)))
    assert not torch.allclose(out, random_eq(wav, 12.0, torch.Generator().manual_seed(4)))


def test_remix_eq_recolours_the_borrowed_noise(tmp_path):
    plain = _task(tmp_path / "a", remix=1.0, remix_db=0.0).dataset("train", train=True)
    coloured = _task(tmp_path / "b", remix=1.0, remix_db=0.0, remix_eq_db=12.0).dataset("train", train=True)
    noise = [(n - c).numpy() for n, c in (items[(1, 0)] for items in (plain, coloured))]
    # The noises are constants: an EQ scales the DC bin, so the level moves but stays constant.
    assert np.ptp(noise[1]) < 1e-5 and not np.isclose(noise[1][0], noise[0][0], rtol=1e-3), noise
