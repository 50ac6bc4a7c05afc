import pytest
import torch

from centaurus import set_run_mode
from centaurus.layers.stft import STFTAnalysis, STFTSynthesis, sqrt_hann
from tests.layers.test_resample import _stream

SIZES = [1, 2, 0, 5, 3, 11, 7, 1, 30, 4, 97, 1, 350]  # 512 samples in odd chunks


@pytest.mark.parametrize("n_fft,hop", [(64, 16), (48, 24), (60, 20)])
def test_analysis_is_torch_stft_of_the_causally_padded_input(n_fft, hop):
    x = torch.randn(2, 1, 480, dtype=torch.float64)
    spectrum = STFTAnalysis(n_fft, hop).double()(x)
    padded = torch.nn.functional.pad(x[:, 0], (n_fft - hop, 0))
    expected = torch.stft(padded, n_fft, hop, window=sqrt_hann(n_fft), center=False, return_complex=True)
    assert spectrum.shape == (2, 2 * (n_fft // 2 + 1), 480 // hop)
    torch.testing.assert_close(torch.complex(*spectrum.chunk(2, dim=1)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop", [(64, 16), (48, 24), (60, 20)])
def test_synthesis_after_analysis_is_the_input_delayed(n_fft, hop):
    x = torch.randn(2, 1, 480)
    y = STFTSynthesis(n_fft, hop)(STFTAnalysis(n_fft, hop)(x))
    delay = n_fft - hop
    assert y.shape == x.shape
    torch.testing.assert_close(y[..., delay:], x[..., :-delay], rtol=1e-5, atol=1e-5)
    assert y[..., :delay].abs().max() < 1e-5


@pytest.mark.parametrize("module", [STFTAnalysis(64, 16), STFTSynthesis(64, 16)])
def test_stft_streams_exactly_at_any_chunk_size(module):
    x = torch.randn(2, 1 if isinstance(module, STFTAnalysis) else 66, 512)
    with torch.no_grad():
        one_shot = module(x)
        set_run_mode(module, "inference")
        streamed = _stream(module, x, SIZES)
    torch.testing.assert_close(streamed, one_shot[..., :streamed.shape[-1]], rtol=1e-5, atol=1e-5)
    assert streamed.shape[-1] == one_shot.shape[-1]


@pytest.mark.parametrize("hop", [64, 40, 0])
def test_a_hop_that_does_not_divide_the_frame_twice_is_refused(hop):
    with pytest.raises(ValueError, match="must divide n_fft 64 at least twice"):
        STFTAnalysis(64, hop)
