"""Folders at full speed: `--jobs 2` writes what `--jobs 1` writes; files batched one shot equal each file's own
one-shot enhancement (on the CPU here, on a GPU through the CLI with `pytest -m cuda`)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SAMPLES = Path(__file__).parents[2] / "pretrained" / "samples"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def _folder(root: Path) -> list[Path]:
    """Three recordings of other lengths, rates and channel counts."""
    x, _ = sf.read(SAMPLES / "noisy_speech.flac", dtype="float32")
    root.mkdir()
    sf.write(root / "a.wav", x[:16000], 16000)
    sf.write(root / "b.flac", np.stack([x[:20000], np.roll(x, 3000)[:20000]], axis=1), 22050)
    sf.write(root / "c.wav", x[5000:29000], 8000)
    return sorted(root.iterdir())


def test_two_jobs_write_what_one_job_writes(tmp_path):
    sources = _folder(tmp_path / "in")
    for jobs in ("1", "2"):
        done = _cli("denoise", str(tmp_path / "in"), "-o", str(tmp_path / jobs), "--jobs", jobs)
        assert done.returncode == 0, done.stderr
        assert "3 of 3 files in" in done.stdout and f"with {jobs} job(s)" in done.stdout
    for source in sources:
        name = f"{source.stem}.denoised.wav"
        one, two = (sf.read(tmp_path / jobs / name, dtype="float32") for jobs in ("1", "2"))
        assert one[1] == two[1] == sf.info(source).samplerate and np.abs(one[0]).max() > 0.01
        np.testing.assert_array_equal(one[0], two[0])


@pytest.mark.slow  # ~95 s on a loaded 2-core machine: three processes load the torch spotter
def test_kws_detect_with_two_jobs_prints_what_one_job_prints(tmp_path):
    files = []
    for i in range(3):  # the sample with the words shifted, so each file differs
        x, rate = sf.read(SAMPLES / "keywords.flac", dtype="float32")
        files.append(tmp_path / f"k{i}.wav")
        sf.write(files[-1], np.concatenate([np.zeros(4000 * i, dtype=np.float32), x]), rate)
    one, two = (_cli("kws", "detect", *map(str, files), "--jobs", jobs) for jobs in ("1", "2"))
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert one.stdout == two.stdout
    assert [line.split(":")[0] for line in one.stdout.splitlines() if "detection(s)" in line] == list(map(str, files))


def _one_shot_batches(device: str):
    from centaurus.streaming.folders import enhance_batches
    from centaurus.training import load_model, resolve_checkpoint
    _, task, network, _ = load_model(resolve_checkpoint("denoise-offline"))
    network = network.to(device).eval()
    rng = np.random.default_rng(0)
    signals = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 3001, 9000, 16000, 777)]
    batched = enhance_batches(task, network, signals, device=device, max_samples=3 * 16100)
    alone = [task.enhance(network, torch.from_numpy(x), device=device).numpy() for x in signals]
    return batched, alone


def test_files_batched_one_shot_equal_each_files_own_enhancement():
    """Padding at the end of a shorter file cannot reach back into it: the model is causal."""
    batched, alone = _one_shot_batches("cpu")
    for got, want in zip(batched, alone):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_denoise_folder_on_cuda_is_batched_and_matches_the_cpu(tmp_path):
    batched, alone = _one_shot_batches("cuda")
    for got, want in zip(batched, alone):
        np.testing.assert_allclose(got, want, atol=1e-4)
    sources = _folder(tmp_path / "in")
    on_gpu = _cli("denoise", str(tmp_path / "in"), "-o", str(tmp_path / "gpu"), "--device", "cuda",
                  "--engine", "torch", "--channels", "each")
    assert on_gpu.returncode == 0, on_gpu.stderr
    assert on_gpu.stdout.count("one shot in a batch on cuda") == 3
    on_cpu = _cli("denoise", str(tmp_path / "in"), "-o", str(tmp_path / "cpu"), "--engine", "torch",
                  "--channels", "each", "--jobs", "1")
    assert on_cpu.returncode == 0, on_cpu.stderr
    for source in sources:
        name = f"{source.stem}.denoised.wav"
        gpu, rate = sf.read(tmp_path / "gpu" / name, dtype="float32")
        cpu, _ = sf.read(tmp_path / "cpu" / name, dtype="float32")
        info = sf.info(source)
        assert rate == info.samplerate and gpu.shape == cpu.shape and len(gpu) == info.frames
        # one shot on the GPU against the streamed CPU: float summation order and the resampler's edges
        np.testing.assert_allclose(gpu[100:-100], cpu[100:-100], atol=3e-3)
