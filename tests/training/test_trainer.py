"""The generic trainer on a tiny tone corpus: it learns, resumes bit-identically, evaluates, and the CLI
reports bad recipes and checkpoints in one line."""
import json
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from centaurus.errors import CheckpointError
from centaurus.training import evaluate_checkpoint, load_model, lr_factor, model_info, train, validate_recipe
from centaurus.training.distributed import DistInfo
from centaurus.training.trainer import epoch_batches
from tests.training.corpora import make_kws


def kws_recipe(root, out, **trainer):
    return {"name": "tiny-kws", "task": "kws", "data": {"root": str(root), "task": "10"},
            "model": {"channels": [16, 16], "downsample": [2, 2], "num_states": 8, "state_blocks": 2},
            "optim": {"lr": 0.02, "ssm_lr": 0.01}, "schedule": {"warmup_steps": 3},
            "trainer": {"epochs": 8, "batch_size": 8, "log_every": 1, "checkpoint_every": 4, "out_dir": str(out),
                        **trainer},
            "expected": {"metric": "accuracy", "value": 0.6}, "hardware": {"description": "2 CPU cores"}}


@pytest.fixture(scope="module")
def kws_root(tmp_path_factory):
    return make_kws(tmp_path_factory.mktemp("kws"), train=16)


def test_lr_schedule_warms_up_then_decays():
    factors = [lr_factor(s, total=100, warmup=10, min_ratio=0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0
    assert factors[10] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


def _padding(batches, lengths) -> float:
    """The fraction of a padded batch tensor that is padding."""
    sizes = [[lengths[i] for _, i in b] for b in batches]
    return sum(max(s) * len(s) - sum(s) for s in sizes) / sum(max(s) * len(s) for s in sizes)


def test_length_buckets_batch_items_of_like_length_in_a_shuffled_order():
    lengths = torch.randint(16000, 128000, (400,), generator=torch.Generator().manual_seed(0)).tolist()
    def batches(pool, epoch=0):
        return epoch_batches(400, batch_size=16, seed=0, epoch=epoch, dist=DistInfo(), lengths=lengths, pool=pool)

    plain, small, whole = batches(0), batches(5), batches(25)
    assert sorted(k for b in whole for k in b) == sorted(k for b in plain for k in b) == [(0, i) for i in range(400)]
    # measured 0.42, 0.13 (pools of 80 items span a fifth of the lengths each), 0.03
    assert _padding(plain, lengths) > 0.3 > _padding(small, lengths) > 0.05 > _padding(whole, lengths)
    longest = [max(lengths[i] for _, i in b) for b in whole]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    assert whole == batches(25) and whole != batches(25, epoch=1)


def test_kws_tiny_run_learns_and_evaluates(kws_root, tmp_path):
    result = train(validate_recipe(kws_recipe(kws_root, tmp_path / "run"), source="t"), device="cpu", progress=False)
    first, last = result.train_log[0]["loss"], sum(r["loss"] for r in result.train_log[-3:]) / 3
    assert last < 0.6 * first, (first, last)
    assert result.best_metric > 0.6  # chance on 3 balanced classes is 1/3
    assert (tmp_path / "run" / "train_log.csv").read_text().count("\n") == len(result.train_log) + 1
    assert (tmp_path / "run" / "plots" / "loss.png").stat().st_size > 1000
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    report = evaluate_checkpoint(result.best_checkpoint, split="test", out_dir=tmp_path / "eval", device="cpu")
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert saved["metrics"]["accuracy"] == report["metrics"]["accuracy"] > 1 / 3
    assert saved["metrics"]["false_accepts_per_hour"] >= 0
    assert len(saved["confusion"]) == 10 and sum(map(sum, saved["confusion"])) == 12
    assert (tmp_path / "eval" / "confusion.png").is_file()
    facts = model_info(result.best_checkpoint)
    assert facts["parameters"] > 1000 and facts["macs_per_second"] > 0
    assert facts["latency_samples"] == 399 + (4 - 1) * 160


def test_resume_is_bit_identical(kws_root, tmp_path):
    # 48 clips / 8 = 6 steps per epoch; stop mid-epoch 2 after a checkpoint at step 8.
    def make(out):
        return validate_recipe(kws_recipe(kws_root, out, epochs=3), source="t")
    whole = train(make(tmp_path / "a"), device="cpu", progress=False)
    first = train(make(tmp_path / "b"), device="cpu", progress=False, stop_after=8)
    assert first.stopped_early and first.steps == 8
    resumed = train(make(tmp_path / "b"), device="cpu", progress=False, resume=True)
    assert resumed.steps == whole.steps == 18
    for name in ("model.safetensors", "train_state.safetensors"):
        a, b = (load_file(str(p / "checkpoints" / "last" / name)) for p in (tmp_path / "a", tmp_path / "b"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert [r["loss"] for r in whole.train_log] == [r["loss"] for r in resumed.train_log]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *map(str, args)], capture_output=True,
                          text=True, check=False)


def _one_line_error(proc, expected: str):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and expected in proc.stderr, proc.stderr


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_bad_recipes_are_one_line_errors(kws_root, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(kws_recipe(kws_root, tmp_path / "run")))
    _one_line_error(_cli("train", path, "--set", "trainer.epochs=three"),
                    f"{path}: trainer.epochs: Input should be a valid integer (got 'three')")
    _one_line_error(_cli("train", path, "--set", "trainer.epoch=3"), f"{path}: unknown key trainer.epoch")
    _one_line_error(_cli("train", path, "--set", "optim.lr=[1"), f"{path}: override optim.lr: value '[1' is not valid")
    _one_line_error(_cli("train", tmp_path / "none.yaml"), "none.yaml: recipe file not found")
    _one_line_error(_cli("train", path, "--set", "trainer.length_buckets=4"),
                    "trainer.length_buckets: the kws training set does not know its items' lengths")


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_bad_checkpoints_are_clear_errors(kws_root, tmp_path):
    result = train(validate_recipe(kws_recipe(kws_root, tmp_path / "run", epochs=1), source="t"), device="cpu",
                   progress=False)
    good = result.last_checkpoint.resolve()
    _, _, model, _ = load_model(good)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((good / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"\x00" * 64)
    _one_line_error(_cli("info", bad), "model.safetensors: not a readable safetensors file")
    (bad / "config.json").write_text("{not json")
    _one_line_error(_cli("eval", bad, "--data", kws_root), "config.json: not valid JSON")
    _one_line_error(_cli("info", tmp_path / "missing"), "missing: neither a checkpoint folder nor a shipped model")
    config = json.loads((good / "config.json").read_text())
    del config["model_config"]["classifier"]["dt_max"]  # written before the field existed: its default applies
    (good / "config.json").write_text(json.dumps(config))
    load_model(good)
    config["model_config"]["classifier"]["channels"] = [32, 32]
    (good / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="model_config disagrees"):
        load_model(good)
    assert sum(p.numel() for p in model.parameters()) > 0
