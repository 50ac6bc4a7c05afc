"""A keyword of your own, trained in one call (`centaurus kws train-keyword`).

1. Synthesise the phrase in every offline TTS voice installed and its negatives (near-misses of the phrase and
   everyday words) in a few voices per engine, cached (`centaurus.data.keyword`).
2. Train a small spotter (the phrase, `_unknown_`, `_silence_`) on the mixing engine: rooms, noise at 0-25 dB
   SNR, devices, voice perturbation. Negatives also come from the pools under `pool_root` when given (real
   speech in many languages, the TTS pools' words): never a clip that holds the phrase, so a real recording of
   it stays unseen. One voice per engine is held out.
3. Calibrate the threshold on held-out audio streamed as `kws detect` streams it: the held-out voices'
   negatives and real speech of groups kept out of training, in noise; positives are the held-out voices' takes.
4. Write the last checkpoint, its threshold (config `thresholds`) and its ONNX window step into `out`.
"""
from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from centaurus.atomic import replacing
from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.data.keyword import (
    VoicePlan,
    class_name,
    default_plans,
    near_misses,
    normalise,
    synthesise,
    write_validation,
)
from centaurus.data.pools.manifest import read_manifest
from centaurus.data.pools.split import training_clips
from centaurus.data.pools.tts import NEAR_MISS
from centaurus.data.speech_commands import SC35_WORDS
from centaurus.errors import DatasetError

from .checkpoint import CONFIG_FILE, MODEL_FILE
from .recipe import validate_recipe


@dataclass(frozen=True)
class Size:
    channels: tuple[int, ...]
    downsample: tuple[int, ...]
    epochs: int
    examples_per_epoch: int
    near_misses: int
    other_words: int
    kokoro_blends: int
    calibration_clips: int  # real and held-out negative clips in the calibration stream


SIZES = {
    "default": Size((32, 64, 64), (2, 2, 2), 6, 1600, 24, 16, 16, 600),
    "tiny": Size((16, 32), (2, 2), 5, 640, 8, 6, 0, 40),
}
REAL_RESERVE = 0.1  # share of the real speech groups that training leaves for calibration


def _say(line: str) -> None:
    print(line, flush=True)


