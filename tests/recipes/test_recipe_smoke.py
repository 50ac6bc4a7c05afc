"""Every shipped recipe trains for 2 real steps on a tiny fixture corpus of its task's layout (its own model,
augmentation, optimiser, AMP and EMA settings; only data root, batch size and output folder overridden), and
its checkpoint loads back. A registry maps each task to its fixture builder, so a new recipe is covered by
dropping its YAML into recipes/<task>/."""
import math

import pytest

from centaurus.data.speech_commands import task_classes
from centaurus.training import load_model, load_recipe, train
from tests.data.test_mixing import engine_overrides
from tests.tasks.test_keyword import _write_pool
from tests.recipes.test_recipes import RECIPES
from tests.training.corpora import make_asr, make_denoise, make_kws

FIXTURES = {"kws": lambda root: make_kws(root, train=4, held_out=2),
            "denoise": lambda root: make_denoise(root, train=6, test=2, samples=8192),
            "asr": lambda root: make_asr(root, per_split={"train-clean-100": 6, "dev-clean": 2, "test-clean": 2})}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    return {task: build(tmp_path_factory.mktemp(task)) for task, build in FIXTURES.items()}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_trains_two_steps(path, corpora, tmp_path):
    task = path.parent.name
    root = corpora[task]
    overrides = [f"data.root={root}", "trainer.batch_size=2", "trainer.num_workers=0", "trainer.log_every=1",
                 f"trainer.out_dir={tmp_path / 'run'}"]
    if task == "denoise":
        overrides.append("data.valid_count=2")
    recipe = load_recipe(path)
    if task == "denoise" and recipe.data.engine is not None:  # tiny pools and real validation pairs instead
        overrides += engine_overrides(tmp_path)
    if task == "asr" and recipe.data.engine is not None:  # tiny pools with transcripts, the fixture corpus too
        overrides += [*engine_overrides(tmp_path), f"data.root={root}", f"data.corpus={root}",
                      "data.valid_split=dev-clean", "data.test_split=test-clean"]
    if task == "kws" and recipe.data.engine is not None:  # a tiny TTS pool saying every class word, tiny pools
        words = [w for w in task_classes(recipe.data.task) if not w.startswith("_")]
        overrides += [*engine_overrides(tmp_path), f"data.root={root}", "data.keyword_pools=[tts-x]",
                      f"data.negatives={root / '_background_noise_'}",
                      "data.engine.speech_pools=[{pool: tts-x}, {pool: speech-hedgewars}]"]
        _write_pool(tmp_path / "pools", "tts-x", [("x-a", word, 0.5) for word in words])
    if recipe.augment.noise_dir:
        overrides.append(f"augment.noise_dir={root / '_background_noise_'}")
    recipe = load_recipe(path, overrides)
    result = train(recipe, device="cpu", progress=False, stop_after=2)
    assert result.steps == 2 and result.stopped_early
    assert all(math.isfinite(r["loss"]) for r in result.train_log)
    _, _, model, ckpt = load_model(result.last_checkpoint)
    assert ckpt.config["step"] == 2 and ckpt.config["weights"] == ("ema" if recipe.trainer.ema_decay else "raw")
    assert sum(p.numel() for p in model.parameters()) > 0
