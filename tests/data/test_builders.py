"""Tiny corpora from the real builders, read back through the real loaders; CLI errors are one line."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.data import LibriSpeech, SpeechCommands, VoiceBankDemand, list_pairs, list_utterances, normalize_text
from centaurus.data.builders.asr import LM_TEXT, build_asr
from centaurus.data.builders.common import ToolMissing, require
from centaurus.data.builders.denoise import active_level, build_denoise, mix_at_snr
from centaurus.data.builders.kws import build_kws


def test_kws_tiny(tmp_path):
    info = build_kws(tmp_path / "kws", speakers=3, words=("yes", "cat", "learn"), workers=2)
    assert info["clips"] == 9
    for split in ("train", "validation", "test"):
        ds = SpeechCommands(tmp_path / "kws", split=split, task="35")
        assert len(ds) == 3 and ds[0][0].shape == (16000,) and ds[0][0].abs().max() > 0.05
    ids = {s: set(v) for s, v in info["speakers"].items()}
    assert not (ids["train"] & ids["validation"]) and not (ids["validation"] & ids["test"])
    twelve = SpeechCommands(tmp_path / "kws", split="train", task="12", silence_fraction=1.0, unknown_fraction=1.0)
    assert sorted(twelve.classes[label] for _, label in twelve) == ["_silence_", "_unknown_", "yes"]
    assert (tmp_path / "kws" / "README").is_file()


def test_asr_tiny_and_deterministic(tmp_path):
    a = build_asr(tmp_path / "a", speakers=3, utterances=2, workers=1, seed=5)
    build_asr(tmp_path / "b", speakers=3, utterances=2, workers=2, seed=5)
    for split in ("train-clean-100", "dev-clean", "test-clean"):
        ua, ub = list_utterances(tmp_path / "a", split=split), list_utterances(tmp_path / "b", split=split)
        assert len(ua) == 2 and [u.text for u in ua] == [u.text for u in ub]
        assert all(x.path.read_bytes() == y.path.read_bytes() for x, y in zip(ua, ub))
        assert set("".join(u.text for u in ua)) <= set("abcdefghijklmnopqrstuvwxyz' ")
    speakers = [a["splits"][s]["speakers"] for s in a["splits"]]
    assert len({s for group in speakers for s in group}) == 3
    wav, text = LibriSpeech(tmp_path / "a", splits=("dev-clean",))[0]
    assert wav.shape[0] > 8000 and text
    lines = (tmp_path / "a" / LM_TEXT).read_text().splitlines()
    lm_text = {normalize_text(line) for line in lines}
    held = {u.text for s in ("dev-clean", "test-clean") for u in list_utterances(tmp_path / "a", split=s)}
    train = {u.text for u in list_utterances(tmp_path / "a", split="train-clean-100")}
    assert train <= lm_text and not held & lm_text and len(lines) == a["lm_text_sentences"] > 1000


def test_denoise_tiny(tmp_path):
    info = build_denoise(tmp_path / "d", train_clips=4, test_clips=2, workers=2)
    assert [len(list_pairs(tmp_path / "d", split=s)) for s in ("train", "test")] == [4, 2]
    assert not set(info["noise_files"]["train"]) & set(info["noise_files"]["test"])
    names = {s: {p.clean.name.split("_")[1] for p in list_pairs(tmp_path / "d", split=s)} for s in ("train", "test")}
    assert not names["train"] & names["test"]  # game levels are disjoint
    noisy, clean = VoiceBankDemand(tmp_path / "d", split="test")[0]
    assert noisy.shape == clean.shape and (noisy - clean).abs().max() > 0.001
    assert json.loads((tmp_path / "d" / "info.json").read_text())["splits"]["test"]["clips"] == 2


def test_mix_at_snr_uses_active_speech():
    rng = np.random.default_rng(0)
    speech = torch.cat([torch.zeros(16000), torch.from_numpy(rng.standard_normal(16000).astype(np.float32)) * 0.1])
    noise = torch.from_numpy(rng.standard_normal(32000).astype(np.float32))
    noisy, clean = mix_at_snr(speech, noise, 5.0)
    snr = 10 * np.log10(active_level(clean) / float((noisy - clean).pow(2).mean()))
    assert snr == pytest.approx(5.0, abs=0.05)


def test_missing_tool_names_the_apt_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get: nothing can be installed here
    with pytest.raises(ToolMissing, match=r"^missing no-such-tool-xyz, /no/such/file; install with: sudo apt-get "
                                          r"install -y pkg-a pkg-b$"):
        require({"no-such-tool-xyz": "pkg-b", "/no/such/file": "pkg-a"})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args],
                          capture_output=True, text=True, check=False)


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    proc = _cli("data", "kws", str(tmp_path / "full"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    full = tmp_path / "full"
    assert proc.stderr == f"error: {full}: output folder exists and is not empty; give a new or empty folder\n"
    noise = tmp_path / "noise"
    noise.mkdir()
    (noise / "broken.wav").write_text("not audio at all")
    proc = _cli("data", "denoise", str(tmp_path / "out"), "--train-clips", "2", "--test-clips", "1",
                "--extra-noise-dir", str(noise), "--workers", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"error: {noise / 'broken.wav'}: not a readable audio file")


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_cli_reports_malformed_dataset_files(tmp_path):
    """Each malformed audio file handed to a builder gives `error: <path>: <problem>` and no traceback."""
    cases = {"empty.wav": b"", "text.wav": b"hello" * 100}
    sf.write(tmp_path / "nan.wav", np.full(1600, np.nan, np.float32), 16000, subtype="FLOAT")
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    for name in ("empty.wav", "text.wav", "nan.wav"):
        folder = tmp_path / f"dir_{name}"
        folder.mkdir()
        (tmp_path / name).rename(folder / name)
        proc = _cli("data", "denoise", str(tmp_path / f"out_{name}"), "--train-clips", "1", "--test-clips", "1",
                    "--extra-noise-dir", str(folder), "--workers", "1")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith(f"error: {folder / name}: ") and proc.stderr.count("\n") == 1
