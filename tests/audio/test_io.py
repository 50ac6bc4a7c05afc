"""Audio I/O on real files: round trips, resampling, block streaming and every bad-input case."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.audio import audio_info, iter_blocks, load_audio, load_segment, save_audio
from centaurus.errors import AudioError


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_load_resamples_and_downmixes(tmp_path, ext):
    path = tmp_path / f"s.{ext}"
    sf.write(path, _tone(1.0, 48000, channels=2), 48000)
    wav = load_audio(path, sample_rate=16000)
    assert wav.dtype == torch.float32 and wav.shape == (16000,)
    # The downmix averages the channels: 0.75 * 0.3 peak amplitude.
    assert abs(wav.abs().max().item() - 0.225) < 0.02


def test_save_is_atomic_and_round_trips(tmp_path):
    wav = torch.from_numpy(_tone(0.5, 16000))
    out = tmp_path / "sub" / "x.flac"
    save_audio(out, wav, 16000)
    assert [p.name for p in out.parent.iterdir()] == ["x.flac"]  # no temp file left behind
    back = load_audio(out, sample_rate=16000)
    assert torch.allclose(back, wav, atol=1e-4)
    info = audio_info(out)
    assert (info.sample_rate, info.frames, info.channels) == (16000, 8000, 1)


def test_load_segment_cuts_at_native_rate(tmp_path):
    path = tmp_path / "ramp.wav"
    sf.write(path, np.linspace(-0.5, 0.5, 16000, dtype=np.float32), 16000, subtype="FLOAT")
    seg = load_segment(path, offset=1000, frames=500)
    assert seg.shape == (500,) and seg[0].item() == pytest.approx(-0.5 + 1000 / 15999, abs=1e-6)
    with pytest.raises(AudioError, match="outside"):
        load_segment(path, offset=15800, frames=500)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_blocks_equal_whole_file(tmp_path, rate):
    path = tmp_path / "long.wav"
    sf.write(path, np.random.default_rng(0).standard_normal((rate * 3 + 17, 2)).astype(np.float32) * 0.1, rate)
    whole = load_audio(path)
    blocks = list(iter_blocks(path, block_samples=1600))
    assert all(b.shape == (1600,) for b in blocks[:-1]) and 0 < blocks[-1].shape[0] <= 1600
    assert torch.allclose(torch.cat(blocks), whole, atol=1e-6)


def _bad_files(tmp_path):
    x = _tone(1.0, 16000)
    cases = {}
    cases["missing"] = (tmp_path / "missing.wav", "no such file")
    (tmp_path / "adir.wav").mkdir()
    cases["directory"] = (tmp_path / "adir.wav", "is a directory")
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty"] = (tmp_path / "empty.wav", "empty file")
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 20)
    cases["not audio"] = (tmp_path / "notes.wav", "not a readable audio file")
    sf.write(tmp_path / "nosamples.wav", x[:0], 16000)
    cases["zero length"] = (tmp_path / "nosamples.wav", "zero-length")
    sf.write(tmp_path / "full.wav", x, 16000)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:12000])
    cases["truncated wav"] = (tmp_path / "cut.wav", "truncated")
    sf.write(tmp_path / "full.flac", x, 16000)
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    cases["truncated flac"] = (tmp_path / "cut.flac", "corrupt audio data")
    broken = bytearray(data)
    broken[len(data) // 2: len(data) // 2 + 200] = bytes(b ^ 0xFF for b in broken[len(data) // 2: len(data) // 2 + 200])
    (tmp_path / "corrupt.flac").write_bytes(bytes(broken))
    cases["corrupt flac"] = (tmp_path / "corrupt.flac", "corrupt audio data")
    y = x.copy()
    y[100] = np.nan
    sf.write(tmp_path / "nan.wav", y, 16000, subtype="FLOAT")
    cases["nan"] = (tmp_path / "nan.wav", "NaN or Inf")
    y[100] = np.inf
    sf.write(tmp_path / "inf.wav", y, 16000, subtype="FLOAT")
    cases["inf"] = (tmp_path / "inf.wav", "NaN or Inf")
    sf.write(tmp_path / "adpcm.wav", x, 16000, subtype="IMA_ADPCM")
    cases["unsupported subtype"] = (tmp_path / "adpcm.wav", "unsupported sample subtype IMA_ADPCM")
    return cases


def test_every_bad_file_raises_one_clear_error(tmp_path):
    for name, (path, problem) in _bad_files(tmp_path).items():
        for read in (lambda p: load_audio(p), lambda p: list(iter_blocks(p, block_samples=4000))):
            with pytest.raises(AudioError) as err:
                read(path)
            msg = str(err.value)
            assert msg.startswith(f"{path}: ") and problem in msg and "\n" not in msg, (name, msg)


def test_rss_stays_bounded_on_a_long_file(tmp_path):
    """Twenty minutes at 48 kHz stereo float (~460 MB if decoded whole as float32) streamed in 1 s blocks."""
    path = tmp_path / "hour.flac"
    rate, seconds = 48000, 20 * 60
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=rate, channels=2, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write((rng.standard_normal((rate * 60, 2)) * 0.05).astype(np.float32))
    script = textwrap.dedent(f"""
        import resource
        from centaurus.audio import iter_blocks
        import torch
        torch.zeros(1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = sum(b.numel() for b in iter_blocks({str(path)!r}, block_samples=16000))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(n, (after - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    samples, growth_mb = int(out[0]), int(out[1])
    assert samples == 16000 * seconds
    assert growth_mb < 64, f"peak RSS grew by {growth_mb} MB while streaming"
