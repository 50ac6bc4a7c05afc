"""Training a user can trust, with real processes on the tiny tone corpus: an earlier run is never overwritten
unasked, Ctrl-C checkpoints and resumes exactly, budgets end or pause a run, early stopping, fine-tuning."""
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

from centaurus.errors import CheckpointError
from centaurus.training import lr_factor, train, validate_recipe
from tests.training.corpora import make_kws

# 24 training clips / batch 4 = 6 steps per epoch; 4 epochs reach 0.67 validation accuracy (chance 1/3).
PER_EPOCH = 6


def recipe(root, out, **trainer):
    return {"name": "trust", "task": "kws", "data": {"root": str(root), "task": "10"},
            "model": {"channels": [16, 16], "downsample": [2, 2], "num_states": 8, "state_blocks": 2},
            "optim": {"lr": 0.05, "ssm_lr": 0.025}, "schedule": {"warmup_steps": 2},
            "trainer": {"epochs": 4, "batch_size": 4, "log_every": 1, "checkpoint_every": 1000, "out_dir": str(out),
                        **trainer},
            "expected": {"metric": "accuracy"}, "hardware": {"description": "2 CPU cores"}}


def run(root, out, *, resume=False, init=None, **trainer):
    return train(validate_recipe(recipe(root, out, **trainer), source="t"), device="cpu", progress=False,
                 resume=resume, init=init)


def write_recipe(root, out, path, **trainer):
    path.write_text(yaml.safe_dump(recipe(root, out, **trainer)))
    return path


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *map(str, args)], capture_output=True,
                          text=True, check=False, **kwargs)


def weights(out, name="model.safetensors"):
    return load_file(str(out / "checkpoints" / "last" / name))


def assert_same(a, b):
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_kws(tmp_path_factory.mktemp("kws"), train=8)


@pytest.fixture(scope="module")
def whole(root, tmp_path_factory):
    """The uninterrupted 4-epoch run that paused and interrupted runs must end identical to."""
    out = tmp_path_factory.mktemp("whole")
    result = run(root, out)
    assert result.steps == 4 * PER_EPOCH and result.stop_reason is None and result.best_metric > 0.6
    return out, result


