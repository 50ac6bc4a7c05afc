"""Every shipped model streams exactly: chunked output equals one-shot output, at several chunk sizes."""
import pytest
import torch

from centaurus.streaming import Streamer
from centaurus.training import load_model, shipped_models


@pytest.mark.parametrize("name", sorted(shipped_models()))
@pytest.mark.parametrize("chunk_ms", [16.0, 7.3, 40.0])
def test_shipped_model_streams_like_one_shot(name, chunk_ms):
    _, task, model, _ = load_model(shipped_models()[name])
    audio = torch.randn(24000) * 0.1
    with torch.no_grad():
        one_shot = model(audio[None, None])[0]
    outputs = Streamer(model, chunk_ms=chunk_ms).run(audio)
    if task.name == "kws":  # logits of the whole stream so far
        streamed, expected = outputs[-1], one_shot
    else:  # time is the last axis of a waveform, the first of ASR's (frames, vocab) log-probabilities
        time = -2 if task.name == "asr" else -1
        streamed = torch.cat(outputs, time)
        expected = one_shot.narrow(time, 0, streamed.shape[time])
    assert streamed.numel() > 0
    torch.testing.assert_close(streamed, expected, rtol=1e-4, atol=1e-4)


def test_a_keyword_spotter_ships():
    assert "kws-offline" in shipped_models()
