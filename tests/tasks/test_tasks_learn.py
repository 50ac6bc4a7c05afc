"""Denoising and CTC ASR train end to end on tiny generated corpora (real files on disk, real models) and beat
their baselines: the noisy input (denoising) and the empty hypothesis (ASR, CER 1.0)."""
import json

import pytest
import torch
from safetensors.torch import load_file

from centaurus.training import evaluate_checkpoint, load_model, model_info, train, validate_recipe
from tests.training.corpora import make_asr, make_denoise

HARDWARE = {"description": "2 CPU cores"}


def denoise_recipe(root, out, **trainer):
    return {"name": "tiny-denoise", "task": "denoise",
            "data": {"root": str(root), "segment_samples": 4096, "valid_count": 4},
            "model": {"channels": [8, 16], "downsample": [4, 4], "num_states": 8, "state_blocks": 2},
            "loss": {"si_sdr_weight": 0.1}, "optim": {"lr": 0.02, "ssm_lr": 0.005}, "schedule": {"warmup_steps": 3},
            "trainer": {"epochs": 6, "batch_size": 4, "log_every": 1, "checkpoint_every": 100, "out_dir": str(out),
                        **trainer},
            "expected": {"metric": "pesq_nb"}, "hardware": HARDWARE}


MASKER = {"frontend": "stft", "n_fft": 128, "hop": 32, "stem": 16, "channels": [16, 16], "downsample": [2, 1],
          "num_states": 8, "state_blocks": 2, "norm": None}


def asr_recipe(root, out, **trainer):
    return {"name": "tiny-asr", "task": "asr", "data": {"root": str(root)},
            "model": {"channels": [64, 64], "downsample": [1, 2], "num_states": 8, "state_blocks": 2,
                      "norm": "batch"},
            "optim": {"lr": 0.01, "ssm_lr": 0.005}, "schedule": {"warmup_steps": 3},
            "trainer": {"epochs": 60, "batch_size": 8, "log_every": 6, "checkpoint_every": 1000,
                        "out_dir": str(out), **trainer},
            "expected": {"metric": "cer", "value": 0.3}, "hardware": HARDWARE}


def first_last(log):
    return log[0]["loss"], sum(r["loss"] for r in log[-3:]) / 3


def test_denoise_tiny_run_learns_and_beats_noisy_input(tmp_path):
    root = make_denoise(tmp_path / "data", train=16, test=3, samples=8192)
    torch.manual_seed(0)
    result = train(validate_recipe(denoise_recipe(root, tmp_path / "run"), source="t"), device="cpu",
                   progress=False)
    first, last = first_last(result.train_log)
    assert last < 0.7 * first, (first, last)  # measured 5.0 -> 2.5
    final = result.valid_log[-1]
    # Measured: PESQ-NB 1.41 vs 1.01 noisy; SI-SDR climbs from -1.8 to 2.1 dB but stays below the noisy 5.0 dB.
    assert final["pesq_nb"] > final["noisy_pesq_nb"] + 0.2, final
    assert final["si_sdr"] > result.valid_log[0]["si_sdr"] + 2.0, result.valid_log
    report = evaluate_checkpoint(result.last_checkpoint, split="test", out_dir=tmp_path / "eval", device="cpu")
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert saved["metrics"]["examples"] == 3 and saved["metrics"]["pesq_nb"] == report["metrics"]["pesq_nb"]
    assert saved["metrics"]["pesq_nb"] > saved["metrics"]["noisy_pesq_nb"], saved["metrics"]
    assert saved["by_noise"] == {"white": saved["metrics"]}  # the log names one noise for all three files
    assert (tmp_path / "eval" / "spectrograms.png").stat().st_size > 1000
    assert model_info(result.last_checkpoint)["latency_samples"] == 4 * 4 - 1


def test_spectral_masker_tiny_run_learns_and_beats_noisy_input(tmp_path):
    root = make_denoise(tmp_path / "data", train=16, test=3, samples=8192)
    torch.manual_seed(0)
    recipe = denoise_recipe(root, tmp_path / "run")
    recipe["model"] = MASKER
    recipe["loss"].update(stft_log_weight=0, stft_power_weight=10)
    result = train(validate_recipe(recipe, source="t"), device="cpu", progress=False)
    first, last = first_last(result.train_log)
    assert last < 0.3 * first, (first, last)  # measured 4.8 -> 0.43
    final = result.valid_log[-1]
    # Measured: SI-SDR 10.3 dB vs 5.0 noisy (the waveform model above stays below the noisy input's),
    # PESQ-NB 1.24 vs 1.01.
    assert final["si_sdr"] > final["noisy_si_sdr"] + 3.0, final
    assert final["pesq_nb"] > final["noisy_pesq_nb"] + 0.1, final
    # The output lags the input by n_fft − hop = 96 samples; evaluation aligns it, or SI-SDR would collapse.
    test = evaluate_checkpoint(result.last_checkpoint, split="test", out_dir=tmp_path / "eval", device="cpu")
    assert test["metrics"]["si_sdr"] > test["metrics"]["noisy_si_sdr"] + 3.0, test["metrics"]
    assert model_info(result.last_checkpoint)["latency_samples"] == 96 + 32 * 2 - 1


def test_asr_resume_with_length_buckets_is_bit_identical(tmp_path):
    """Batches drawn from length-sorted pools (the data order resume must reproduce) on a corpus whose
    utterances run from one to nine letters."""
    root = make_asr(tmp_path / "data")

    def run(out, **kwargs):
        recipe = validate_recipe(asr_recipe(root, out, epochs=2, length_buckets=2, checkpoint_every=4, log_every=1),
                                 source="t")
        return train(recipe, device="cpu", progress=False, **kwargs)

    whole = run(tmp_path / "a")
    assert run(tmp_path / "b", stop_after=4).steps == 4
    resumed = run(tmp_path / "b", resume=True)
    assert resumed.steps == whole.steps == 12
    a, b = (load_file(str(p / "checkpoints" / "last" / "model.safetensors")) for p in (tmp_path / "a", tmp_path / "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in whole.train_log] == [r["loss"] for r in resumed.train_log]


@pytest.mark.slow  # ~35 s alone on 2 cores, ~110 s when they are shared
def test_asr_tiny_run_learns_and_beats_empty_hypothesis(tmp_path):
    root = make_asr(tmp_path / "data")
    result = train(validate_recipe(asr_recipe(root, tmp_path / "run"), source="t"), device="cpu", progress=False)
    first, last = first_last(result.train_log)
    assert last < 0.1 * first, (first, last)  # measured ~40 -> ~0.2
    assert result.best_metric < 0.7  # WER; measured 0.38
    greedy = evaluate_checkpoint(result.best_checkpoint, split="test", out_dir=tmp_path / "eval", device="cpu")
    assert greedy["metrics"]["examples"] == 8
    assert greedy["metrics"]["cer"] < 0.5, greedy  # an empty hypothesis scores CER 1.0; measured ~0.1
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["samples"][0]["ref"]
    recipe, _, model, _ = load_model(result.best_checkpoint)
    recipe.decode.beam_width = 4
    beam = recipe.build_task().evaluate(model, "test", device=torch.device("cpu"), batch_size=8)
    assert beam["metrics"]["cer"] < 0.5, beam["metrics"]
