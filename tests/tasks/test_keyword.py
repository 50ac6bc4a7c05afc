"""Custom keywords: the near-miss generator, and KWS training data drawn by the mixing engine (labels, the
keyword pools, held-out voices and the pools' held-out groups)."""
import numpy as np
import pytest
import soundfile as sf

from centaurus.data.keyword import class_name, near_misses, normalise
from centaurus.data.mixing import EngineSpec
from centaurus.data.pools import PoolClip, write_manifest
from centaurus.errors import DatasetError
from centaurus.tasks import AugmentSpec, KWSData, KWSLoss, KWSModel, KWSTask
from centaurus.tasks.kws import engine_clip_sets

SR = 16000


def test_near_misses_are_close_to_the_phrase_but_never_it():
    single = near_misses("incoming", count=24)
    assert 16 <= len(single) <= 24 and len(set(single)) == len(single)
    assert not [w for w in single if "incoming" in w]  # never the word itself, nor the word with a sound added
    assert len(near_misses("marvin", count=12)) == 12
    assert {"oncoming", "coming", "income"} <= set(single)  # a vowel swapped, a tail, a word sharing letters
    assert all(w[:2] in ("in", "on", "an", "en", "un") or w.endswith(("ing", "ion", "er", "ed")) or w in
               ("income", "inco") or "incom" in w for w in single), single  # every one shares a part
    pair = near_misses("Hey computer!", count=40)
    assert "hey computer" not in pair
    assert {"hey", "computer"} <= set(pair)  # prefix and tail
    swapped = [p for p in pair if len(p.split()) == 2 and p != "computer hey"]
    assert swapped and all(sum(a != b for a, b in zip(p.split(), ("hey", "computer"))) == 1 for p in swapped)
    assert near_misses("incoming", seed=3) == near_misses("incoming", seed=3)


def test_class_names_and_text_normalisation():
    assert class_name("Hey, Computer") == "hey-computer"
    assert normalise("Take-cover!") == normalise("take cover.") == "take cover"
    with pytest.raises(DatasetError, match="no letters"):
        class_name("?!")


def _write_pool(root, name, rows, kind="speech"):
    folder = root / name
    folder.mkdir(parents=True)
    clips = []
    for i, (group, text, seconds) in enumerate(rows):
        path = f"{group}/{i:03d}.wav"
        (folder / group).mkdir(exist_ok=True)
        sf.write(folder / path, (0.1 * np.random.default_rng(i).standard_normal(int(SR * seconds))).astype("f4"), SR)
        clips.append(PoolClip(path, "generated", "CC0", group, "en" if kind == "speech" else "", seconds, kind,
                              group if kind == "noise" else "tts", text))
    write_manifest(folder, clips)


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    """tts-x: voices a, b, held (the test holds it out) say "hello", "hey there" and other words; a long take
    of "hello"; speech-hedgewars: training pack Default says "hello" and "ouch", held-out pack British too."""
    root = tmp_path_factory.mktemp("pools")
    _write_pool(root, "tts-x", [(v, t, 0.5) for v in ("x-a", "x-b", "x-held")
                                for t in ("hello", "Yes.", "hey there", "well hello there")] +
                [("x-a", "hello", 1.4)])
    _write_pool(root, "speech-hedgewars", [(g, t, 0.6) for g in ("Default", "British") for t in ("hello", "ouch")])
    _write_pool(root, "noise-wesnoth", [(f, "", 1.2) for f in ("ambient", "music")], kind="noise")
    return root


def _spec(pools, tmp_path) -> EngineSpec:
    off = {"room": {"prob": 0.0, "noise_prob": 0.0, "cache_dir": str(tmp_path / "rooms")},
           "device": {"codec_prob": 0.0},
           "voice": {"speed_prob": 0.0, "pitch_prob": 0.0, "vtlp_prob": 0.0, "formant_prob": 0.0}}
    return EngineSpec.model_validate({"pool_root": str(pools), "examples_per_epoch": 64,
                                      "speech_pools": [{"pool": "tts-x"}, {"pool": "speech-hedgewars"}],
                                      "noise_pools": [{"pool": "noise-wesnoth"}], **off})


