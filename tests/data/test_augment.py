"""Augmentation on real noise files: shapes, determinism, SNR and that each effect changes the signal."""
import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.data.augment import Augment, AugmentConfig, simulate_rir
from centaurus.errors import DatasetError

OFF = {"noise_prob": 0.0, "gain_prob": 0.0, "shift_prob": 0.0, "speed_prob": 0.0, "reverb_prob": 0.0}


@pytest.fixture
def noise_dir(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "a.wav", rng.standard_normal(8000).astype(np.float32) * 0.1, 16000)
    sf.write(tmp_path / "b.flac", rng.standard_normal((48000, 2)).astype(np.float32) * 0.1, 48000)
    return tmp_path


def _speech():
    t = torch.arange(16000) / 16000
    return 0.3 * torch.sin(2 * torch.pi * 300 * t) * (t > 0.2) * (t < 0.8)


def test_all_effects_deterministic_and_same_length(noise_dir):
    cfg = AugmentConfig(noise_dir=str(noise_dir), noise_prob=1.0, gain_prob=1.0, shift_prob=1.0, speed_prob=1.0,
                        reverb_prob=1.0, rir_bank=2)
    a, b = Augment(cfg, seed=3), Augment(cfg, seed=3)
    for _ in range(3):
        x, y = a(_speech()), b(_speech())
        assert x.shape == (16000,) and torch.equal(x, y) and torch.isfinite(x).all()
    assert not torch.equal(Augment(cfg, seed=4)(_speech()), Augment(cfg, seed=3)(_speech()))


def test_noise_snr_is_respected(noise_dir):
    aug = Augment(AugmentConfig(noise_dir=str(noise_dir), **{**OFF, "noise_prob": 1.0}, snr_db=(10.0, 10.0)))
    clean = _speech()
    noise = aug(clean) - clean
    snr = 10 * torch.log10(clean.pow(2).sum() / noise.pow(2).sum())
    assert snr.item() == pytest.approx(10.0, abs=0.01)


def test_shift_speed_reverb_each_change_the_signal():
    clean = _speech()
    shifted = Augment(AugmentConfig(**{**OFF, "shift_prob": 1.0}), seed=1)(clean.clone())
    assert shifted.shape == clean.shape and not torch.equal(shifted, clean)
    assert torch.allclose(shifted.pow(2).sum(), clean.pow(2).sum(), rtol=0.05)  # only silence moved out
    fast = Augment(AugmentConfig(**{**OFF, "speed_prob": 1.0}, speeds=(1.25,)))(clean)
    assert (fast[13000:].abs() == 0).all()  # 1 s became 0.8 s, zero-padded back to 1 s
    rir = simulate_rir(rt60=0.5, room=(6.0, 5.0, 3.0), source=(2.0, 2.0, 1.5), mic=(4.0, 3.0, 1.5),
                       sample_rate=16000)
    assert rir.abs().max() == 1.0 and rir.shape[0] > 0.3 * 16000
    wet = Augment(AugmentConfig(**{**OFF, "reverb_prob": 1.0}, rir_bank=1))(clean)
    assert wet[int(0.85 * 16000):].abs().max() > 1e-3  # a tail after the speech ends


def test_missing_noise_dir(tmp_path):
    with pytest.raises(DatasetError, match="noise folder not found"):
        Augment(AugmentConfig(noise_dir=str(tmp_path / "none")))
