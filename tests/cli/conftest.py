import pytest

from tests.pulse import pulse_server


@pytest.fixture(scope="module")
def pulse():
    """A private PulseAudio server for one test module (its null sink's monitor is the default microphone)."""
    server = pulse_server()
    yield server
    server.close()
