import pytest
import soundfile as sf
import torch

from centaurus.audio import load_audio
from centaurus.models import CentaurusClassifier, CentaurusHourglass, ClassifierConfig, HourglassConfig
from centaurus.streaming import Streamer


def _hourglass():
    return CentaurusHourglass(HourglassConfig(channels=[4, 8], downsample=[4, 2], mode=["s5", "dws"])).eval()


@pytest.mark.parametrize("chunk_ms", [8.0, 16.0, 7.3, 0.0625])
def test_streamed_output_equals_one_shot(chunk_ms):
    model = _hourglass()
    x = torch.randn(1600)
    with torch.no_grad():
        reference = model(x[None, None])[0]
    streamer = Streamer(model, chunk_ms=chunk_ms)
    outputs = streamer.push(x[:333]) + streamer.push(x[333:]) + streamer.flush()
    streamed = torch.cat(outputs, -1)
    torch.testing.assert_close(streamed, reference[..., :streamed.shape[-1]], rtol=1e-5, atol=1e-6)
    assert streamed.shape[-1] == 1600  # 1600 is a multiple of the down-sampling factor 8
    report = streamer.report()
    assert report.chunks == -(-1600 // streamer.chunk_samples)
    assert report.audio_seconds == pytest.approx(0.1)
    assert 0 < report.chunk_ms_p50 <= report.chunk_ms_p99 and report.rtf > 0
    # Chunks of whole pooling windows (8 samples) leave none pending; others wait up to 7 samples more.
    pending = 0 if streamer.chunk_samples % 8 == 0 else 7
    assert report.algorithmic_latency_ms == pytest.approx((streamer.chunk_samples + pending) / 16)


def test_classifier_logits_after_the_last_chunk_equal_one_shot():
    model = CentaurusClassifier(ClassifierConfig(channels=[8, 8], downsample=[4, 2], num_classes=3,
                                                 norm="layer")).eval()
    x = torch.randn(1000)
    with torch.no_grad():
        reference = model(x[None, None])[0]
    outputs = Streamer(model, chunk_ms=10).run(x)
    torch.testing.assert_close(outputs[-1], reference, rtol=1e-5, atol=1e-6)


def test_run_file_goes_through_the_same_path(tmp_path):
    path = tmp_path / "noise.wav"
    sf.write(path, torch.randn(4800).numpy() * 0.1, 48000)  # resampled to 16 kHz while streaming
    model = _hourglass()
    with torch.no_grad():
        reference = model(load_audio(path)[None, None])[0]
    streamer = Streamer(model, chunk_ms=16)
    streamed = torch.cat(streamer.run_file(path, block_seconds=0.03), -1)
    torch.testing.assert_close(streamed, reference[..., :streamed.shape[-1]], rtol=1e-4, atol=1e-5)
    assert streamed.shape[-1] >= 1600 - 7


def test_reset_starts_a_new_stream():
    model = _hourglass()
    streamer = Streamer(model, chunk_ms=4)
    x = torch.randn(640)
    first = torch.cat(streamer.run(x), -1)
    streamer.reset()
    torch.testing.assert_close(torch.cat(streamer.run(x), -1), first)
    with pytest.raises(ValueError):
        Streamer(model, chunk_ms=0)
