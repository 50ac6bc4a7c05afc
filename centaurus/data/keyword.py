"""Data for a keyword of your own (`centaurus kws train-keyword`): near-misses of the phrase, the phrase and its
negatives spoken by every offline TTS voice installed (cached pools, see `centaurus.data.pools.tts`), and a
Speech Commands-layout folder of held-out voices for validation.

Near-misses are made from the spelling, which every TTS engine reads aloud whether or not it is a word:
- prefixes and tails: the first word or words, the last word, a word cut after its first vowel group or
  missing its first one ("incom", "coming");
- one sound changed: a word's first vowel swapped ("oncoming"), its opening consonants swapped ("domputer";
  never added before a vowel, which would keep the whole word), its ending swapped ("incomer", "computed");
- one word swapped, in phrases of several words, for a near-miss of it ("hey commuter");
- everyday words that share the word's first three or last three letters, from a small word list.
"""
from __future__ import annotations

import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from centaurus.data.builders.common import ESPEAK_LANGS, ESPEAK_VARIANTS, FESTIVAL_VOICES, FLITE_VOICES, ToolMissing
from centaurus.data.pools.manifest import read_manifest
from centaurus.data.pools.tts import NEAR_MISS, build_tts_pool
from centaurus.data.speech_commands import SC35_WORDS, SILENCE, UNKNOWN
from centaurus.errors import DatasetError

VOWELS = "aeiouy"
_ONSETS = ("b", "d", "m", "s", "t", "w", "p", "g", "fl", "pr", "st")
_SAME_SOUND = ({"c", "k", "ck", "q", "ch"}, {"s", "c"}, {"f", "ph"}, {"w", "wh"}, {"j", "g"})
_ENDINGS = ("er", "ed", "ing", "y", "s", "ion")
# Everyday words beside the Speech Commands words and the TTS pools' near-miss list: a lexicon to find words
# that share letters with the phrase.
_LEXICON = tuple(sorted(set(SC35_WORDS) | {w for w in NEAR_MISS if " " not in w} | {
    "income", "coming", "common", "commuter", "computing", "company", "comet", "hay", "hate", "heavy",
    "become", "becoming", "welcome", "outcome", "incoming", "ingot", "input", "inside", "into", "incline",
    "honey", "hockey", "jockey", "key", "okay", "today", "away", "weather", "letter", "better", "butter",
    "matter", "master", "mister", "monster", "hamster", "temper", "timber", "amber", "member", "camera",
    "cinema", "salad", "ballad", "market", "pocket", "rocket", "ticket", "basket", "carpet", "garden",
    "pardon", "partner", "planet", "plenty", "pretty", "party", "parcel", "pencil", "person", "poster",
    "computer", "compose", "compute", "contour", "connect", "contest", "content", "control", "morning",
    "evening", "nothing", "something", "anything", "seven", "eleven", "twelve", "hello", "yellow", "mellow",
    "pillow", "willow", "window", "widow", "shadow", "meadow", "ginger", "finger", "singer", "dinner",
    "winner", "summer", "hammer", "number", "lumber", "cucumber", "remember", "november", "december",
}))


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces: "Take-cover!" and "take cover" are alike."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def class_name(phrase: str) -> str:
    """The phrase as a class and folder name: its words joined by hyphens ("hey-computer")."""
    name = "-".join(normalise(phrase).split())
    if not name:
        raise DatasetError(f"keyword {phrase!r}: no letters or digits to say")
    return name


def _onset(word: str) -> tuple[str, str]:
    """(leading consonants, rest)."""
    match = re.match(rf"[^{VOWELS}]*", word)
    return match.group(), word[match.end():]


def _same_sound(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _SAME_SOUND)


def _word_variants(word: str) -> list[str]:
    """Spellings one sound away from `word`, then its prefixes and tails, then lexicon words sharing letters."""
    onset, rest = _onset(word)
    out = []
    if rest:
        first = rest[0]
        out += [onset + v + rest[1:] for v in "aeiou" if v != first]
        if onset:  # a consonant before a vowel-initial word would hold the whole word ("b" + "incoming")
            out += [o + rest for o in _ONSETS if not _same_sound(o, onset)]
    for ending in _ENDINGS:
        for cut in (3, 2, 1):
            if len(word) > cut + 2 and not word.endswith(ending):
                out.append(word[:-cut] + ending)
                break
    groups = re.findall(rf"[^{VOWELS}]*[{VOWELS}]+", word)
    if len(groups) >= 2:
        out += ["".join(groups[:-1]) if len(groups) > 2 else groups[0] + _onset(groups[1])[0],
                word[len(groups[0]):]]
    if len(word) >= 4:
        out += [w for w in _LEXICON if w != word and (w[:3] == word[:3] or w[-3:] == word[-3:])]
    return [w for w in dict.fromkeys(out) if w != word and len(w) >= 2]


