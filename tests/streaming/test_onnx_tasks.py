"""The shipped ONNX steps against the torch models they were exported from, on the bundled recordings: the
keyword spotter's detections are identical, the greedy transcript is equal and the log-probabilities agree to
1e-3, the denoised audio agrees to 1e-3 (max abs difference). A step exported here from a checkpoint agrees
with the torch model the same way, so `centaurus export` keeps making working steps."""
from pathlib import Path

import numpy as np
import pytest
import torch

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.streaming import KeywordSpotter, OnnxKeywordSpotter, OnnxStreamer, Streamer, Transcriber
from centaurus.streaming.enhance import enhance_file, enhance_stream
from centaurus.streaming.export import export_ctc
from centaurus.training import load_model, shipped_models

SAMPLES = Path(__file__).resolve().parents[2] / "pretrained" / "samples"


def _shipped(name: str):
    folder = shipped_models()[name]
    _, task, model, _ = load_model(folder)
    return folder, task, model


def test_kws_detections_are_identical():
    folder, task, model = _shipped("kws-offline")
    audio = load_audio(SAMPLES / "keywords.flac", sample_rate=SAMPLE_RATE)
    spotter = KeywordSpotter(model, task.classes)
    expected = spotter.push(audio) + spotter.flush()
    onnx = OnnxKeywordSpotter(folder / "kws-window.onnx", threads=1)
    found = []
    for block in np.array_split(audio.numpy(), 7):  # pushed in other sizes than the torch stream's
        found += onnx.push(block)
    found += onnx.flush()
    assert [(d.time_s, d.keyword) for d in found] == [(d.time_s, d.keyword) for d in expected]
    assert [d.keyword for d in found] == (SAMPLES / "keywords.txt").read_text().split()
    np.testing.assert_allclose([d.confidence for d in found], [d.confidence for d in expected], atol=1e-5)
    onnx.reset()
    assert onnx.push(audio.numpy()) + onnx.flush() == found  # reset starts the same stream again


def _ctc_frames(stream, audio) -> np.ndarray:
    return np.concatenate([np.asarray(out) for out in stream.run(audio)])


@pytest.mark.parametrize("seconds", [None, 0.61])  # the whole utterance, and a cut that ends mid-chunk
def test_ctc_frames_and_transcript_agree(seconds):
    folder, _, model = _shipped("asr-offline")
    audio = load_audio(SAMPLES / "utterance.flac", sample_rate=SAMPLE_RATE)
    if seconds is not None:
        audio = audio[: round(seconds * SAMPLE_RATE)]
    step = folder / "stream-40ms.onnx"
    expected = _ctc_frames(Streamer(model, chunk_ms=40), audio)
    frames = _ctc_frames(OnnxStreamer(step, threads=1), audio.numpy())
    assert frames.shape == expected.shape
    assert np.abs(frames - expected).max() < 1e-3
    torch_text = Transcriber(model)
    onnx_text = Transcriber(OnnxStreamer(step, threads=1))
    torch_text.push(audio)
    for block in np.array_split(audio.numpy(), 5):
        onnx_text.push(block)
    assert onnx_text.finish() == torch_text.finish()


def test_denoised_audio_agrees(tmp_path):
    folder, _, model = _shipped("denoise-offline")
    noisy = SAMPLES / "noisy_speech.flac"
    enhance_file(model, noisy, tmp_path / "torch.wav", progress=False)
    enhance_stream(OnnxStreamer(folder / "stream-16ms.onnx", threads=1), noisy, tmp_path / "onnx.wav", progress=False)
    by_torch = load_audio(tmp_path / "torch.wav").numpy()
    by_onnx = load_audio(tmp_path / "onnx.wav").numpy()
    assert by_onnx.shape == by_torch.shape
    assert np.abs(by_onnx - by_torch).max() < 1e-3


def test_a_ctc_step_exported_from_a_checkpoint_matches_its_model(tmp_path):
    _, task, model = _shipped("asr-offline")
    step = tmp_path / "step.onnx"
    export_ctc(model, step, tokenizer_config=task.tokenizer.config())
    audio = torch.randn(SAMPLE_RATE) * 0.1
    expected = _ctc_frames(Streamer(model, chunk_ms=40), audio)
    assert np.abs(_ctc_frames(OnnxStreamer(step, threads=1), audio.numpy()) - expected).max() < 1e-3


@pytest.mark.slow
def test_export_writes_the_default_step_into_a_checkpoint(tmp_path):
    import shutil
    import subprocess
    import sys
    folder = tmp_path / "kws"
    shutil.copytree(shipped_models()["kws-offline"], folder, ignore=shutil.ignore_patterns("*.onnx"))
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "export", str(folder)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "export", str(folder)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 2 and "--force" in again.stderr
    _, task, model = _shipped("kws-offline")
    audio = load_audio(SAMPLES / "keywords.flac", sample_rate=SAMPLE_RATE)
    spotter = KeywordSpotter(model, task.classes)
    expected = spotter.push(audio) + spotter.flush()
    onnx = OnnxKeywordSpotter(folder / "kws-window.onnx", threads=1)
    found = onnx.push(audio.numpy()) + onnx.flush()
    assert [(d.time_s, d.keyword) for d in found] == [(d.time_s, d.keyword) for d in expected]
