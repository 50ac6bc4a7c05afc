import re
from pathlib import Path

import pytest
import torch

from centaurus import set_run_mode
from centaurus.layers.blocks import FeedForward
from centaurus.layers.ssm_block import ResidualSSMBlock
from centaurus.models import (
    CentaurusClassifier,
    CentaurusHourglass,
    ClassifierConfig,
    HourglassConfig,
    MaskerConfig,
    MiniCentaur,
    SpectralMasker,
)

SIZES = [1, 3, 8, 13, 0, 50, 85, 1, 7, 150]  # 318 samples in odd chunks


def _stream(model, x, sizes):
    outs, start = [], 0
    for size in sizes:
        outs.append(model(x[..., start:start + size]))
        start += size
    return outs


def _warm_batchnorm(model, x):
    """A few training-mode passes so BatchNorm's running statistics are not the identity."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


@pytest.mark.parametrize("ffn,residual", [(2, False), (-1, True)])
def test_classifier_rejects_a_feed_forward_it_cannot_place(ffn, residual):
    with pytest.raises(ValueError, match="ffn must be 0, or a positive expansion with residual=True"):
        CentaurusClassifier(ClassifierConfig(ffn=ffn, residual=residual))


@pytest.mark.parametrize("mode,ffn", [("average", 0), ("downsampling", 0), ("subsampling", 0), ("downsampling", 2)])
def test_classifier_streams_exactly(mode, ffn):
    cfg = ClassifierConfig(channels=[8, 16, 16], downsample=[4, 2, 1], mode=["full", "s5"], num_classes=5,
                           downsample_mode=mode, residual=True, ffn=ffn)
    model = CentaurusClassifier(cfg)
    blocks = [type(m) for m in model.backbone.layers]
    assert blocks.count(FeedForward) == (blocks.count(ResidualSSMBlock) if ffn else 0) and ResidualSSMBlock in blocks
    x = torch.randn(2, 1, 318)
    _warm_batchnorm(model, x)
    with torch.no_grad():
        logits = model(x)
        features = model.features(x)
        assert features.abs().mean() > 1e-3
        set_run_mode(model, "inference")
        streamed = _stream(model, x, SIZES)[-1]
    torch.testing.assert_close(streamed, logits, rtol=1e-5, atol=1e-5)
    assert features.shape == (2, 16, 318 // 8)


# float64 for the stem: LayerNorm over 3 channels amplifies float32 rounding to ~3e-5.
@pytest.mark.parametrize("stem,dtype,block,skip", [(None, torch.float32, "plain", False),
                                                    (3, torch.float64, "plain", False),
                                                    (3, torch.float32, "gated", True)])
def test_hourglass_is_causal_and_streams_exactly(stem, dtype, block, skip):
    model = CentaurusHourglass(HourglassConfig(channels=[4, 8], downsample=[4, 2], mode=["dws", "s5", "neck"],
                                               stem=stem, block=block, skip=skip, norm=None if skip else "layer"))
    with torch.no_grad():  # the D skips start at zero; make them matter
        for name, p in model.named_parameters():
            if name.endswith("D_skip"):
                p.normal_(0, 0.3)
    model.eval().to(dtype)
    x = torch.randn(2, 1, 320, dtype=dtype)
    with torch.no_grad():
        y = model(x)
        assert y.shape == x.shape
        v = x.clone()
        v[..., 200:] += 1
        diff = (model(v) - y).abs()
        assert diff[..., 200:].max() > 0 and diff[..., :200].max() < 1e-4 * diff[..., 200:].max()
        set_run_mode(model, "inference")
        streamed = torch.cat(_stream(model, x, SIZES + [2]), -1)
    assert streamed.shape[-1] == 320 - (320 % 8)
    torch.testing.assert_close(streamed, y[..., :streamed.shape[-1]], rtol=1e-5, atol=1e-5)
    assert model.latency_samples == 7


@pytest.mark.parametrize("downsample,features",
                         [([1, 1], {}), ([2, 1], {}), ([2, 1], dict(mean_norm_frames=6.0)), ([1, 1], dict(bands=5)),
                          ([1, 1], dict(erb_bands=6)), ([2, 1], dict(erb_bands=6, df_bins=4, mean_norm_frames=6.0)),
                          ([1, 1], dict(erb_bands=8, df_bins=5, df_order=1))])
def test_spectral_masker_is_causal_and_streams_exactly(downsample, features):
    core = HourglassConfig(channels=[8, 8], downsample=downsample, mode=["s5", "dws"], stem=8, norm=None)
    config = MaskerConfig(n_fft=32, hop=8, core=core, **features)
    model = SpectralMasker(config).eval()
    x = torch.randn(2, 1, 320)
    with torch.no_grad():
        y = model(x)
        assert y.shape == x.shape
        v = x.clone()
        v[..., 200:] += 1
        diff = (model(v) - y).abs()  # strictly causal: the output lags by its delay instead of looking ahead
        assert diff[..., 200:].max() > 0 and diff[..., :200].max() < 1e-5 * diff[..., 200:].max()
        set_run_mode(model, "inference")
        streamed = torch.cat(_stream(model, x, SIZES + [2]), -1)
    factor = 8 * downsample[0]
    assert streamed.shape[-1] == 320 // factor * factor
    torch.testing.assert_close(streamed, y[..., :streamed.shape[-1]], rtol=1e-5, atol=1e-6)
    assert (model.delay_samples, model.latency_samples) == (24, 24 + factor - 1)


def test_masker_band_features_fluctuate_less_than_bins_under_noise():
    core = HourglassConfig(channels=[8], downsample=[1], mode=["dws"], stem=8, norm=None)
    model = SpectralMasker(MaskerConfig(n_fft=512, hop=128, core=core, bands=32))
    with torch.no_grad():
        features, _ = model.features(model.analysis(torch.randn(1, 1, 32000)), None)
    bins, bands = features[0, :257], features[0, 257:]
    assert bands.shape[0] == 32 and model.core.config.in_channels == 257 + 32
    # A bin's log power under white noise spreads by π/√6 ≈ 1.28 nats over time; a band averages several bins.
    assert 1.1 < bins.std(-1).median() < 1.5
    assert bands.std(-1).median() < 0.5 * bins.std(-1).median()


def test_erb_interpolation_is_a_partition_of_unity_with_a_bin_per_band():
    from centaurus.models.masking import erb_interpolation
    weights = erb_interpolation(257, 32)
    torch.testing.assert_close(weights.sum(1), torch.ones(257))
    assert (weights.argmax(0) == weights.argmax(0).sort().values).all()  # centres rise with the band
    assert len(set(weights.argmax(0).tolist())) == 32 and weights.argmax(0)[-1] == 256


def test_deep_filter_reaches_the_past_frames_of_the_low_bins_only():
    core = HourglassConfig(channels=[8], downsample=[1], mode=["dws"], stem=8, norm=None)
    model = SpectralMasker(MaskerConfig(n_fft=32, hop=8, core=core, erb_bands=6, df_bins=4, df_order=3))
    spectrum = torch.randn(1, 34, 10)
    logits = torch.full((1, 6 + 2 * 4 * 3, 10), -30.0)  # every gain ~0: only the deep filter passes signal
    logits[:, 6:] = 0
    logits[:, 6 + 2 * 4 * 2: 6 + 2 * 4 * 2 + 4] = 30.0  # lag 2, real part: tanh -> 1
    out, history = model.masked(spectrum, logits, None)
    torch.testing.assert_close(out[:, :4, 2:], spectrum[:, :4, :-2], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[:, 17:21, 2:], spectrum[:, 17:21, :-2], atol=1e-6, rtol=0)
    assert out[:, 4:17].abs().max() < 1e-6 and out[:, 21:].abs().max() < 1e-6 and out[:, :, :2].abs().max() < 1e-6
    assert history.shape == (1, 8, 2)


@pytest.mark.parametrize("length,chunk,tol", [(128, 8, 1e-6), (128, 12, 1e-6), (128, 1, 1e-6),
                                              (16000, 160, 1e-5), (16000, 1601, 1e-5)])
def test_minicentaur_chunked_equals_one_shot(length, chunk, tol):
    model = MiniCentaur().eval()
    x = torch.randn(2 if length > 1000 else 4, 1, length)
    with torch.no_grad():
        y = model(x)
        set_run_mode(model, "inference")
        chunks = torch.cat([model(c) for c in x.split(chunk, -1)], -1)
    assert chunks.shape == y.shape
    assert (chunks - y).abs().max() <= tol


def test_readme_example_runs_verbatim():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "MiniCentaur" in b and "allclose" in b)
    exec(compile(example, "README.md", "exec"), {})
