"""The inference commands run on their default ONNX engine without torch: each runs in a real subprocess in
which `import torch` fails, on a real recording, and must succeed with its usual output."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.pulse import Listener

SAMPLES = Path(__file__).resolve().parents[2] / "pretrained" / "samples"

RUN = """
import sys
from centaurus_cli.main import app
try:
    app(sys.argv[1:], prog_name="centaurus")
except SystemExit as done:
    assert "torch" not in sys.modules, "torch was imported"
    raise
"""


def _torchless(tmp_path: Path, env: dict) -> dict:
    """`env` with a `torch` package first on the path whose import fails."""
    blocker = tmp_path / "no-torch" / "torch"
    blocker.mkdir(parents=True, exist_ok=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    return {**env, "PYTHONPATH": os.pathsep.join([str(blocker.parent), env.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def _run_without_torch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300,
                          env=_torchless(tmp_path, dict(os.environ)), cwd=tmp_path, check=False)


def test_the_blocker_blocks_torch(tmp_path):
    done = _run_without_torch(tmp_path, "denoise", str(SAMPLES / "noisy_speech.flac"), "--engine", "torch",
                              "-o", str(tmp_path / "out.wav"))
    assert done.returncode != 0 and "torch is not installed here" in done.stderr + done.stdout


def test_kws_detect_without_torch(tmp_path):
    done = _run_without_torch(tmp_path, "kws", "detect", str(SAMPLES / "keywords.flac"), "--jobs", "1")
    assert done.returncode == 0, done.stderr
    heard = [line.split("\t")[2] for line in done.stdout.splitlines() if "\t" in line]
    assert heard == (SAMPLES / "keywords.txt").read_text().split()


def test_kws_listen_without_torch(tmp_path, pulse):
    listener = Listener(_torchless(tmp_path, pulse.env), [sys.executable, "-c", RUN, "kws", "listen"])
    listener.wait_listening()
    listener.process.send_signal(signal.SIGINT)
    assert listener.finish() == 0, listener.output()
    assert "detection(s) in" in listener.lines[-1], listener.output()


def test_transcribe_without_torch(tmp_path):
    done = _run_without_torch(tmp_path, "transcribe", str(SAMPLES / "utterance.flac"), "--beam", "4")
    assert done.returncode == 0, done.stderr
    final = done.stdout.splitlines()[-1].split("\t")
    assert final[0].endswith("utterance.flac") and len(final[1].split()) >= 5


def test_denoise_without_torch(tmp_path):
    target = tmp_path / "clean.wav"
    done = _run_without_torch(tmp_path, "denoise", str(SAMPLES / "noisy_speech.flac"), "-o", str(target))
    assert done.returncode == 0, done.stderr
    noisy, rate = sf.read(SAMPLES / "noisy_speech.flac", dtype="float32")
    clean, clean_rate = sf.read(target, dtype="float32")
    assert clean_rate == rate and clean.shape == noisy.shape and np.abs(clean - noisy).max() > 0.01


@pytest.mark.slow
def test_demo_without_torch(tmp_path):
    done = _run_without_torch(tmp_path, "demo", "--out", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr + done.stdout
    assert (tmp_path / "demo" / "noisy_speech.denoised.wav").is_file()