def test_engine_clip_sets_label_each_clip_and_honour_every_hold_out(pools, tmp_path):
    classes = ("_silence_", "_unknown_", "hello", "yes")
    sets = {s.name: s for s in engine_clip_sets(_spec(pools, tmp_path), classes, keyword_pools=["tts-x"],
                                                exclude_groups=["tts-x/x-held"], unknown=0.3, silence=0.1)}
    ids = {name: {c.id.split("/", 1)[1].rsplit("/", 1)[0] + ":" + c.text for c in s.clips}
           for name, s in sets.items()}
    # Only the keyword pool's short takes, never the held-out voice nor the 1.4 s take.
    assert ids["hello"] == {"x-a:hello", "x-b:hello"}
    assert all(c.label == 2 and c.frames <= SR for c in sets["hello"].clips)
    assert ids["yes"] == {"x-a:Yes.", "x-b:Yes."} and {c.label for c in sets["yes"].clips} == {3}
    # "hey there" is unknown; "well hello there" holds the keyword, and a real "hello" is outside the keyword
    # pools: neither is used. The held-out pack British (pool split) never appears.
    assert ids["_unknown_"] == {"x-a:hey there", "x-b:hey there", "Default:ouch"}
    assert {c.label for c in sets["_unknown_"].clips} == {1}
    assert {c.group for c in sets["_silence_"].clips} == {"noise-wesnoth/ambient"}  # music is held out
    assert {c.label for c in sets["_silence_"].clips} == {0}
    weights = {name: s.weight for name, s in sets.items()}
    assert weights == pytest.approx({"hello": 0.3, "yes": 0.3, "_unknown_": 0.3, "_silence_": 0.1})


def test_a_keyword_nobody_says_is_one_line(pools, tmp_path):
    with pytest.raises(DatasetError, match="'goodbye'"):
        engine_clip_sets(_spec(pools, tmp_path), ("_unknown_", "goodbye"))


def test_kws_task_trains_on_engine_examples_with_their_labels(pools, tmp_path):
    root = tmp_path / "valid"
    for word in ("_silence_", "_unknown_", "hello"):
        (root / word).mkdir(parents=True)
    data = KWSData(root=str(root), task="folders", engine=_spec(pools, tmp_path), keyword_pools=["tts-x"],
                   exclude_groups=["tts-x/x-held"], engine_unknown=0.4, engine_silence=0.2)
    task = KWSTask(data=data, model=KWSModel(), loss=KWSLoss(), augment=AugmentSpec(), seed=0)
    train = task.dataset("train", train=True)
    assert len(train) == 64
    examples = [train.engine[(1, i)] for i in range(64)]
    labels = [ex.label for ex in examples]
    assert set(labels) == {0, 1, 2} and all(ex.noisy.shape == (SR,) for ex in examples)
    for ex in examples:
        groups = set(ex.speech_groups)
        assert "tts-x/x-held" not in groups and "speech-hedgewars/British" not in groups
        assert (ex.label == 2) == (ex.text == "hello")
    wav, label = train[(1, 5)]
    assert label == labels[5] and wav.shape == (SR,)
    with pytest.raises(Exception, match="drop the augment section"):
        KWSTask(data=data, model=KWSModel(), loss=KWSLoss(), augment=AugmentSpec(gain_prob=0.5), seed=0)


def test_running_unknown_speech_fills_a_share_of_the_examples(pools, tmp_path):
    root = tmp_path / "valid"
    for word in ("_silence_", "_unknown_", "hello"):
        (root / word).mkdir(parents=True)
    data = KWSData(root=str(root), task="folders", engine=_spec(pools, tmp_path), keyword_pools=["tts-x"],
                   exclude_groups=["tts-x/x-held"], engine_unknown=0.3, engine_silence=0.1, engine_running=0.5)
    train = KWSTask(data=data, model=KWSModel(), loss=KWSLoss(), augment=AugmentSpec(), seed=0).dataset(
        "train", train=True)
    running = [train.running[(0, i)] for i in range(16)]
    assert all(ex.label == 1 and "tts-x/x-held" not in ex.speech_groups for ex in running)
    assert any(len(ex.speech_ids) > 1 for ex in running)  # words end to end, the last one cut
    labels = [train[(0, i)][1] for i in range(64)]
    assert 0.5 < labels.count(1) / 64 < 0.8  # half running speech, plus the placed share of 0.3 of the rest
