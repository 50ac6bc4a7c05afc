"""Fine-tuning from a shipped model starts from that model's skill, not from chance."""
import json

import pytest

from centaurus.data import SC35_WORDS
from centaurus.data.builders.kws import build_kws
from centaurus.training import resolve_checkpoint, train, validate_recipe

WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")


@pytest.mark.slow
def test_init_from_the_shipped_kws_model_starts_at_its_accuracy(tmp_path):
    shipped = resolve_checkpoint("kws-offline")
    recipe = json.loads((shipped / "config.json").read_text())["recipe"]
    # New offline TTS voices (another seed than the shipped corpus), eight of its 35 words.
    root = tmp_path / "kws"
    build_kws(root, speakers=6, seed=7, workers=1, held_out=0.34, words=WORDS)
    recipe["data"]["root"] = str(root)
    recipe["augment"]["noise_dir"] = str(root / "_background_noise_")
    recipe["trainer"].update(max_steps=1, batch_size=4, out_dir=str(tmp_path / "run"))
    scores = {}
    for name, init in (("tuned", shipped), ("scratch", None)):
        recipe["trainer"]["out_dir"] = str(tmp_path / name)
        result = train(validate_recipe(recipe, source="shipped"), device="cpu", progress=False, init=init)
        scores[name] = result.valid_log[-1]["accuracy"]
    chance = 1 / (len(SC35_WORDS) + 2)
    assert scores["tuned"] >= 0.6, scores
    assert scores["scratch"] < 0.3 and scores["tuned"] > scores["scratch"] + 0.3, scores
    assert chance < 0.05
