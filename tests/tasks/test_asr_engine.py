"""The ASR task on the mixing engine (`data.engine`), on small generated pools with transcripts: every training
item is one whole pool clip or corpus utterance with its own transcript, drawn from training groups and English
clips only, through the engine's noise; a recipe that mixes the engine with a hand-written augment section, or
names a pool without English transcripts, is refused in one line."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from centaurus.data import encode_text
from centaurus.data.librispeech import list_utterances
from centaurus.data.pools import PoolClip, write_manifest
from centaurus.errors import DatasetError, RecipeError
from centaurus.training import load_recipe
from tests.training.corpora import make_asr

SR = 16000
RECIPE = Path(__file__).parents[2] / "recipes" / "asr" / "engine.yaml"
PAUSES = 2 * int(0.25 * SR)  # the engine's pauses around a whole clip: at most this many samples in all

# (group, language, transcript as the manifest has it); hedgewars' British pack is held out by the pool split.
SPEECH = [("Default", "en", "Amazing!"), ("Default", "en", "Fire at will."), ("Pirate", "en-GB", "Yo ho, ho"),
          ("Pirate", "de", "Feuer frei"), ("Default", "en", "1 2 3"), ("British", "en", "Jolly good")]


def _tone(rng, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.01 * rng.standard_normal(t.shape)).astype("f4")


def _pools(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, rows, kind in (("speech-hedgewars", SPEECH, "speech"),
                             ("noise-wesnoth", [("ambient", "", "")] * 2, "noise")):
        folder = root / name
        folder.mkdir(parents=True)
        clips = []
        for i, (group, language, text) in enumerate(rows):
            wav = _tone(rng, 0.4 + 0.3 * i)  # every clip a different length
            sf.write(folder / f"{i}.wav", wav, SR)
            clips.append(PoolClip(f"{i}.wav", "generated", "CC0", group, language, len(wav) / SR, kind,
                                  group if kind == "noise" else "real", text))
        write_manifest(folder, clips)
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr-engine")
    return _pools(root / "pools"), make_asr(root / "corpus", per_split={"train-clean-100": 4, "test-clean": 2})


@pytest.fixture(scope="module")
def rooms(tmp_path_factory):
    return tmp_path_factory.mktemp("rooms")  # the RIR bank is simulated once for the module


def _recipe(corpora, rooms, tmp_path, *extra):
    pools, corpus = corpora
    return load_recipe(RECIPE, [
        f"data.root={corpus}", f"data.corpus={corpus}", f"data.engine.pool_root={pools}",
        "data.engine.speech_pools=[{pool: speech-hedgewars, weight: 1.0}]",
        "data.engine.noise_pools=[{pool: noise-wesnoth}]", "data.corpus_weight=1.0",
        "data.engine.noise={none_prob: 0.0, snr_db: [0.0, 25.0]}", "data.engine.voice={speed_prob: 0.0}",
        "data.engine.device={codec_prob: 0.0}", "data.engine.examples_per_epoch=40",
        "data.engine.room.bank=2", f"data.engine.room.cache_dir={rooms}",
        f"trainer.out_dir={tmp_path / 'run'}", *extra])


def test_engine_items_are_whole_training_clips_with_their_transcripts(corpora, rooms, tmp_path):
    _, corpus = corpora
    task = _recipe(corpora, rooms, tmp_path).build_task()
    train = task.dataset("train", train=True)
    pool = {"amazing": 0.4, "fire at will": 0.7, "yo ho ho": 1.0}  # English training clips: seconds
    utterances = {u.text: sf.info(u.path).frames for u in list_utterances(corpus, split="train-clean-100")}
    seen = set()
    for index in range(40):
        engine_item = train.engine[(1, index)]
        wav, text = train[(1, index)]
        seen.add(text)
        clean = pool[text] * SR if text in pool else utterances[text]
        # The whole clip between pauses, noise added (none_prob 0), transcript as LibriSpeech normalises it.
        assert clean <= wav.shape[0] <= clean + PAUSES, text
        assert engine_item.snr_db is not None and 0 <= engine_item.snr_db <= 25
        group = engine_item.speech_groups[0]
        assert group in {"speech-hedgewars/Default", "speech-hedgewars/Pirate"} or group.startswith("corpus/")
    # German, digits-only and the held-out British pack never appear; every English training clip does.
    assert set(pool) <= seen <= set(pool) | set(utterances) and len(seen & set(utterances)) >= 2
    batch = task.collate([train[(0, i)] for i in range(3)])
    lengths = batch["target_lengths"].tolist()
    assert batch["targets"].tolist() == [c for t in batch["text"] for c in encode_text(t)]
    assert lengths == [len(t) for t in batch["text"]] and batch["wav"].shape[0] == 3
    assert batch["frames"].tolist() == [task.output_frames(train[(0, i)][0].shape[0]) for i in range(3)]
    # Validation reads the real set in data.root, untouched.
    assert [t for _, t in task.dataset("valid", train=False)] == [
        u.text for u in list_utterances(corpus, split="test-clean")]


def test_speed_perturbation_keeps_the_transcript_and_changes_the_length(corpora, rooms, tmp_path):
    """Speed 0.8 slows the utterance (with its pauses) to 1/0.8 of its samples; the text goes with it."""
    pools, corpus = corpora
    task = _recipe(corpora, rooms, tmp_path, "data.engine.voice={speed_prob: 1.0, speed: [0.8, 0.8]}").build_task()
    engine = task.dataset("train", train=True).engine
    texts = {u.utt_id: u.text for u in list_utterances(corpus, split="train-clean-100")}
    for index in range(4):
        example = engine[(0, index)]
        (clip,) = example.speech_ids
        pool, name = clip.split("/")
        path = pools / pool / name if pool != "corpus" else next(corpus.rglob(f"{name}.flac"))
        frames = sf.info(path).frames
        assert frames / 0.8 - 2 <= example.noisy.shape[0] <= (frames + PAUSES) / 0.8 + 2
        assert example.text == (texts[name] if pool == "corpus" else
                                {"0": "amazing", "1": "fire at will", "2": "yo ho ho"}[name[0]])


def test_engine_recipe_mistakes_are_one_line(corpora, rooms, tmp_path):
    with pytest.raises(RecipeError, match="augment: the mixing engine"):
        _recipe(corpora, rooms, tmp_path, "augment.gain_prob=0.5").build_task()
    task = _recipe(corpora, rooms, tmp_path, "data.engine.speech_pools=[{pool: noise-wesnoth}]").build_task()
    with pytest.raises(DatasetError, match="noise-wesnoth.*no English training clips with a transcript"):
        task.dataset("train", train=True)
    task = _recipe(corpora, rooms, tmp_path, "data.engine.speech_pools=[{pool: speech-nowhere}]").build_task()
    with pytest.raises(DatasetError, match="speech-nowhere.*not found"):
        task.dataset("train", train=True)
