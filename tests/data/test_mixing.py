"""The mixing engine on small generated pools: SNR on active speech, alignment through rooms and codecs, seeds,
the held-out split, and missing pools."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.audio import load_segment
from centaurus.data.mixing import (
    Clip,
    ClipSet,
    EngineSpec,
    MixingEngine,
    PoolWeight,
    active_power,
    pool_clips,
    vtlp_source,
    warp_envelope,
)
from centaurus.data.pools import PoolClip, read_manifest, write_manifest
from centaurus.data.pools.split import split_of
from centaurus.errors import DatasetError

SR = 16000
BURST = int(0.6 * SR)  # speech bursts and pauses of 0.6 s: half of every clip is exact silence


def _speech_clip(rng, seconds: float) -> np.ndarray:
    """Bursts of noise low-passed to 3.4 kHz (aperiodic, so a cross-correlation has one peak), silence between."""
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[int(3400 * n / SR):] = 0
    wav = np.fft.irfft(spectrum, n)
    wav *= (np.arange(n) // BURST) % 2 == 0
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def _pool(root, name, rows, kind):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for path, group, wav in rows:
        sf.write(folder / path, wav, SR)
        clips.append(PoolClip(path, "generated", "CC0", group, "en" if kind == "speech" else "", len(wav) / SR,
                              kind, group if kind == "noise" else "real", path[:-4]))
    write_manifest(folder, clips)


def make_pools(root):
    """speech-hedgewars: packs Default and Pirate train, British and Surfer are held out by the split rule;
    noise-wesnoth: family ambient trains, music is held out."""
    rng = np.random.default_rng(0)
    _pool(root, "speech-hedgewars", [(f"{g}_{i}.wav", g, _speech_clip(rng, 3.0)) for g in
                                     ("Default", "Pirate", "British", "Surfer") for i in range(2)], "speech")
    _pool(root, "noise-wesnoth", [(f"{f}_{i}.wav", f, (0.1 * rng.standard_normal(int(SR * s))).astype(np.float32))
                                  for f in ("ambient", "music") for i, s in enumerate((0.7, 2.5))], "noise")
    return root


def make_real_validation(root, count: int = 3):
    """The real validation layout: denoise/{noisy,clean}/<id>.wav and denoise/pairs.csv, two subsets."""
    rng = np.random.default_rng(1)
    rows = ["id,speech_group,noise_family,noise_source,snr_db,subset"]
    for i in range(count):
        clean = _speech_clip(rng, 1.0)
        for kind, wav in (("clean", clean), ("noisy", clean + 0.05 * rng.standard_normal(SR).astype(np.float32))):
            (root / "denoise" / kind).mkdir(parents=True, exist_ok=True)
            sf.write(root / "denoise" / kind / f"v{i}.wav", wav, SR)
        rows.append(f"v{i},British,music,noise-wesnoth,5.0,{'music' if i % 2 else 'narrowband'}")
    (root / "denoise" / "pairs.csv").write_text("\n".join(rows) + "\n")
    return root


def engine_overrides(root) -> list[str]:
    """Recipe overrides that point a `data.engine` recipe at tiny generated pools and validation pairs."""
    pools, valid = make_pools(root / "pools"), make_real_validation(root / "validation")
    return [f"data.root={valid}", f"data.engine.pool_root={pools}",
            "data.engine.speech_pools=[{pool: speech-hedgewars}]", "data.engine.noise_pools=[{pool: noise-wesnoth}]",
            "data.engine.examples_per_epoch=8",
            "data.engine.room.bank=2", f"data.engine.room.cache_dir={root / 'rooms'}"]


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    return make_pools(tmp_path_factory.mktemp("pools"))


def _spec(pools, tmp_path, **sections) -> EngineSpec:
    """Every stage off unless a section turns it on: speech, then noise at a random SNR, then the level."""
    quiet = {"room": {"prob": 0.0, "noise_prob": 0.0, "bank": 3, "rt60_s": [0.3, 0.8],
                      "cache_dir": str(tmp_path / "rooms")},
             "noise": {"none_prob": 0.0},
             "device": {"narrowband_prob": 0.0, "codec_prob": 0.0, "eq_prob": 0.0, "clip_prob": 0.0,
                        "dc_prob": 0.0, "bits_prob": 0.0},
             "voice": {"speed_prob": 0.0, "pitch_prob": 0.0, "vtlp_prob": 0.0, "formant_prob": 0.0}}
    for key, value in sections.items():
        quiet[key] = {**quiet.get(key, {}), **value} if isinstance(value, dict) else value
    return EngineSpec.model_validate({"pool_root": str(pools), "speech_pools": [{"pool": "speech-hedgewars"}],
                                      "noise_pools": [{"pool": "noise-wesnoth"}], **quiet})


def _lag(reference: torch.Tensor, other: torch.Tensor, span: int = 2000) -> int:
    n = reference.shape[0] + other.shape[0]
    xcorr = torch.fft.irfft(torch.fft.rfft(other, n) * torch.fft.rfft(reference, n).conj(), n)
    lags = torch.cat([torch.arange(span + 1), torch.arange(-span, 0)])
    return int(lags[xcorr[lags].argmax()])


def test_snr_is_measured_on_active_speech(pools, tmp_path):
    engine = MixingEngine(_spec(pools, tmp_path, fill=False, noise={"sources": [1, 3]}), segment_samples=2 * SR,
                          seed=0)
    for index in range(6):
        ex = engine[(0, index)]
        noise = ex.noisy - ex.target  # no room or device: the input is level x (speech + noise)
        active = torch.nn.functional.max_pool1d(ex.target.abs()[None, None], 9, 1, 4)[0, 0] > 0  # the bursts
        assert 0.3 < float(active.float().mean()) < 0.7
        measured = 10 * np.log10(float(ex.target[active].pow(2).mean()) / float(noise.pow(2).mean()))
        whole = 10 * np.log10(float(ex.target.pow(2).mean()) / float(noise.pow(2).mean()))
        assert ex.snr_db is not None and abs(measured - ex.snr_db) < 0.25, (measured, ex.snr_db)
        assert abs(whole - ex.snr_db) > 1.5  # a whole-signal SNR would have been off by the pauses
        assert -5 <= ex.snr_db <= 25 and 1 <= len(ex.noise_ids) <= 3


def test_some_examples_have_no_noise(pools, tmp_path):
    engine = MixingEngine(_spec(pools, tmp_path, noise={"none_prob": 0.3}), segment_samples=SR // 2, seed=0)
    clean = [ex for ex in (engine[(0, i)] for i in range(40)) if ex.snr_db is None]
    assert 4 <= len(clean) <= 20
    assert all(torch.equal(ex.noisy, ex.target) and not ex.noise_ids for ex in clean)


def test_level_lies_in_its_range(pools, tmp_path):
    engine = MixingEngine(_spec(pools, tmp_path, device={"level_dbfs": [-30.0, -20.0]}), segment_samples=SR,
                          seed=0)
    peaks = [20 * np.log10(float(engine[(0, i)].noisy.abs().max())) for i in range(5)]
    assert all(-30.01 < p < -19.99 for p in peaks) and np.ptp(peaks) > 0.5


@pytest.mark.parametrize("target", ["early", "dry"])
def test_room_keeps_length_and_alignment(pools, tmp_path, target):
    engine = MixingEngine(_spec(pools, tmp_path, room={"prob": 1.0, "target": target}, noise={"none_prob": 1.0}),
                          segment_samples=2 * SR, seed=0)
    for index in range(3):
        ex = engine[(0, index)]
        assert ex.room is not None and ex.noisy.shape == ex.target.shape == (2 * SR,)
        assert not torch.allclose(ex.noisy, ex.target, atol=1e-3)  # the tail is in the input only
        assert _lag(ex.target, ex.noisy) == 0


def test_reverberant_target_keeps_the_room_and_removes_only_noise(pools, tmp_path):
    spec = {"room": {"prob": 1.0, "target": "reverberant"}}
    quiet = MixingEngine(_spec(pools, tmp_path, noise={"none_prob": 1.0}, **spec), segment_samples=2 * SR, seed=0)
    noisy = MixingEngine(_spec(pools, tmp_path, noise={"none_prob": 0.0}, **spec), segment_samples=2 * SR, seed=0)
    dry = MixingEngine(_spec(pools, tmp_path, noise={"none_prob": 1.0}, room={"prob": 1.0, "target": "dry"}),
                       segment_samples=2 * SR, seed=0)
    for index in range(3):
        ex = quiet[(0, index)]
        assert ex.room is not None and torch.equal(ex.noisy, ex.target)  # nothing to remove: the target is the input
        assert not torch.allclose(ex.target, dry[(0, index)].target, atol=1e-3)  # ... and it holds the room's tail
        ex = noisy[(0, index)]
        assert ex.noise_ids and not torch.allclose(ex.noisy, ex.target, atol=1e-3)


def test_rir_bank_is_simulated_once_and_reused(pools, tmp_path):
    spec = _spec(pools, tmp_path, room={"prob": 1.0})
    first = MixingEngine(spec, segment_samples=SR, seed=0).rooms
    cached = list((tmp_path / "rooms").glob("rirs-*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = MixingEngine(spec, segment_samples=SR, seed=0).rooms
    assert cached[0].stat().st_mtime_ns == stamp and len(again) == 3
    assert all(np.array_equal(a, b) for a, b in zip(first.rirs, again.rirs))
    assert all(0.3 <= t <= 0.8 for t in again.rt60)


@pytest.mark.parametrize("codec", ["gsm", "mulaw", "mp3", "opus"])
def test_codec_keeps_length_and_alignment(pools, tmp_path, codec):
    spec = _spec(pools, tmp_path, noise={"none_prob": 1.0}, device={"codec_prob": 1.0, "codecs": [codec]})
    engine = MixingEngine(spec, segment_samples=2 * SR, seed=0)
    ex = engine[(0, 0)]
    assert ex.codec == codec and ex.noisy.shape == ex.target.shape == (2 * SR,)
    assert ex.narrowband == (codec in ("gsm", "mulaw"))
    assert not torch.allclose(ex.noisy, ex.target, atol=1e-4)
    assert _lag(ex.target, ex.noisy) == 0
    correlation = float(torch.nn.functional.cosine_similarity(ex.noisy, ex.target, dim=0))
    assert correlation > 0.4  # still the same signal (GSM, a vocoder, keeps ~0.57 of a noise-like one)


def test_seeds_reproduce_across_workers(pools, tmp_path):
    spec = _spec(pools, tmp_path, room={"prob": 0.5, "noise_prob": 0.5},
                 device={"codec_prob": 0.3, "codecs": ["mulaw"], "eq_prob": 0.5, "clip_prob": 0.3, "dc_prob": 0.3,
                         "narrowband_prob": 0.3, "notch_prob": 0.3, "bits_prob": 0.3},
                 voice={"speed_prob": 0.5, "pitch_prob": 0.3, "vtlp_prob": 0.3, "formant_prob": 0.3})
    engine = MixingEngine(spec, segment_samples=SR // 2, seed=3)
    keys = [(1, i) for i in range(6)]
    direct = [engine[k] for k in keys]
    loader = torch.utils.data.DataLoader(engine, batch_sampler=[keys[:3], keys[3:]], num_workers=2,
                                         collate_fn=list)
    pooled = [ex for batch in loader for ex in batch]
    for a, b in zip(direct, pooled):
        assert torch.equal(a.noisy, b.noisy) and torch.equal(a.target, b.target)
        assert (a.speech_ids, a.noise_ids, a.snr_db, a.room, a.codec) == (b.speech_ids, b.noise_ids, b.snr_db, b.room,
                                                                          b.codec)
    other_seed = MixingEngine(spec, segment_samples=SR // 2, seed=4)
    assert not any(torch.equal(a.noisy, other_seed[k].noisy) for a, k in zip(direct, keys))
    assert not any(torch.equal(a.noisy, engine[(2, k[1])].noisy) for a, k in zip(direct, keys))  # a new epoch


def test_held_out_speakers_and_noises_never_train(pools, tmp_path):
    held = {(c.group, c.path) for name in ("speech-hedgewars", "noise-wesnoth")
            for c in read_manifest(pools / name) if split_of(name, c) == "valid"}
    assert {g for g, _ in held} == {"British", "Surfer", "music"}  # the pools do hold held-out clips
    engine = MixingEngine(_spec(pools, tmp_path, noise={"sources": [3, 3]}), segment_samples=SR, seed=0)
    speakers, noises = set(), set()
    for index in range(60):
        ex = engine[(0, index)]
        speakers.update(ex.speech_groups)
        noises.update(ex.noise_ids)
    assert speakers == {"speech-hedgewars/Default", "speech-hedgewars/Pirate"}
    assert noises == {f"noise-wesnoth/ambient_{i}.wav" for i in range(2)}


def test_missing_pool_is_one_line_naming_it(pools, tmp_path):
    spec = EngineSpec.model_validate({**_spec(pools, tmp_path).model_dump(), "noise_pools": [{"pool": "noise-absent"}]})
    with pytest.raises(DatasetError) as err:
        MixingEngine(spec, segment_samples=SR, seed=0)
    message = str(err.value)
    assert "\n" not in message and str(pools / "noise-absent") in message and "centaurus data pools" in message


def test_active_power_ignores_pauses():
    wav = torch.zeros(SR)
    wav[:3200] = 0.5  # ten whole 20 ms frames
    assert active_power(wav, floor_db=30, sample_rate=SR) == pytest.approx(0.25)
    assert active_power(torch.zeros(SR), floor_db=30, sample_rate=SR) == 0.0


def test_envelope_warps_keep_length_and_move_formants():
    t = torch.arange(SR) / SR
    # A 120 Hz pulse train through one resonance at 1 kHz: a vowel with one formant.
    pulses = (torch.arange(SR) % (SR // 120) == 0).float()
    formant = torch.exp(-t[:400] * 300) * torch.sin(2 * torch.pi * 1000 * t[:400])
    vowel = torch.nn.functional.conv1d(pulses[None, None], formant.flip(0)[None, None], padding=399)[0, 0, :SR]
    same = warp_envelope(vowel, lambda f: f)
    assert same.shape == vowel.shape and torch.allclose(same, vowel, atol=1e-3 * float(vowel.abs().max()))

    def peak_hz(wav):
        spectrum = torch.fft.rfft(wav * torch.hann_window(SR)).abs()
        smooth = torch.nn.functional.avg_pool1d(spectrum[None, None], 101, 1, 50)[0, 0]
        return float(smooth[200:4000].argmax() + 200)

    # The strongest harmonic (of 120 Hz) moves with the formant: 960 Hz -> near 1200 and 850 Hz.
    assert peak_hz(vowel) == pytest.approx(1000, abs=60)
    assert peak_hz(warp_envelope(vowel, lambda f: f / 1.2)) == pytest.approx(1200, abs=70)
    assert peak_hz(warp_envelope(vowel, lambda f: f / 0.85)) == pytest.approx(850, abs=70)
    assert warp_envelope(vowel, vtlp_source(1.1)).shape == vowel.shape


@pytest.mark.slow
def test_denoise_recipe_trains_on_the_engine_and_validates_on_real_pairs(tmp_path):
    from centaurus.tasks.denoise import RealPairs
    from centaurus.training import load_recipe, train
    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "denoise" / "engine.yaml",
                         [*engine_overrides(tmp_path), "data.segment_samples=8192", "trainer.batch_size=2",
                          "trainer.num_workers=0", "trainer.epochs=1", f"trainer.out_dir={tmp_path / 'run'}"])
    task = recipe.build_task()
    noisy, target = task.dataset("train", train=True)[(0, 1)]
    assert noisy.shape == target.shape == (8192,) and not torch.equal(noisy, target)
    assert len(task.dataset("valid", train=False)) == 3
    result = train(recipe, device="cpu", progress=False)  # 4 steps, then validation on the real pairs
    assert result.steps == 4 and len(result.valid_log) == 1 and result.valid_log[0]["examples"] == 3
    with pytest.raises(DatasetError, match="no denoise/pairs.csv"):
        RealPairs(tmp_path / "pools")


def test_caller_supplied_clips_carry_labels_and_text(pools, tmp_path):
    """KWS and ASR pass their own clips: one clip per example (fill off), its label and text kept."""
    folder = pools / "speech-hedgewars"
    words = ClipSet("kws", 1.0, tuple(Clip(str(folder / f"Default_{i}.wav"), f"kws/{i}", "kws/Default", 3 * SR,
                                           text=f"word {i}", label=i) for i in range(2)))
    engine = MixingEngine(_spec(pools, tmp_path, fill=False), segment_samples=SR, seed=0, speech=[words])
    seen = set()
    for index in range(8):
        ex = engine[(0, index)]
        (clip_id,) = ex.speech_ids
        seen.add((clip_id, ex.label, ex.text))
    assert seen == {("kws/0", 0, "word 0"), ("kws/1", 1, "word 1")}


def test_a_codec_libsndfile_refuses_is_skipped_with_one_warning(monkeypatch):
    from centaurus.data import devices
    monkeypatch.setitem(devices.CODECS, "opus-in-wav", devices.Codec("opus-in-wav", "WAV", "OPUS", SR, True))
    with pytest.warns(UserWarning, match="codec opus-in-wav .* skipped") as caught:
        delays = devices.probe_codecs(["mulaw", "opus-in-wav"])
    assert delays == {"mulaw": 0} and len(caught) == 1


def test_a_duration_rounded_up_never_cuts_past_the_clip(tmp_path):
    # 16009 samples are 1.0005625 s, which a manifest rounds to 1.001 s (16016 samples): a noise cut that ends at
    # the clip's supposed end once stopped a training run
    wav = (0.1 * np.random.default_rng(0).standard_normal(16009)).astype(np.float32)
    _pool(tmp_path, "noise-wesnoth", [("ambient_0.wav", "ambient", wav)], "noise")
    write_manifest(tmp_path / "noise-wesnoth", [dataclasses.replace(r, duration=round(r.duration, 3))
                                                for r in read_manifest(tmp_path / "noise-wesnoth")])
    assert read_manifest(tmp_path / "noise-wesnoth")[0].duration == 1.001
    (clip,) = pool_clips(tmp_path, PoolWeight(pool="noise-wesnoth"), kind="noise", where="noise_pools").clips
    assert 16000 <= clip.frames <= 16009
    tail = load_segment(clip.path, offset=clip.frames - SR, frames=SR)
    np.testing.assert_allclose(tail.numpy(), wav[clip.frames - SR: clip.frames], atol=2**-15)  # 16-bit file


def test_a_clip_a_little_longer_than_its_sure_frames_is_cut_to_the_segment(tmp_path):
    """A segment of exactly a clip's sure frame count reads the whole clip, which can hold a few frames more: the
    noise must still be cut to the segment (it once stopped a training run)."""
    root = make_pools(tmp_path / "pools")
    wav = (0.1 * np.random.default_rng(0).standard_normal(16009)).astype(np.float32)
    _pool(root, "noise-wesnoth", [("ambient_0.wav", "ambient", wav)], "noise")
    write_manifest(root / "noise-wesnoth", [dataclasses.replace(r, duration=round(r.duration, 3))
                                            for r in read_manifest(root / "noise-wesnoth")])
    (clip,) = pool_clips(root, PoolWeight(pool="noise-wesnoth"), kind="noise", where="noise_pools").clips
    assert clip.frames < 16009
    engine = MixingEngine(_spec(root, tmp_path, noise={"sources": [1, 1]}), segment_samples=clip.frames, seed=0)
    for index in range(3):
        assert engine[(0, index)].noisy.shape == (clip.frames,)


def test_a_broken_pool_clip_in_a_data_worker_is_one_line(tmp_path):
    """An error in a DataLoader worker reaches the trainer with the worker's traceback in its message; the CLI
    still prints one line naming the file."""
    overrides = engine_overrides(tmp_path)
    for path in (tmp_path / "pools" / "noise-wesnoth").glob("ambient_*.wav"):  # shorter than the manifest says
        sf.write(path, np.zeros(100, np.float32), SR)
    sets = [x for o in [*overrides, "data.segment_samples=8192", "trainer.batch_size=2", "trainer.num_workers=1",
                        "trainer.epochs=1", f"trainer.out_dir={tmp_path / 'run'}"] for x in ("--set", o)]
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "train",
                           str(Path(__file__).parents[2] / "recipes" / "denoise" / "engine.yaml"), *sets,
                           "--device", "cpu"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "ambient_" in lines[-1] and "outside its 100 frames" in lines[-1]
    assert "Traceback" not in done.stderr and "DataLoader" not in done.stderr
