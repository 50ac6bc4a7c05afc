"""`centaurus kws listen` through a real audio server: a private PulseAudio daemon whose null sink's monitor is
the microphone. paplay plays espeak-ng words into the sink while the CLI listens through PortAudio's ALSA
'pulse' device; the shipped model must print the words in order."""
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from tests.pulse import Listener, pulse_server
from tests.spoken import spoken_words

WORDS = ("yes", "stop", "left")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "centaurus_cli.main", "kws", "listen", *args]


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cli(*args), check=False, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def devices(pulse) -> str:
    done = _run(pulse.env, "--list-devices")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pulse_index(devices: str) -> str:
    found = re.search(r"^\s*(\d+)\*?\s+pulse\t", devices, flags=re.MULTILINE)
    assert found, f"no ALSA 'pulse' input (is libasound2-plugins installed?):\n{devices}"
    return found.group(1)


def _spoken(words: tuple[str, ...], folder: Path) -> Path:
    """espeak-ng speaks each word after 0.75 s of silence, then 1 s of silence: the recording that the shipped
    model spots in order (tests/streaming/test_kws.py), written as a 16 kHz wav."""
    parts = spoken_words(words, folder)
    target = folder / "words.wav"
    sf.write(target, torch.cat([*parts, torch.zeros(16000)]).numpy(), 16000)
    return target


def test_list_devices_shows_the_pulse_input(devices):
    _pulse_index(devices)
    assert re.search(r"pulse\t\d+ in\t\d+ Hz", devices), devices


def test_bad_input_device_is_one_line_error(pulse):
    done = _run(pulse.env, "--input-device", "999", "--seconds", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: no input device 999"), done.stderr


def test_listen_spots_words_played_into_the_sink(pulse, devices, tmp_path):
    recording = _spoken(WORDS, tmp_path)
    out = pulse.heard(_cli("--input-device", _pulse_index(devices), "--seconds", "9"), recording)
    found = re.findall(r"^\s*([\d.]+) s\t(\w+)\t([\d.]+)$", out, flags=re.MULTILINE)
    assert [word for _, word, _ in found] == list(WORDS), out
    assert re.search(r"^3 detection\(s\) in 9\.\d s; \d+ input overflow\(s\)$", out, flags=re.MULTILINE), out


@pytest.mark.slow
def test_ctrl_c_and_a_vanished_server_exit_cleanly():
    server = pulse_server()
    try:
        devices = _run(server.env, "--list-devices").stdout
        interrupted = Listener(server.env, _cli("--input-device", _pulse_index(devices)))
        interrupted.wait_listening()
        interrupted.process.send_signal(signal.SIGINT)
        assert interrupted.finish() == 0 and "Traceback" not in interrupted.output(), interrupted.output()
        summary = r"^0 detection\(s\) in [\d.]+ s; 0 input overflow\(s\)$"
        assert re.search(summary, interrupted.output(), flags=re.MULTILINE), interrupted.output()
        orphaned = Listener(server.env, _cli())
        orphaned.wait_listening()
        time.sleep(1.0)
    finally:
        server.close()
    assert orphaned.finish() == 2, orphaned.output()
    assert "Traceback" not in orphaned.output()
    assert orphaned.lines[-1].startswith("error: input device") and "went away" in orphaned.lines[-1], orphaned.output()
