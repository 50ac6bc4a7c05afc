"""`centaurus denoise` on bad input and edge cases, through real processes and the shipped ONNX denoiser: each
gives one line that names the file and the problem, or a documented behaviour."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from centaurus_cli.main import app
from typer.testing import CliRunner

SAMPLE = Path(__file__).parents[2] / "pretrained" / "samples" / "noisy_speech.flac"


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=timeout)


def _speech(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    x, r = sf.read(SAMPLE, dtype="float32")
    assert r == 16000
    x = np.tile(x, int(np.ceil(seconds * r / len(x))))[: int(seconds * r)]
    return x if rate == r else np.interp(np.arange(int(seconds * rate)) * r / rate, np.arange(len(x)), x)


def _one_error_line(done, message: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"error: {message}\n", done.stderr


def test_output_into_a_missing_folder_creates_it(tmp_path):
    sf.write(tmp_path / "a.wav", _speech(0.5), 16000)
    target = tmp_path / "new" / "deeper" / "out.wav"
    done = _cli("denoise", str(tmp_path / "a.wav"), "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert sf.info(target).frames == 8000
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = _cli("denoise", str(tmp_path / "a.wav"), "-o", str(blocked / "out.wav"))
    assert done.returncode == 2 and done.stderr.startswith(f"error: {blocked}: cannot create the output folder")
    assert len(done.stderr.splitlines()) == 1
    shown = CliRunner().invoke(app, ["denoise", "--help"], terminal_width=200).output
    assert "Missing folders are created." in " ".join(re.sub(r"[│╭╮╰╯─]", " ", shown).split())


def _mp3(path, seconds=5.0):
    sf.write(path, _speech(seconds), 16000, format="MP3")
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["garbled", "truncated", "header only"])
def test_corrupt_mp3_says_so_and_keeps_the_decoders_notes_off_the_terminal(tmp_path, damage):
    data = _mp3(tmp_path / "good.mp3")
    if damage == "garbled":  # libmpg123 writes "Note: Illegal Audio-MPEG-Header ..." for this
        third = len(data) // 3
        data = data[:third] + bytes(3000) + data[third + 3000:]
    else:
        data = data[: len(data) // 4 if damage == "truncated" else 100]
    bad = tmp_path / "x.mp3"
    bad.write_bytes(data)
    done = _cli("denoise", str(bad))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {bad}: cannot decode: corrupt or truncated MP3"), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr  # no "Note:", "Warning:" or "[src/libmpg123/...]"
    assert not (tmp_path / "x.denoised.wav").exists()


@pytest.mark.parametrize("rate", [1, 3999, 384001])
def test_absurd_sample_rates_are_refused(tmp_path, rate):
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(64, dtype=np.float32), rate)
    _one_error_line(_cli("denoise", str(path)),
                    f"{path}: sample rate {rate} Hz is outside 4 kHz to 384 kHz; is the header broken?")


def test_float_input_beyond_one_warns_and_normalize_rescales(tmp_path):
    loud = 3.0 * _speech(1.0) / np.abs(_speech(1.0)).max()
    sf.write(tmp_path / "loud.wav", loud.astype(np.float32), 16000, subtype="FLOAT")
    warned = _cli("denoise", str(tmp_path / "loud.wav"))
    assert warned.returncode == 0
    assert warned.stderr == (f"{tmp_path / 'loud.wav'}: float samples peak at 3.00, beyond ±1, so the output "
                             "clips; --normalize scales each input to a peak of 0.99\n")
    normalized = _cli("denoise", str(tmp_path / "loud.wav"), "-o", str(tmp_path / "n.wav"), "--normalize")
    assert normalized.returncode == 0 and normalized.stderr == ""
    sf.write(tmp_path / "scaled.wav", (loud * (0.99 / 3.0)).astype(np.float32), 16000, subtype="FLOAT")
    assert _cli("denoise", str(tmp_path / "scaled.wav"), "-o", str(tmp_path / "s.wav")).returncode == 0
    by_flag, _ = sf.read(tmp_path / "n.wav", dtype="float32")
    by_hand, _ = sf.read(tmp_path / "s.wav", dtype="float32")
    assert np.abs(by_hand).max() > 0.01
    np.testing.assert_allclose(by_flag, by_hand, atol=2 / 2**15)


def test_multichannel_input_is_mixed_with_a_note_or_denoised_channel_by_channel(tmp_path):
    left, right = _speech(1.0, 22050), 0.3 * np.roll(_speech(1.0, 22050), 5000)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 22050)
    mixed = _cli("denoise", str(tmp_path / "st.wav"), "-o", str(tmp_path / "mixed.wav"))
    assert mixed.returncode == 0
    assert mixed.stderr == (f"{tmp_path / 'st.wav'}: 2 channels mixed down to mono; --channels each denoises "
                            "each channel\n")
    assert sf.info(tmp_path / "mixed.wav").channels == 1
    each = _cli("denoise", str(tmp_path / "st.wav"), "-o", str(tmp_path / "each.wav"), "--channels", "each")
    assert each.returncode == 0 and each.stderr == ""
    both, rate = sf.read(tmp_path / "each.wav", dtype="float32")
    assert rate == 22050 and both.shape == (22050, 2)
    for channel, signal_ in enumerate((left, right)):  # each channel as its own mono file gives the same
        sf.write(tmp_path / f"c{channel}.wav", signal_, 22050)
        assert _cli("denoise", str(tmp_path / f"c{channel}.wav")).returncode == 0
        alone, _ = sf.read(tmp_path / f"c{channel}.denoised.wav", dtype="float32")
        np.testing.assert_array_equal(both[:, channel], alone)
    assert _cli("denoise", str(tmp_path / "st.wav"), "--channels", "all").stderr == (
        "error: --channels all: use mix or each\n")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_during_a_folder_keeps_finished_files_and_no_partial_one(tmp_path, jobs):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(8):
        sf.write(folder / f"f{i}.wav", np.roll(_speech(4.0), 999 * i), 16000)
    process = subprocess.Popen([sys.executable, "-m", "centaurus_cli.main", "denoise", str(folder), "-o", str(out),
                                "--jobs", jobs, "--chunk-ms", "16"],  # the live step: slow enough to interrupt mid-folder
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # as at a terminal: a background job (pytest run with `&`) inherits SIGINT ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.suffix == ".wav" and not p.name.startswith(".") for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    kept = sorted(out.iterdir())
    assert all(not p.name.startswith(".") for p in kept), kept  # no temporary left behind
    assert 1 <= len(kept) < 8, kept
    assert stderr.splitlines()[-1] == f"interrupted: {len(kept)} of 8 file(s) done; none left half-written"
    assert "Traceback" not in stderr
    for path in kept:  # each one complete
        assert sf.info(path).frames == 64000
    # A file can be renamed into place just before Ctrl-C reaches the loop that prints it: printed ⊆ kept.
    printed = {line.split("-> ")[1].split()[0] for line in stdout.splitlines() if "-> " in line}
    assert printed <= {str(p) for p in kept}, (printed, kept)
    assert sorted(os.listdir(folder)) == [f"f{i}.wav" for i in range(8)]
