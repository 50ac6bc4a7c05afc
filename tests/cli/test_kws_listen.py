"""`centaurus kws listen` through a real audio server: a private PulseAudio daemon whose null sink's monitor is
the microphone. paplay plays espeak-ng words into the sink while the CLI listens through PortAudio's ALSA
'pulse' device; the shipped model must print the words in order."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from tests.spoken import spoken_words

SINK = "centaurus_test"
WORDS = ("yes", "stop", "left")


class PulseServer:
    """A PulseAudio daemon private to the test: own runtime folder and socket, a null sink, no default.pa."""

    def __init__(self) -> None:
        # A short folder under /tmp: a unix socket path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="centaurus-pulse-"))
        (self.root / "client.conf").write_text("autospawn = no\n")  # never start the user's own daemon
        socket = self.root / "native"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{socket}",
                    "PULSE_CLIENTCONFIG": str(self.root / "client.conf")}
        daemon_env = {**os.environ, "HOME": str(self.root), "XDG_CONFIG_HOME": str(self.root),
                      "XDG_RUNTIME_DIR": str(self.root), "PULSE_RUNTIME_PATH": str(self.root)}
        with open(self.root / "daemon.log", "w") as log:  # the daemon keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
                 "--log-target=stderr", f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
                 f"--load=module-null-sink sink_name={SINK}"],
                env=daemon_env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        self.pactl("set-default-source", f"{SINK}.monitor")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], check=False, env=self.env, capture_output=True, text=True, timeout=10)

    def _wait_ready(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.pactl("info").returncode == 0:
                return
            time.sleep(0.2)
        self.close()
        log = (self.root / "daemon.log").read_text()
        pytest.fail(f"the private PulseAudio server did not start (exit code {self.process.returncode}):\n{log}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def pulse():
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (Makefile APT_PACKAGES installs it)")
    server = PulseServer()
    yield server
    server.close()


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


class Listener:
    """`centaurus kws listen` in the background, its output (stderr merged) gathered line by line."""

    def __init__(self, env: dict, *args: str) -> None:
        self.process = subprocess.Popen(_cli(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1)
        self.lines: list[str] = []
        self.listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("listening"):
                self.listening.set()

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        if not self.listening.wait(timeout_s):
            self.process.kill()
            pytest.fail("the listener never printed 'listening':\n" + self.output())

    def finish(self, timeout_s: float = 60.0) -> int:
        try:
            code = self.process.wait(timeout_s)
        finally:
            self.process.kill()
            self._reader.join(10)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)


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
    listener = Listener(pulse.env, "--input-device", _pulse_index(devices), "--seconds", "9")
    listener.wait_listening()
    time.sleep(0.3)
    subprocess.run(["paplay", f"--device={SINK}", str(recording)], env=pulse.env, check=True, timeout=30)
    code = listener.finish()
    out = listener.output()
    assert code == 0 and "Traceback" not in out, out
    found = re.findall(r"^\s*([\d.]+) s\t(\w+)\t([\d.]+)$", out, flags=re.MULTILINE)
    assert [word for _, word, _ in found] == list(WORDS), out
    assert re.search(r"^3 detection\(s\) in 9\.\d s; \d+ input overflow\(s\)$", out, flags=re.MULTILINE), out


@pytest.mark.slow
def test_ctrl_c_and_a_vanished_server_exit_cleanly():
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (Makefile APT_PACKAGES installs it)")
    server = PulseServer()
    try:
        interrupted = Listener(server.env, "--input-device", _pulse_index(_run(server.env, "--list-devices").stdout))
        interrupted.wait_listening()
        interrupted.process.send_signal(signal.SIGINT)
        assert interrupted.finish() == 0 and "Traceback" not in interrupted.output(), interrupted.output()
        summary = r"^0 detection\(s\) in [\d.]+ s; 0 input overflow\(s\)$"
        assert re.search(summary, interrupted.output(), flags=re.MULTILINE), interrupted.output()
        orphaned = Listener(server.env)
        orphaned.wait_listening()
        time.sleep(1.0)
    finally:
        server.close()
    assert orphaned.finish() == 2, orphaned.output()
    assert "Traceback" not in orphaned.output()
    assert orphaned.lines[-1].startswith("error: input device") and "went away" in orphaned.lines[-1], orphaned.output()
