"""A PulseAudio daemon private to a test: the real audio server behind the microphone tests. Its null sink's
monitor is the default source, so PortAudio's default input (and its ALSA 'pulse' device) hears whatever
`paplay --device=SINK` plays."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

SINK = "centaurus_test"


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

    def heard(self, command: list[str], recording) -> str:
        """Start the listening `command`, play `recording` into the sink once it listens, and return its output
        after it exits, which it must do cleanly."""
        listener = Listener(self.env, command)
        listener.wait_listening()
        time.sleep(0.3)
        subprocess.run(["paplay", f"--device={SINK}", str(recording)], env=self.env, check=True, timeout=30)
        code = listener.finish()
        out = listener.output()
        assert code == 0 and "Traceback" not in out, out
        return out

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def pulse_server():
    """A started `PulseServer`, or a skip where pulseaudio is not installed."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (Makefile APT_PACKAGES installs it)")
    return PulseServer()


class Listener:
    """A listening command in the background, its output (stderr merged) gathered line by line; it is ready
    once it prints a line starting with 'listening'."""

    def __init__(self, env: dict, command: list[str]) -> None:
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
