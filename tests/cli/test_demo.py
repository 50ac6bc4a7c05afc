import subprocess
import sys


def test_demo_streams_exactly_and_reports():
    result = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "demo", "--chunk-ms", "7",
                             "--seconds", "0.5"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "real-time factor" in result.stdout
    assert "1000 / 1000" in result.stdout   # 0.5 s at 16 kHz, down-sampled by 8, both ways


def test_demo_rejects_a_bad_chunk():
    result = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "demo", "--chunk-ms", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
