"""The file steps against the live steps: a denoiser's 256 ms step against its 16 ms one, a recogniser's 160 ms
step against its 40 ms one. Chunked streaming equals one-shot, so they agree to float32 rounding on real
recordings, for the shipped models and for the ERB-band + deep-filter masker of recipes/denoise/engine.yaml;
and which step each path of `denoise` and `transcribe` runs."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from centaurus.audio.files import iter_samples
from centaurus.streaming.onnx_step import STEP_CHUNKS, OnnxStreamer, pick_step
from centaurus.streaming.transcribe import Transcriber
from centaurus.training import shipped_models

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pretrained" / "samples"
NOISY = SAMPLES / "noisy_speech.flac"
TOLERANCE = 1e-5  # float32 rounding of two summation orders; measured 3e-7 on the shipped model


def _denoised(step: Path, audio: np.ndarray) -> np.ndarray:
    stream = OnnxStreamer(step)
    return np.concatenate([y.reshape(-1) for y in stream.run(audio)])


def _read(path: Path = NOISY) -> np.ndarray:
    return np.concatenate(list(iter_samples(path, block_samples=16000 * 60)))


def test_shipped_file_step_equals_the_live_step_on_a_real_recording():
    folder = shipped_models()["denoise-offline"]
    live, whole = folder / "stream-16ms.onnx", folder / "stream-256ms.onnx"
    assert OnnxStreamer(whole).chunk_samples == 4096 and OnnxStreamer(live).chunk_samples == 256
    audio = _read()
    by_live, by_file = _denoised(live, audio), _denoised(whole, audio)
    assert by_file.shape == by_live.shape == audio.shape
    assert np.abs(by_live).max() > 0.1  # speech came out
    np.testing.assert_allclose(by_file, by_live, atol=TOLERANCE, rtol=0)


def test_each_path_runs_its_step(tmp_path):
    assert STEP_CHUNKS == {"denoise": (16, 256), "asr": (40, 160)}
    denoiser, recogniser = shipped_models()["denoise-offline"], shipped_models()["asr-offline"]
    assert pick_step("denoise-offline", "denoise", None, live=False) == denoiser / "stream-256ms.onnx"
    assert pick_step("denoise-offline", "denoise", None, live=True) == denoiser / "stream-16ms.onnx"
    assert pick_step("denoise-offline", "denoise", 16, live=False) == denoiser / "stream-16ms.onnx"
    assert pick_step("asr-offline", "asr", None, live=False) == recogniser / "stream-160ms.onnx"
    assert pick_step("asr-offline", "asr", None, live=True) == recogniser / "stream-40ms.onnx"
    only_live = tmp_path / "only-live"
    only_live.mkdir()
    (only_live / "stream-16ms.onnx").symlink_to(denoiser / "stream-16ms.onnx")
    (only_live / "config.json").symlink_to(denoiser / "config.json")
    assert pick_step(only_live, "denoise", None, live=False) == only_live / "stream-16ms.onnx"  # a model without one


def test_shipped_recogniser_file_step_gives_the_live_steps_frames_and_text():
    folder = shipped_models()["asr-offline"]
    audio = _read(SAMPLES / "utterance.flac")
    live, whole = OnnxStreamer(folder / "stream-40ms.onnx"), OnnxStreamer(folder / "stream-160ms.onnx")
    assert (live.chunk_samples, whole.chunk_samples) == (640, 2560)
    frames = [np.concatenate(stream.run(audio)) for stream in (live, whole)]
    assert frames[0].shape == frames[1].shape and frames[0].shape[0] > 100
    np.testing.assert_allclose(frames[1], frames[0], atol=1e-3, rtol=0)  # log-probs; measured 6e-5
    texts = []
    for step in ("stream-40ms.onnx", "stream-160ms.onnx"):
        transcriber = Transcriber(OnnxStreamer(folder / step), beam_width=4)
        transcriber.push(audio)
        texts.append(transcriber.finish())
    assert texts[0] == texts[1] and len(texts[0]) > 10


def test_denoise_command_runs_the_file_step_and_writes_the_live_output(tmp_path):
    """The real command on a real file: by default the 256 ms step (its latency says so), with --chunk-ms 16
    the live step; the two files agree to one 16-bit step."""
    def run(*extra):
        done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "denoise", str(NOISY), *extra],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout
    assert "latency 280.0 ms, onnx" in run("-o", str(tmp_path / "file.wav"))  # 4096 samples + 384 delay
    assert "latency 40.0 ms, onnx" in run("-o", str(tmp_path / "live.wav"), "--chunk-ms", "16")
    by_file, _ = sf.read(tmp_path / "file.wav", dtype="float32")
    by_live, _ = sf.read(tmp_path / "live.wav", dtype="float32")
    assert by_file.shape == by_live.shape
    np.testing.assert_allclose(by_file, by_live, atol=1.01 / 2**15, rtol=0)


@pytest.fixture(scope="module")
def engine_denoiser(tmp_path_factory):
    """A randomly initialised checkpoint of the denoiser that recipes/denoise/engine.yaml trains."""
    from centaurus.training import load_recipe
    from centaurus.training.checkpoint import FORMAT, VERSION, write_checkpoint
    recipe = load_recipe(ROOT / "recipes" / "denoise" / "engine.yaml", [])
    task = recipe.build_task()
    config = {"format": FORMAT, "version": VERSION, "task": task.name, "model_config": task.model_config(),
              "recipe": recipe.model_dump(mode="json")}
    return write_checkpoint(tmp_path_factory.mktemp("engine"), "untrained", weights=task.build_model().state_dict(),
                            config=config, state={}, state_json={})


@pytest.mark.slow  # ~20 s: the model is built and both steps exported
def test_export_writes_both_steps_of_the_engine_denoiser_and_they_agree(engine_denoiser):
    from centaurus.streaming.export import export_steps
    written = export_steps(engine_denoiser)
    assert [p.name for p in written] == ["stream-16ms.onnx", "stream-256ms.onnx"]
    assert export_steps(engine_denoiser, force=False) == []
    audio = _read()
    by_live = _denoised(engine_denoiser / "stream-16ms.onnx", audio)
    by_file = _denoised(engine_denoiser / "stream-256ms.onnx", audio)
    assert by_file.shape == by_live.shape == audio.shape and np.abs(by_live).max() > 1e-3
    np.testing.assert_allclose(by_file, by_live, atol=TOLERANCE, rtol=0)