def near_misses(phrase: str, *, count: int = 24, seed: int = 0) -> list[str]:
    """About `count` texts close to `phrase` in sound but not it (see the module docstring), deterministic."""
    words = normalise(phrase).split()
    if not words:
        raise DatasetError(f"keyword {phrase!r}: no letters or digits to say")
    candidates: list[str] = []
    if len(words) > 1:
        candidates += [" ".join(words[:-1]), words[-1], words[0], " ".join(reversed(words))]
        for i, word in enumerate(words):
            for variant in _word_variants(word)[:8]:
                candidates.append(" ".join(words[:i] + [variant] + words[i + 1:]))
    else:
        candidates += _word_variants(words[0])
    unique = [c for c in dict.fromkeys(candidates) if c != " ".join(words)]
    if len(unique) <= count:
        return unique
    # Keep the first few of each kind (the closest), then a seeded sample of the rest.
    head = unique[:count // 2]
    tail = random.Random(f"near-miss-{seed}-{phrase}").sample(unique[count // 2:], count - len(head))
    return head + tail


@dataclass(frozen=True)
class VoicePlan:
    """One engine's share of the synthesis: every voice says the phrase, `negative_voices` say the rest;
    `holdout` (one of those) is kept out of training, for validation and calibration."""

    engine: str
    voices: str  # `select_voices` syntax
    negative_voices: str
    holdout: str = ""
    negatives: int | None = None  # say only the first this many negatives (the near-misses come first)

    @property
    def holdout_group(self) -> str:
        """The held-out voice's group in the engine's pool, "" for none."""
        return f"tts-{self.engine}/{self.engine}-{self.holdout}" if self.holdout else ""


def default_plans(*, kokoro_blends: int = 16, near_miss_count: int = 24) -> list[VoicePlan]:
    """Every engine; Kokoro, neural and about 50 times slower than the rest, says only the near-misses, and
    in three voices."""
    espeak = [f"{ESPEAK_LANGS[i % len(ESPEAK_LANGS)]}+{v}" for i, v in enumerate(ESPEAK_VARIANTS)]
    return [
        VoicePlan("kokoro", f"native,blends:{kokoro_blends}" if kokoro_blends else "native",
                  "af_heart,am_michael,af_bella", holdout="af_bella", negatives=near_miss_count),
        VoicePlan("piper", "all", "all"),
        VoicePlan("mbrola", "all", "us1,us2,en1,de1-en,fr1-en", holdout="fr1-en"),
        VoicePlan("pico", "all", "all"),
        VoicePlan("flite", "all", ",".join(FLITE_VOICES[:3]), holdout=FLITE_VOICES[2]),
        VoicePlan("festival", "all", ",".join(FESTIVAL_VOICES[:2]), holdout=FESTIVAL_VOICES[1]),
        VoicePlan("espeak", "all", ",".join(espeak[::3]), holdout=espeak[::3][-1]),
    ]


def _synthesise(job: tuple[VoicePlan, Path, tuple[str, ...], tuple[str, ...], str | None]) -> str:
    """Run one engine's plan into its cached pool `cache/tts-<engine>`; returns a line saying what happened."""
    plan, cache, positives, negatives, kokoro_cache = job
    out = cache / f"tts-{plan.engine}"
    try:
        build_tts_pool(plan.engine, out, positives, voices=plan.voices, kokoro_cache=kokoro_cache, log_every=50)
        if negatives and plan.negatives != 0:
            build_tts_pool(plan.engine, out, negatives[:plan.negatives], voices=plan.negative_voices, kokoro_cache=kokoro_cache,
                           log_every=50)
    except ToolMissing as err:
        return f"{plan.engine}: skipped ({str(err).splitlines()[0]})"
    clips = read_manifest(out)
    return f"{plan.engine}: {len(clips)} clips in {len({c.group for c in clips})} voices"


def synthesise(cache: str | Path, phrase: str, negatives: Sequence[str], *, plans: Sequence[VoicePlan],
               kokoro_cache: str | Path | None = None, workers: int = 2) -> list[str]:
    """The phrase in every voice of `plans`, the negatives in their negative voices, cached as TTS pools
    `cache/tts-<engine>` (only what is missing is made). Returns the pool names that hold clips. Kokoro gets a
    worker of its own, the other engines share the rest."""
    from centaurus.data.builders.common import parallel_map
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(p, cache, (phrase,), tuple(negatives), str(kokoro_cache) if kokoro_cache else None) for p in plans]
    for line in parallel_map(_synthesise, jobs, workers=min(workers, len(jobs)), description="synthesis"):
        print(line, flush=True)
    return [f"tts-{p.engine}" for p in plans if (cache / f"tts-{p.engine}" / "manifest.jsonl").is_file()
            and read_manifest(cache / f"tts-{p.engine}")]


def write_validation(root: str | Path, pools: dict[str, Path], *, keyword: str, holdout_groups: Sequence[str],
                     noise_clips: Sequence[Path], texts: Sequence[str]) -> dict[str, int]:
    """A Speech Commands-layout folder (task "folders") of the held-out voices: `<keyword>/` holds their
    takes of the phrase, `_unknown_/` their other `texts`, `_silence_/` the given noise clips; every file is in
    both validation_list.txt and testing_list.txt. Returns the count per class. Replaces `root` whole."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    phrase, wanted = normalise(keyword.replace("-", " ")), {normalise(t) for t in texts}
    listed: list[str] = []
    for pool, folder in pools.items():
        for clip in read_manifest(folder):
            if f"{pool}/{clip.group}" not in holdout_groups:
                continue
            text = normalise(clip.text)
            label = keyword if text == phrase else UNKNOWN if text in wanted else None
            if label is None:
                continue
            name = f"{label}/{pool}-{Path(clip.path).stem}.wav"
            (root / label).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / clip.path, root / name)
            listed.append(name)
    for i, path in enumerate(noise_clips):
        (root / SILENCE).mkdir(parents=True, exist_ok=True)
        name = f"{SILENCE}/noise-{i:03d}{Path(path).suffix}"
        shutil.copyfile(path, root / name)
        listed.append(name)
    counts = {label: sum(n.startswith(label + "/") for n in listed) for label in (keyword, UNKNOWN, SILENCE)}
    missing = [label for label, n in counts.items() if n == 0]
    if missing:
        raise DatasetError(f"{root}: the held-out voices give no {missing[0]} clip; hold out other voices")
    text = "".join(n + "\n" for n in sorted(listed))
    (root / "validation_list.txt").write_text(text)
    (root / "testing_list.txt").write_text(text)
    return counts
