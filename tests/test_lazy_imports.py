"""The packages load their names on first use, so the torch-free paths stay torch-free."""
import subprocess
import sys
import textwrap


def test_packages_import_without_torch_until_a_torch_name_is_used():
    script = textwrap.dedent("""
        import sys
        import centaurus, centaurus.audio, centaurus.streaming, centaurus.training
        from centaurus.audio import SAMPLE_RATE, audio_info, iter_samples
        from centaurus.streaming import OnnxStreamer, enhance_stream
        from centaurus.training import resolve_checkpoint
        assert "torch" not in sys.modules, "torch imported too early"
        assert {"SSMLayer", "set_run_mode"} <= set(dir(centaurus)) and "Streamer" in dir(centaurus.streaming)
        try:
            centaurus.no_such_name
        except AttributeError as err:
            assert "no_such_name" in str(err)
        else:
            raise AssertionError("unknown names must raise AttributeError")
        from centaurus import SSMLayer
        assert "torch" in sys.modules and SSMLayer(4, 2, 3, mode="s5").out_channels == 3
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