@pytest.mark.slow  # two CLI processes: ~25 s alone, ~60 s on shared cores
def test_sigint_checkpoints_mid_epoch_and_resume_ends_identical(root, whole, tmp_path):
    out = tmp_path / "run"
    path = write_recipe(root, out, tmp_path / "r.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "centaurus_cli.main", "train", str(path), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("epoch 1/4  step 6/24  loss "), first
    log = out / "train_log.csv"
    while not any(row.startswith("7,") for row in log.read_text().splitlines()):  # mid-epoch 2
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    step = int(err.split("interrupted at step ")[1].split(";")[0])
    assert 7 <= step < 4 * PER_EPOCH and step % PER_EPOCH, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"interrupted at step {step}; checkpoint saved; resume with: centaurus train {path} "), err
    assert (out / "checkpoints" / "last").resolve().name == f"step-{step:08d}"
    command = shlex.split(line.split("resume with: ")[1])
    assert command[-3:] == ["--resume", "--out", str(out)]
    resumed = cli(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from step {step} (epoch {step / PER_EPOCH:.2f})" in resumed.stdout
    for name in ("model.safetensors", "train_state.safetensors"):
        assert_same(weights(whole[0], name), weights(out, name))
    # the best line, then (for a KWS run) where its ONNX steps went
    assert f"best accuracy {whole[1].best_metric:.4f} at step {whole[1].best_step}: {out}/checkpoints/best" in \
        resumed.stdout.strip().splitlines()


def files(out):
    return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_an_earlier_run_is_refused_and_force_starts_afresh(root, whole, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(whole[0], out, symlinks=True)
    before = files(out)
    with pytest.raises(CheckpointError, match="holds an earlier run .*add --resume to continue it, or --force"):
        run(root, out, max_steps=2, epochs=1)
    assert files(out) == before
    old_events = {p.name for p in (out / "tensorboard").iterdir()}
    train(validate_recipe(recipe(root, out, max_steps=2, epochs=1), source="t"), device="cpu", progress=False,
          force=True)
    assert [p.name for p in (out / "checkpoints").glob("step-*")] == ["step-00000002"]
    assert not old_events & {p.name for p in (out / "tensorboard").iterdir()}
    rows = (out / "train_log.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[-1].startswith("2,")  # header, steps 1 and 2 of the new run only
    assert (out / "valid_log.csv").read_text().count("\n") == 2  # header and step 2


@pytest.mark.slow  # one CLI process: ~10 s alone, ~25 s on shared cores
def test_the_cli_refuses_an_earlier_run_in_one_line(root, whole, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(whole[0], out, symlinks=True)
    before = files(out)
    refused = cli("train", write_recipe(root, out, tmp_path / "r.yaml"), "--device", "cpu")
    assert refused.returncode == 2 and refused.stderr == (
        f"error: {out}: holds an earlier run (checkpoints, tensorboard, plots, train_log.csv, valid_log.csv); "
        "add --resume to continue it, or --force to delete it and start afresh\n")
    assert files(out) == before


def test_max_steps_ends_the_run_mid_epoch_validated_with_a_shorter_schedule(root, tmp_path, capsys):
    result = run(root, tmp_path / "run", max_steps=8, epochs=9)
    assert result.steps == result.total_steps == 8 and result.stop_reason is None
    assert [r["step"] for r in result.valid_log] == [6, 8]
    assert (tmp_path / "run" / "checkpoints" / "last").resolve().name == "step-00000008"
    # The cosine ends at step 8, not at the 54 steps of 9 epochs.
    assert [r["lr"] for r in result.train_log] == [0.05 * lr_factor(s, total=8, warmup=2, min_ratio=0.01)
                                                  for s in range(8)]
    assert "epoch 2/2  step 8/8  loss " in capsys.readouterr().out
    run(root, tmp_path / "warm", max_steps=2)
    assert "warning: schedule.warmup_steps 2 >= the run's 2 steps" in capsys.readouterr().err


def test_max_minutes_pauses_and_resume_ends_identical(root, whole, tmp_path):
    out = tmp_path / "run"
    paused = run(root, out, max_minutes=1e-6)  # pauses after its first step
    assert paused.steps == 1 and paused.stop_reason == "max_minutes" and paused.stopped_early
    assert (out / "checkpoints" / "last").resolve().name == "step-00000001" and paused.valid_log == []
    resumed = run(root, out, resume=True)
    assert resumed.steps == 4 * PER_EPOCH and resumed.valid_log == whole[1].valid_log
    assert_same(weights(whole[0]), weights(out))


def test_early_stop_after_patience_validations_without_improvement(root, whole, tmp_path):
    # A frozen backbone (its BatchNorm statistics too) and a head at rate 0: no validation after the first improves.
    recipe_ = recipe(root, tmp_path / "run", epochs=9, early_stop_patience=2, freeze="backbone")
    recipe_["optim"] = {"lr": 0.0, "ssm_lr": 0.0}
    result = train(validate_recipe(recipe_, source="t"), device="cpu", progress=False)
    assert result.stop_reason == "early_stop" and result.steps == 3 * PER_EPOCH
    assert len(result.valid_log) == 3 and result.best_step == PER_EPOCH


def test_init_starts_from_the_trained_loss_and_checks_the_architecture(root, whole, tmp_path):
    best = whole[0] / "checkpoints" / "best"
    tuned = run(root, tmp_path / "run", init=best, max_steps=1)
    fresh = run(root, tmp_path / "fresh", max_steps=1)
    # Step 1's loss is the starting model's: measured 2.31 from scratch (chance: ln 10), 1.07 from the checkpoint.
    assert tuned.train_log[0]["loss"] < 0.6 * fresh.train_log[0]["loss"]
    assert tuned.valid_log[0]["accuracy"] > 0.6 > 1 / 3
    other = recipe(root, tmp_path / "other")
    other["model"]["num_states"] = 4
    with pytest.raises(CheckpointError, match=r"architecture differs from the recipe's \(model.classifier.num_states: "
                                              r"8 in the checkpoint, 4 in the recipe\)"):
        train(validate_recipe(other, source="t"), device="cpu", progress=False, init=best)


@pytest.mark.slow  # two CLI processes: ~20 s alone, ~50 s on shared cores
def test_init_starts_from_the_checkpoint_and_freeze_trains_only_the_head(root, whole, tmp_path):
    best = whole[0] / "checkpoints" / "best"
    path = write_recipe(root, tmp_path / "run", tmp_path / "r.yaml", max_steps=2, freeze="backbone")
    tuned = cli("train", path, "--device", "cpu", "--init", best)
    assert tuned.returncode == 0, tuned.stderr
    log = float((tmp_path / "run" / "train_log.csv").read_text().splitlines()[1].split(",")[2])  # step 1's loss
    fresh = run(root, tmp_path / "fresh", max_steps=1)
    start = whole[1].train_log[-1]["loss"]  # the trained model's last training loss
    assert log < 0.5 * fresh.train_log[0]["loss"] and log < 1.5 * start, (log, start, fresh.train_log[0]["loss"])
    before, after = load_file(str(best / "model.safetensors")), weights(tmp_path / "run")
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(".head." in k for k in moved), moved
    wrong = cli("train", path, "--device", "cpu", "--init", best, "--set", "model.channels=[8, 8]",
                "--out", tmp_path / "other")
    assert wrong.returncode == 2 and wrong.stderr == (
        f"error: --init {best}: its architecture differs from the recipe's (model.classifier.channels: [16, 16] "
        "in the checkpoint, [8, 8] in the recipe); make the recipe's model section match it\n")
