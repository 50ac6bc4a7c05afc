"""`centaurus data asr`: a LibriSpeech layout of WordNet example sentences spoken by offline TTS voices.

Each speaker is one `<speaker>/<chapter>` folder; train-clean-100, dev-clean and test-clean hold disjoint
speakers and disjoint sentences. Transcripts are written upper-case as in LibriSpeech and normalise to
letters, apostrophe and space. Like LibriSpeech's separate LM corpus, `librispeech-lm-norm.txt` holds text
for language models: every usable sentence except those of dev-clean and test-clean.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

from centaurus.audio import save_audio
from centaurus.data.builders.common import (
    SAMPLE_RATE,
    TTS_TOOLS,
    Voice,
    parallel_map,
    pick_voices,
    prepare_out_dir,
    require,
    synthesize,
    write_info,
)
from centaurus.data.text import normalize_text
from centaurus.errors import DatasetError

WORDNET = Path("/usr/share/wordnet")
SPLITS = ("train-clean-100", "dev-clean", "test-clean")
LM_TEXT = "librispeech-lm-norm.txt"
# Only sentences whose every character is spoken as written, so the audio matches the normalised text.
_SPEAKABLE = re.compile(r"[A-Za-z][A-Za-z' ,;:.!?-]*")


def wordnet_sentences(*, min_words: int = 4, max_words: int = 20) -> list[str]:
    """Sorted distinct example sentences quoted in WordNet's glosses (`data.noun/verb/adj/adv`)."""
    sentences = set()
    for part in ("noun", "verb", "adj", "adv"):
        for quoted in re.findall(r'"([^"]+)"', (WORDNET / f"data.{part}").read_text(encoding="latin-1")):
            text = quoted.strip()
            if _SPEAKABLE.fullmatch(text) and min_words <= len(text.split()) <= max_words:
                sentences.add(text)
    return sorted(sentences)


@dataclass(frozen=True)
class _ChapterJob:
    voice: Voice
    folder: Path
    speaker: int
    chapter: int
    sentences: tuple[str, ...]


def _read_chapter(job: _ChapterJob) -> float:
    """Write one speaker's flacs and `.trans.txt`; returns the seconds of audio written."""
    job.folder.mkdir(parents=True, exist_ok=True)
    lines, seconds = [], 0.0
    for k, (text, wav) in enumerate(zip(job.sentences, synthesize(job.voice, job.sentences))):
        utt = f"{job.speaker}-{job.chapter}-{k:04d}"
        save_audio(job.folder / f"{utt}.flac", 0.9 * wav / wav.abs().max().clamp_min(1e-4), SAMPLE_RATE)
        lines.append(f"{utt} {normalize_text(text).upper()}\n")
        seconds += wav.shape[0] / SAMPLE_RATE
    (job.folder / f"{job.speaker}-{job.chapter}.trans.txt").write_text("".join(lines))
    return seconds


def build_asr(out_dir: str | Path, *, speakers: int = 40, utterances: int = 25, seed: int = 0, workers: int = 2,
              held_out: float = 0.1) -> dict:
    """Build the corpus into an empty `out_dir`; `held_out` of the speakers (at least one) go to dev and to test."""
    require({**TTS_TOOLS, str(WORDNET / "data.noun"): "wordnet-base"})
    if speakers < 3:
        raise ValueError("asr needs at least 3 speakers (train, dev and test are speaker-disjoint)")
    sentences = wordnet_sentences()
    if len(sentences) < speakers * utterances:
        raise DatasetError(f"{WORDNET}: only {len(sentences)} usable sentences for {speakers * utterances} "
                           "utterances; ask for fewer")
    out = prepare_out_dir(Path(out_dir))
    start = time.perf_counter()
    rng = random.Random(seed)
    rng.shuffle(sentences)
    voices = pick_voices(speakers, seed=seed)
    rng.shuffle(voices)  # pick_voices lists espeak first; mix engines across splits
    n_held = max(1, round(held_out * speakers))
    split_of = ["dev-clean"] * n_held + ["test-clean"] * n_held + ["train-clean-100"] * (speakers - 2 * n_held)
    jobs = []
    for i, (voice, split) in enumerate(zip(voices, split_of)):
        speaker, chapter = 1000 + 7 * i, 100 + i
        chosen = tuple(sentences[i * utterances:(i + 1) * utterances])
        jobs.append(_ChapterJob(voice, out / split / str(speaker) / str(chapter), speaker, chapter, chosen))
    seconds = parallel_map(_read_chapter, jobs, workers=workers, description="asr: speakers")
    held = {text for job, split in zip(jobs, split_of) if split != "train-clean-100" for text in job.sentences}
    lm_text = [normalize_text(text).upper() for text in sentences if text not in held]
    (out / LM_TEXT).write_text("".join(f"{line}\n" for line in lm_text))
    per_split = {s: {"clips": 0, "hours": 0.0, "speakers": []} for s in SPLITS}
    for job, sec, split in zip(jobs, seconds, split_of):
        per_split[split]["clips"] += len(job.sentences)
        per_split[split]["hours"] += sec / 3600
        per_split[split]["speakers"].append(job.speaker)
    info = {
        "corpus": "LibriSpeech layout (synthetic)", "builder": "asr", "layout": "librispeech", "seed": seed,
        "sample_rate": SAMPLE_RATE, "splits": per_split,
        "voices": {job.speaker: f"{job.voice.engine}:{job.voice.name} pitch={job.voice.pitch} "
                                f"tempo={job.voice.tempo}" for job in jobs},
        "clips": speakers * utterances, "hours": sum(seconds) / 3600, "lm_text_sentences": len(lm_text),
        "build_seconds": round(time.perf_counter() - start, 1),
        "sources": [
            {"name": "WordNet 3.0 example sentences (wordnet-base)", "licence": "WordNet licence (BSD-like)"},
            {"name": "espeak-ng", "licence": "GPL-3+"},
            {"name": "flite (kal, kal16, awb, rms, slt)", "licence": "BSD-like (CMU)"},
            {"name": "festival + festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts",
             "licence": "MIT-like / free (see /usr/share/doc)"},
        ],
    }
    write_info(out, info)
    return info
