"""Recipe paths are taken from the recipe's folder and stored absolute, so a run evaluates from any working folder;
`--data` re-roots it; overriding data.root moves the noise folder under it; reports stay out of checkpoints."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from centaurus.errors import RecipeError
from centaurus.training import load_model, load_recipe, train
from centaurus.training.evaluate import report_dir
from centaurus.training.pretrained import model_label, shipped_models
from tests.training.corpora import make_kws


def _cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def _recipe_file(folder, **data):
    """A tiny KWS recipe in `folder`, its paths relative to that folder."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = {"name": "tiny-kws", "task": "kws", "data": {"root": "../data", "task": "10", **data},
              "model": {"channels": [16, 16], "downsample": [2, 2], "num_states": 8, "state_blocks": 2},
              "augment": {"noise_dir": "../data/_background_noise_", "noise_prob": 0.5},
              "optim": {"lr": 0.02, "ssm_lr": 0.01}, "schedule": {"warmup_steps": 3},
              "trainer": {"epochs": 2, "batch_size": 8, "checkpoint_every": 100, "out_dir": "../runs/tiny"},
              "expected": {"metric": "accuracy"}, "hardware": {"description": "2 CPU cores"}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """tmp/{data, recipes/tiny.yaml, runs/tiny} trained from an unrelated working folder."""
    tmp = tmp_path_factory.mktemp("project")
    make_kws(tmp / "data", train=4, held_out=2)
    path = _recipe_file(tmp / "recipes")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    old = os.getcwd()
    os.chdir(elsewhere)
    try:
        result = train(load_recipe(path), device="cpu", progress=False)
    finally:
        os.chdir(old)
    return tmp, result


def test_relative_paths_come_from_the_recipes_folder_and_overrides_from_the_working_folder(tmp_path, monkeypatch):
    make_kws(tmp_path / "data", train=1, held_out=1)
    path = _recipe_file(tmp_path / "recipes")
    monkeypatch.chdir(tmp_path / "recipes")  # not the recipe's folder's parent, where ../data would point
    (tmp_path / "recipes" / "mine" / "_background_noise_").mkdir(parents=True)
    recipe = load_recipe(path)
    assert recipe.data.root == str(tmp_path / "data")
    assert recipe.augment.noise_dir == str(tmp_path / "data" / "_background_noise_")
    assert recipe.trainer.out_dir == str(tmp_path / "runs" / "tiny")
    negatives = load_recipe(path, ["data.negatives=../negatives"]).data.negatives  # an override: from the cwd
    assert negatives == str(tmp_path / "negatives")
    moved = load_recipe(path, ["data.root=mine"])
    assert moved.data.root == str(tmp_path / "recipes" / "mine")
    assert moved.augment.noise_dir == str(tmp_path / "recipes" / "mine" / "_background_noise_")
    kept = load_recipe(path, ["data.root=mine", f"augment.noise_dir={tmp_path / 'data'}"])
    assert kept.augment.noise_dir == str(tmp_path / "data")


def test_a_noise_folder_that_did_not_move_with_the_root_is_a_one_line_error(tmp_path):
    make_kws(tmp_path / "data", train=1, held_out=1)
    path = _recipe_file(tmp_path / "recipes")
    (tmp_path / "copy").mkdir()
    with pytest.raises(RecipeError, match=r"augment.noise_dir .*copy/_background_noise_ not found \(it lay under "
                                          r"data.root and moved with it from .*data; set augment.noise_dir too\)"):
        load_recipe(path, [f"data.root={tmp_path / 'copy'}"])
    done = _cli("train", path, "--set", "data.root=copy", "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and "augment.noise_dir" in done.stderr and "moved with it" in done.stderr


def test_a_run_evaluates_from_another_working_folder_into_its_eval_folder(project, tmp_path):
    tmp, result = project
    assert result.out_dir == tmp / "runs" / "tiny"
    _, _, _, ckpt = load_model(result.best_checkpoint)
    stored = ckpt.config["recipe"]
    assert stored["data"]["root"] == str(tmp / "data") and os.path.isabs(stored["augment"]["noise_dir"])
    done = _cli("eval", result.best_checkpoint, "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    step = result.best_checkpoint.resolve().name
    report = tmp / "runs" / "tiny" / "eval" / f"{step}-test" / "report.json"
    assert f"report: {report}" in done.stdout
    assert json.loads(report.read_text())["data_root"] == str(tmp / "data")
    assert not list((tmp / "runs" / "tiny" / "checkpoints").rglob("report.json"))


def test_eval_data_re_roots_the_run(project, tmp_path):
    tmp, result = project
    shutil.copytree(tmp / "data", tmp_path / "moved")
    done = _cli("eval", result.best_checkpoint, "--data", "moved", "--split", "valid", "--out", "reports",
                "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["data_root"] == str(tmp_path / "moved") and report["split"] == "valid"


def test_report_folders_sit_beside_the_checkpoints_and_shipped_models_report_here(tmp_path):
    step = tmp_path / "runs" / "x" / "checkpoints" / "step-00000010"
    step.mkdir(parents=True)
    (step.parent / "best").symlink_to(step.name)
    assert report_dir(step.parent / "best", "test") == tmp_path / "runs" / "x" / "eval" / "step-00000010-test"
    loose = tmp_path / "models" / "mine"
    loose.mkdir(parents=True)
    assert report_dir(loose, "valid") == tmp_path / "models" / "eval" / "mine-valid"
    assert report_dir(shipped_models()["kws-offline"], "test") == type(tmp_path)("eval-kws-offline-test")


def test_tables_name_a_runs_checkpoint_by_its_run():
    """Two runs' best checkpoints side by side in a benchmark get two names (they once shared one row)."""
    assert model_label("runs/denoise-clean/checkpoints/best") == "denoise-clean/best"
    assert model_label("runs/denoise-engine/checkpoints/best") == "denoise-engine/best"
    assert model_label("denoise-offline") == "denoise-offline"
    assert model_label("models/hey-computer") == "hey-computer"
