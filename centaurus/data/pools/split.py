"""The one rule that decides which pool clips are held out for validation.

The dynamic mixer trains only on `training_clips`; `centaurus data validation` builds only from the held-out
rest. The rule is a pure function of (pool name, group or noise family), so it needs no state and cannot drift
between the two users. Whole speakers, voice packs and noise families are held out, never single files, so a
validation number measures unseen voices and unseen kinds of noise:

- speech: the English groups of klettres and ktuberling (the only real Speech Commands words in the pools) and one
  other language of each, three English hedgewars packs and one non-English one, three Warzone 2100 voices, the
  alsa speaker, the Dutch big fish of fillets and a hashed quarter of its minor characters;
- noise: Wesnoth's music (the only unseen music source; Widelands' music trains), real babble of held-out
  speakers, 0 A.D.'s interface sounds, animals and weather ambience, Widelands' animals, the deepin theme.

Pools not named here (TTS voices, anything new) are all training: validation uses real recordings only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from centaurus.data.pools.manifest import PoolClip, read_manifest

TRAIN, VALID = "train", "valid"


@dataclass(frozen=True)
class HoldOut:
    groups: frozenset[str] = frozenset()
    families: frozenset[str] = frozenset()
    everything: bool = False  # the whole pool is validation (one speaker that validation needs)
    fraction: float = 0.0  # of the groups not listed and not in `keep`, held out by a hash of (pool, group)
    keep: frozenset[str] = frozenset()  # groups that always train (the bulk of a pool)


RULES: dict[str, HoldOut] = {
    "speech-fillets": HoldOut(groups=frozenset({"nl/v"}), fraction=0.25,
                              keep=frozenset({"cs/m", "cs/v", "nl/m"})),
    "speech-klettres": HoldOut(groups=frozenset({"en", "en_GB", "fr"})),
    "speech-ktuberling": HoldOut(groups=frozenset({"en", "ru"})),
    "speech-hedgewars": HoldOut(groups=frozenset({"British", "HillBilly", "Surfer", "Default_pl"})),
    "speech-warzone": HoldOut(groups=frozenset({"taunts/taunt2", "coltive", "extra"})),
    "speech-alsa": HoldOut(everything=True),
    "noise-0ad": HoldOut(families=frozenset({"ambient/weather", "interface", "actor/fauna"})),
    "noise-wesnoth": HoldOut(families=frozenset({"music"})),
    "noise-widelands": HoldOut(families=frozenset({"animals"})),
    "noise-themes": HoldOut(groups=frozenset({"deepin"})),
    "noise-generated": HoldOut(families=frozenset({"babble-heldout"})),
}


def _hash_unit(pool: str, group: str) -> float:
    """A number in [0, 1) fixed by (pool, group): the same on every machine and Python."""
    digest = hashlib.sha256(f"{pool}\0{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def is_held_out(pool: str, *, group: str, family: str = "") -> bool:
    """Whether clips of `group` (and noise `family`) in `pool` belong to validation."""
    rule = RULES.get(pool)
    if rule is None:
        return False
    if rule.everything or group in rule.groups or family in rule.families:
        return True
    return group not in rule.keep and _hash_unit(pool, group) < rule.fraction


def split_of(pool: str, clip: PoolClip) -> str:
    """"train" or "valid" for one clip of the pool named `pool`."""
    return VALID if is_held_out(pool, group=clip.group, family=clip.family) else TRAIN


def _clips_of(pool_dir: str | Path, split: str) -> list[PoolClip]:
    pool_dir = Path(pool_dir)
    return [c for c in read_manifest(pool_dir) if split_of(pool_dir.name, c) == split]


def training_clips(pool_dir: str | Path) -> list[PoolClip]:
    """The clips of one pool folder (named after its pool) that training may use."""
    return _clips_of(pool_dir, TRAIN)


def validation_clips(pool_dir: str | Path) -> list[PoolClip]:
    """The held-out clips of one pool folder: only validation builds from these."""
    return _clips_of(pool_dir, VALID)