def _reserved(pool: str, group: str) -> bool:
    digest = hashlib.sha256(f"keyword-calibration\0{pool}\0{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < REAL_RESERVE


def _other_words(phrase: str, count: int) -> list[str]:
    """Everyday words and the command words that neither are nor contain the phrase."""
    words = [w for w in dict.fromkeys(list(NEAR_MISS) + list(SC35_WORDS))
             if phrase not in normalise(w) and normalise(w) not in phrase.split()]
    return sorted(words, key=lambda w: hashlib.sha1(f"{phrase}\0{w}".encode()).digest())[:count]


def _pool_dirs(pool_root: Path | None) -> tuple[list[Path], list[Path]]:
    """The speech and noise pool folders under `pool_root` that hold training clips (speech: real `speech-*`
    and `tts-*`)."""
    if pool_root is None:
        return [], []
    pools = sorted(p for p in pool_root.iterdir() if (p / "manifest.jsonl").is_file() and training_clips(p))
    return ([p for p in pools if p.name.startswith(("speech-", "tts-"))],
            [p for p in pools if p.name.startswith("noise-")])


def _generated_noise(cache: Path) -> Path:
    """A small generated noise pool in the cache, for machines without pools."""
    from centaurus.data.pools.build import build_pool
    from centaurus.data.pools.convert import BuildContext
    build_pool("noise-generated", cache, BuildContext(generated_per_kind=2))
    return cache / "noise-generated"


def _stream(clips: list[torch.Tensor], noises: list[Path], rng: np.random.Generator) -> torch.Tensor:
    """Clips end to end with pauses of 0.3-1.5 s, in noise at 5-25 dB below the speech."""
    pieces = []
    for clip in clips:
        pieces += [torch.zeros(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)), clip / max(float(clip.abs().max()), 1e-6)]
    speech = torch.cat(pieces + [torch.zeros(SAMPLE_RATE)]) * 0.5
    if noises:
        noise = load_audio(noises[int(rng.integers(len(noises)))])
        noise = noise.repeat(speech.shape[0] // max(noise.shape[0], 1) + 1)[:speech.shape[0]]
        rms = float(noise.pow(2).mean().sqrt())
        if rms > 1e-8:  # the speech peaks at 0.5, so its active RMS is near 0.1
            speech = speech + noise * (0.1 * 10 ** (-rng.uniform(5, 25) / 20) / rms)
    return speech


def _calibration_audio(phrase: str, size: Size, *, tts: dict[str, Path], holdout: list[str], real: list[Path],
                       noises: list[Path], seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(positive clips, negative streams): the held-out voices' takes of the phrase, each alone in a little
    silence; and streams of the held-out voices' other clips plus real speech of the reserved groups."""
    rng = np.random.default_rng(seed)
    positives, negatives = [], []
    for pool, folder in tts.items():
        for clip in read_manifest(folder):
            if f"{pool}/{clip.group}" in holdout:
                text = normalise(clip.text)
                wav = load_audio(folder / clip.path)
                if text == phrase:
                    positives.append(torch.cat([torch.zeros(SAMPLE_RATE // 2), wav, torch.zeros(SAMPLE_RATE // 2)]))
                elif phrase not in text:
                    negatives.append(wav)
    reserved = [(folder, c) for folder in real for c in training_clips(folder)
                if folder.name.startswith("speech-") and _reserved(folder.name, c.group)
                and phrase not in normalise(c.text)]
    for i in rng.permutation(len(reserved))[:max(0, size.calibration_clips - len(negatives))]:
        folder, clip = reserved[i]
        negatives.append(load_audio(folder / clip.path)[:10 * SAMPLE_RATE])
    order = rng.permutation(len(negatives))
    streams = [_stream([negatives[j] for j in order[k:k + 40]], noises, rng) for k in range(0, len(order), 40)]
    return positives, streams


def _recipe(name: str, size: Size, *, valid_root: Path, cache: Path, speech: list[str], keyword_pools: list[str],
            noise: list[str], exclude: list[str], run_dir: Path, seed: int, workers: int) -> object:
    return validate_recipe({
        "name": f"keyword-{name}", "task": "kws",
        "data": {"root": str(valid_root), "task": "folders", "keyword_pools": keyword_pools,
                 "exclude_groups": exclude, "engine_unknown": 0.4, "engine_silence": 0.1, "engine_running": 0.3,
                 "engine": {"pool_root": str(cache), "examples_per_epoch": size.examples_per_epoch,
                            "speech_pools": [{"pool": p} for p in speech], "noise_pools": [{"pool": p} for p in noise],
                            "noise": {"snr_db": [0.0, 25.0], "none_prob": 0.1},
                            "device": {"codec_prob": 0.15}}},
        "model": {"frontend": "logmel", "channels": list(size.channels), "downsample": list(size.downsample),
                  "num_states": 16, "state_blocks": 4, "norm": "batch", "projection_init": "random",
                  "mean_norm_frames": 100.0},
        "optim": {"lr": 0.005, "ssm_lr": 0.001},
        "schedule": {"warmup_steps": min(50, size.epochs * size.examples_per_epoch // 32 // 4)},
        "trainer": {"epochs": size.epochs, "batch_size": 32, "eval_batch_size": 64, "out_dir": str(run_dir),
                    "seed": seed, "num_workers": workers, "log_every": 10},
        "expected": {"metric": "accuracy", "note": "held-out TTS voices: the phrase, its near-misses, noise"},
        "hardware": {"description": "2 CPU cores, no GPU"},
    }, source=f"kws train-keyword {name!r}")


def _write_model(checkpoint: Path, out: Path, thresholds: dict[str, float], calibration: dict) -> None:
    """The checkpoint's weights and config into `out`, each file atomically, then its thresholds."""
    from centaurus.streaming.calibrate import store_thresholds
    out.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, CONFIG_FILE):
        with replacing(out / name) as tmp:
            shutil.copyfile(checkpoint / name, tmp)
    store_thresholds(out, thresholds, calibration)


def train_keyword(phrase: str, out: str | Path, *, pool_root: str | Path | None = None,
                  cache: str | Path | None = None, size: str = "default", plans: list[VoicePlan] | None = None,
                  kokoro_cache: str | Path | None = None, target_fa_per_hour: float = 1.0, seed: int = 0,
                  device: str = "cpu", workers: int = 2, force: bool = False, progress: bool = True) -> dict:
    """Synthesise, train, calibrate and export a spotter for `phrase` into the checkpoint folder `out` (see the
    module docstring). Returns a summary (classes, voices, threshold, calibration figures, seconds)."""
    from centaurus.streaming.export import export_steps
    from centaurus.tasks.detection import (
        HOP_S,
        REFRACTORY_S,
        SMOOTH_S,
        Decisions,
        active_classes,
        calibrate_thresholds,
        smoothing_hops,
    )
    from centaurus.tasks.kws import window_scores

    from . import load_model, train

    started, cpu0 = time.perf_counter(), time.process_time()
    if size not in SIZES:
        raise DatasetError(f"size {size!r}: one of {', '.join(SIZES)}")
    spec, name, words = SIZES[size], class_name(phrase), normalise(phrase)
    out = Path(out)
    if (out / CONFIG_FILE).exists() and not force:
        raise DatasetError(f"{out}: holds a model already; add --force to replace it")
    cache = Path(cache or Path.home() / ".cache" / "centaurus" / "keywords").expanduser()
    root = Path(pool_root).expanduser() if pool_root else None
    if root is not None and not root.is_dir():
        raise DatasetError(f"{root}: pool folder not found; build it with `centaurus data pools` or leave it out")
    plans = plans if plans is not None else default_plans(kokoro_blends=spec.kokoro_blends, near_miss_count=spec.near_misses)
    near, others = near_misses(phrase, count=spec.near_misses, seed=seed), _other_words(words, spec.other_words)
    _say(f"[1/4] synthesising {phrase!r} in every voice and {len(near)} near-misses ({', '.join(near[:6])}, ...) "
         f"and {len(others)} other words in a few, cached in {cache}")
    pools = synthesise(cache, phrase, near + others, plans=plans, kokoro_cache=kokoro_cache, workers=workers)
    if not pools:
        raise DatasetError("no TTS engine is installed (espeak-ng, flite, festival, pico, mbrola or Kokoro)")
    tts = {p: cache / p for p in pools}
    holdout = [p.holdout_group for p in plans if p.holdout and f"tts-{p.engine}" in tts
               and any(c.group == p.holdout_group.split("/", 1)[1] for c in read_manifest(tts[f"tts-{p.engine}"]))]
    speech_dirs, noise_dirs = _pool_dirs(root)
    if not noise_dirs:
        noise_dirs = [_generated_noise(cache)]
    real = [d for d in speech_dirs if d.name.startswith("speech-")]
    exclude = holdout + [f"{d}/{g}" for d in real for g in sorted({c.group for c in training_clips(d)})
                         if _reserved(d.name, g)]
    speech = list(pools) + [str(d) for d in speech_dirs]
    keyword_pools = list(pools) + [str(d) for d in speech_dirs if d.name.startswith("tts-")]
    # Training noise, never the pools' held-out noise that real validation sets are made of; at least 1 s long,
    # as validation cuts `_silence_` from each clip's first second.
    held_noise = [d / c.path for d in noise_dirs for c in training_clips(d) if c.kind == "noise"
                  and c.duration >= 1.05]
    rng = np.random.default_rng(seed)
    silence = [held_noise[i] for i in rng.permutation(len(held_noise))[:30]]
    valid_root = out / "work" / "valid"
    counts = write_validation(valid_root, tts, keyword=name, holdout_groups=holdout, noise_clips=silence,
                              texts=near + others)
    _say(f"[2/4] training on the mixing engine: {len(pools)} TTS pools{' + pools in ' + str(root) if root else ''}; "
         f"held-out voices {', '.join(g.split('/')[1] for g in holdout)} validate ({counts[name]} takes)")
    recipe = _recipe(name, spec, valid_root=valid_root, cache=cache, speech=speech, keyword_pools=keyword_pools,
                     noise=[str(d) for d in noise_dirs], exclude=exclude, run_dir=out / "work" / "run", seed=seed,
                     workers=1 if workers > 1 else 0)
    result = train(recipe, device=device, force=True, progress=progress)
    # The last checkpoint, not the "best": every epoch draws fresh examples, and a handful of held-out takes
    # among many hard near-misses is too few to choose by (accuracy favours a model that hears no keyword).
    final = result.last_checkpoint
    if final is None or not result.valid_log:
        raise DatasetError(f"{out}: training stopped before its first validation")
    _say(f"[3/4] calibrating the threshold for {target_fa_per_hour:g} false accepts per hour")
    _, task, model, _ = load_model(final)
    model_device = next(model.parameters()).device
    classes = list(task.classes)
    positives, streams = _calibration_audio(words, spec, tts=tts, holdout=holdout, real=real,
                                            noises=[held_noise[i] for i in rng.permutation(len(held_noise))[:20]],
                                            seed=seed)
    # Batched, and equal to what `kws detect` (window context) decides on.
    pos_scores = [window_scores(model, w, device=model_device, keyword=name) for w in positives]
    neg_scores = [window_scores(model, w, device=model_device) for w in streams]
    rule = Decisions(classes, active_classes(classes, None), threshold=1.0, refractory_s=REFRACTORY_S,
                     smooth=smoothing_hops(SMOOTH_S, HOP_S))
    calibration = calibrate_thresholds(pos_scores, neg_scores, rule, target_fa_per_hour=target_fa_per_hour)
    hours = calibration.false_accepts.hours
    summary = {"keyword": name, "classes": classes, "threshold": calibration.thresholds[name],
               "calibration_hours": round(hours, 3), "calibration_false_accepts": calibration.false_accepts.count,
               "calibration_recall": 1 - calibration.misses.rate if calibration.misses else None,
               "calibration_positives": len(positives), "holdout_voices": holdout, "near_misses": near,
               "validation_accuracy": result.valid_log[-1]["accuracy"]}
    _say(f"[4/4] threshold {summary['threshold']:.2f}: {calibration.false_accepts.count} false accepts in "
         f"{hours * 60:.1f} min of held-out negatives, recall {summary['calibration_recall']:.2f} on "
         f"{len(positives)} held-out takes; writing {out}")
    _write_model(final, out, calibration.thresholds,
                 {k: summary[k] for k in ("calibration_hours", "calibration_false_accepts", "calibration_recall",
                                          "holdout_voices")} | {"target_fa_per_hour": target_fa_per_hour})
    export_steps(out)
    summary.update(seconds=round(time.perf_counter() - started, 1), cpu_seconds=round(time.process_time() - cpu0, 1))
    return summary
