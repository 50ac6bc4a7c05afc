"""`centaurus data pools OUT`: build every pool (or `--only` some) into OUT/<name>/.

A builder takes (folder to write clips into, `BuildContext`) and returns the clips it wrote; this module writes
the manifest, so a pool folder with a manifest is complete. Each pool is built in a hidden temporary folder that
is renamed into place at the end, and a pool already built is left as it is. A pool whose package cannot be had
reports one line and the others still build.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from centaurus.data.builders.common import parallel_map
from centaurus.data.pools import real, tts
from centaurus.data.pools.convert import BuildContext, Source, convert
from centaurus.data.pools.generated import build_generated
from centaurus.data.pools.manifest import MANIFEST, PoolClip, read_manifest, write_manifest
from centaurus.data.pools.split import VALID, split_of
from centaurus.errors import CentaurusError, DatasetError

Builder = Callable[[Path, BuildContext], list[PoolClip]]


def from_sources(name: str, list_sources: Callable[[BuildContext], list[Source]]) -> Builder:
    """A builder that converts the files that `list_sources` names, `ctx.workers` at a time."""
    def build(out: Path, ctx: BuildContext) -> list[PoolClip]:
        sources = list_sources(ctx)
        results = parallel_map(convert, [(s, out) for s in sources], workers=ctx.workers, description=name)
        skipped = sum(1 for r in results if not r)
        if skipped:
            ctx.notes.append(f"{name}: skipped {skipped} of {len(sources)} files (broken, silent or < 0.1 s)")
        return [clip for r in results for clip in r]
    return build


# Real speech first: the babble of noise-generated is made from the speech pools built before it.
POOLS: dict[str, Builder] = {
    "speech-fillets": from_sources("speech-fillets", real.fillets),
    "speech-klettres": from_sources("speech-klettres", real.klettres),
    "speech-ktuberling": from_sources("speech-ktuberling", real.ktuberling),
    "speech-hedgewars": from_sources("speech-hedgewars", real.hedgewars),
    "speech-warzone": from_sources("speech-warzone", real.warzone),
    "speech-alsa": from_sources("speech-alsa", real.alsa),
    **{f"tts-{engine}": tts.pool_builder(engine) for engine in tts.ENGINES},
    "noise-0ad": from_sources("noise-0ad", real.noise_0ad),
    "noise-wesnoth": from_sources("noise-wesnoth", real.noise_wesnoth),
    "noise-widelands": from_sources("noise-widelands", real.noise_widelands),
    "noise-themes": from_sources("noise-themes", real.noise_themes),
    "noise-generated": build_generated,
}
LAST = ("noise-generated",)


@dataclass(frozen=True)
class PoolSummary:
    name: str
    clips: int
    hours: float
    groups: int
    valid_groups: int
    valid_hours: float
    built: bool  # False: it was there already

    def line(self) -> str:
        state = "built" if self.built else "already there"
        return (f"{self.name}: {self.clips} clips, {self.hours:.3f} h, {self.groups} groups "
                f"({self.valid_groups} held out: {self.valid_hours * 60:.1f} min) [{state}]")


def summarize(name: str, folder: Path, *, built: bool) -> PoolSummary:
    clips = read_manifest(folder)
    valid = [c for c in clips if split_of(name, c) == VALID]
    return PoolSummary(name, len(clips), sum(c.duration for c in clips) / 3600, len({c.group for c in clips}),
                       len({c.group for c in valid}), sum(c.duration for c in valid) / 3600, built)


def build_pool(name: str, out_dir: str | Path, ctx: BuildContext) -> PoolSummary:
    """Build pool `name` into `out_dir/name/` (skipped when its manifest is there already)."""
    if name not in POOLS:
        raise DatasetError(f"unknown pool {name!r}; known: {', '.join(POOLS)}")
    final = Path(out_dir) / name
    if (final / MANIFEST).is_file():
        return summarize(name, final, built=False)
    if final.exists():
        raise DatasetError(f"{final}: exists without a {MANIFEST}; remove it or give another OUT folder")
    tmp = Path(out_dir) / f".{name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)  # left by an interrupted build
    tmp.mkdir(parents=True)
    try:
        clips = POOLS[name](tmp, ctx)
        if not clips:
            raise DatasetError(f"{name}: no usable clips")
        write_manifest(tmp, clips)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summarize(name, final, built=True)


def build_pools(out_dir: str | Path, *, only: Sequence[str] = (), ctx: BuildContext | None = None,
                report: Callable[[str], None] = print) -> list[PoolSummary]:
    """Build the named pools (all when `only` is empty) in order, speech before generated noise. A pool that
    fails with a `CentaurusError` (e.g. its package is missing) is reported in one line and skipped."""
    ctx = ctx or BuildContext()
    ctx.pools_dir = Path(out_dir)
    unknown = [n for n in only if n not in POOLS]
    if unknown:
        raise DatasetError(f"unknown pool(s) {', '.join(unknown)}; known: {', '.join(POOLS)}")
    names = [n for n in POOLS if not only or n in only]
    names = [n for n in names if n not in LAST] + [n for n in names if n in LAST]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in names:
        ctx.notes.clear()
        try:
            summary = build_pool(name, out_dir, ctx)
        except CentaurusError as err:
            report(f"{name}: not built: {err}")
            continue
        summaries.append(summary)
        report(summary.line())
        for note in ctx.notes:
            report(f"  {note}")
    return summaries
