"""The real-speech and real-noise pools: which files of which Debian package, with what group, language, family
and transcript. Each function lists `Source`s from the packages' extracted (or installed) trees."""
from __future__ import annotations

import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from centaurus.data.pools.convert import AUDIO_SUFFIXES, BuildContext, Source, audio_files
from centaurus.data.pools.extract import DEFAULT_CACHE
from centaurus.errors import DatasetError


def package_audio(ctx: BuildContext, package: str, under: str, *, members: tuple[str, ...] = ()) -> tuple[
        Path, list[Path], str]:
    """(root, audio files of `package` below root/`under`, licence). For an installed package (root "/") only
    the files that `dpkg -L` lists are taken, so other packages' files in the same folder stay out."""
    root = ctx.root(package, members=members)
    folder = root / under
    if root == Path("/"):
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False).stdout
        files = sorted(Path(line) for line in listed.splitlines()
                       if line.startswith(f"/{under}/") and Path(line).suffix.lower() in AUDIO_SUFFIXES)
        files = [f for f in files if f.is_file()]
    else:
        files = audio_files(folder) if folder.is_dir() else []
    if not files:
        raise DatasetError(f"package {package}: no audio files under {folder}")
    return root, files, ctx.licence(package, root)


def zip_audio(archive: Path, unpacked: Path, select: Callable[[str], str | None]) -> list[tuple[Path, str, str]]:
    """Unpack the audio members of a zip (games keep their data in one) that `select` maps to a group into
    `unpacked` (kept for later runs); returns (file, member name, group) for each, sorted by name."""
    out = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                group = select(info.filename)
                if group is None or Path(info.filename).suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                target = unpacked / info.filename
                if not target.is_file():
                    zf.extract(info, unpacked)
                out.append((target, info.filename, group))
    except (zipfile.BadZipFile, OSError) as err:
        raise DatasetError(f"{archive}: cannot read it as a zip archive ({err})") from None
    return out


# --- real speech -------------------------------------------------------------------------------------------

def fillets(ctx: BuildContext) -> list[Source]:
    """Fish Fillets NG dialogue, Czech and Dutch. Files are `<level>/<lang>/<lv>-<speaker>-<line>.ogg`; the
    group is `<lang>/<speaker>` ("m" the small fish, "v" the big fish, other codes the level's characters)."""
    out = []
    for lang in ("cs", "nl"):
        package = f"fillets-ng-data-{lang}"
        _, files, licence = package_audio(ctx, package, "usr/share/games/fillets-ng/sound")
        for f in files:
            if f.parent.name != lang:
                continue
            parts = f.stem.split("-")
            speaker = parts[1] if len(parts) >= 3 and parts[1] else "other"
            out.append(Source(str(f), f"{lang}/{f.parent.parent.name}/{f.stem}", package, licence,
                              f"{lang}/{speaker}", lang))
    return out


def klettres(ctx: BuildContext) -> list[Source]:
    """KLettres letters and syllables/words: `<lang>/{alpha,syllab}/<text>.ogg`; one group per language folder
    (each is one or two speakers). The file name is the text."""
    _, files, licence = package_audio(ctx, "klettres-data", "usr/share/klettres")
    out = []
    for f in files:
        lang, part = f.parent.parent.name, f.parent.name
        if part not in ("alpha", "syllab"):
            continue
        out.append(Source(str(f), f"{lang}/{part}/{f.stem}", "klettres-data", licence, lang,
                          lang.split("_")[0], text="" if re.search(r"[0-9]", f.stem) else f.stem.lower()))
    return out


KTUBERLING_THEMES = ("robot_workshop_", "butterflies_", "pizzeria_", "patata_", "egypt_", "moon_", "xmas_", "tv_")


def ktuberling_text(stem: str) -> str:
    """"pizzeria_tomato" -> "tomato": the English file names are the spoken word after the playground's name."""
    for prefix in KTUBERLING_THEMES:
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
            break
    return stem.replace("_", " ").replace("-", " ").lower()


def ktuberling(ctx: BuildContext) -> list[Source]:
    """KTuberling object names, one speaker per language folder `sounds/<lang>/`. File names are English, so
    only the English folder's names are its transcript."""
    _, files, licence = package_audio(ctx, "ktuberling-data", "usr/share/ktuberling/sounds")
    return [Source(str(f), f"{f.parent.name}/{f.stem}", "ktuberling-data", licence, f.parent.name,
                   f.parent.name.split("@")[0], text=ktuberling_text(f.stem) if f.parent.name == "en" else "")
            for f in files]


HEDGEWARS_LANGS = {"Default_es": "es", "Default_pl": "pl", "Default_ru": "ru", "Default_uk": "uk",
                   "Russian_pl": "pl"}
# Phrase file names that run words together ("Takecover"); the others are one word. None: not a word.
HEDGEWARS_WORDS = {"takecover": "take cover", "watchthis": "watch this", "watchit": "watch it", "byebye": "bye bye",
                   "yessir": "yes sir", "runaway": "run away", "flyaway": "fly away", "solong": "so long",
                   "ohdear": "oh dear", "justyouwait": "just you wait", "comeonthen": "come on then",
                   "gonnagetyou": "gonna get you", "illgetyou": "i'll get you", "thisoneismine": "this one is mine",
                   "whatthe": "what the", "firstblood": "first blood", "leavemealone": "leave me alone",
                   "sameteam": "same team", "youllregretthat": "you'll regret that", "cutitout": "cut it out",
                   "enemydown": "enemy down", "nooo": "no", "laugh": None, "hmm": None, "poisonmoan": None,
                   "poisoncough": None}


def hedgewars_text(stem: str) -> str:
    """"TakeCover"/"Takecover" -> "take cover"; "" for numbered or hyphenated non-words ("Ow1", "Uh-oh")."""
    if re.search(r"[0-9\-]", stem):
        return ""
    key = stem.lower()
    if key in HEDGEWARS_WORDS:
        return HEDGEWARS_WORDS[key] or ""
    return " ".join(re.findall(r"[A-Z][a-z']*|[a-z']+", stem)).lower()


def hedgewars(ctx: BuildContext) -> list[Source]:
    """Hedgewars voice packs `Data/Sounds/voices/<pack>/<Phrase>.ogg`: one acted voice per pack (the group).
    English packs carry the phrase as text; the other languages' file names are English, so no text."""
    _, files, licence = package_audio(ctx, "hedgewars-data", "usr/share/games/hedgewars/Data/Sounds/voices")
    out = []
    for f in files:
        pack = f.parent.name
        lang = HEDGEWARS_LANGS.get(pack, "en")
        out.append(Source(str(f), f"{pack}/{f.stem}", "hedgewars-data", licence, pack, lang,
                          text=hedgewars_text(f.stem) if lang == "en" else ""))
    return out


def alsa(ctx: BuildContext) -> list[Source]:
    """alsa-utils' speaker-test voice: "Front_Left.wav" says "front left" (one speaker). Noise.wav is noise."""
    _, files, licence = package_audio(ctx, "alsa-utils", "usr/share/sounds/alsa")
    return [Source(str(f), f.stem, "alsa-utils", licence, "alsa", "en", text=f.stem.replace("_", " ").lower())
            for f in files if f.stem.lower() != "noise"]


WARZONE_SKIP = ("audio/sfx/", "audio/radclick/")  # weapon and interface effects, not speech


def warzone_group(name: str) -> str | None:
    """The group of a spoken line inside base.wz: its folder ("memressp", "taunts/taunt2", "sequence"), or
    None for what is not speech."""
    parts = name.split("/")
    if name.startswith("sequenceaudio/"):
        return "sequence"
    if parts[0] != "audio" or len(parts) < 3 or name.startswith(WARZONE_SKIP):
        return None
    return "/".join(parts[1:3]) if parts[1] == "taunts" and len(parts) > 3 else parts[1]


def warzone(ctx: BuildContext) -> list[Source]:
    """Warzone 2100's spoken lines inside `base.wz` (a zip): messages, tutorial, taunts, briefings. They are
    unpacked into the cache; the group is the folder inside the archive (one voice or role each); no text."""
    root = ctx.root("warzone2100-data")
    archive = root / "usr/share/games/warzone2100/base.wz"
    if not archive.is_file():
        raise DatasetError(f"package warzone2100-data: {archive} is missing")
    licence = ctx.licence("warzone2100-data", root)
    found = zip_audio(archive, (ctx.cache or DEFAULT_CACHE) / "warzone2100-voice", warzone_group)
    if not found:
        raise DatasetError(f"package warzone2100-data: no voice lines in {archive}")
    return [Source(str(f), str(Path(name).with_suffix("")), "warzone2100-data", licence, group, "en")
            for f, name, group in found]


# --- real noise --------------------------------------------------------------------------------------------

ZEROAD_ZIP = "usr/share/games/0ad/mods/public/public.zip"
ZEROAD_SKIP = ("music", "voice")  # the soundtrack and units' spoken acknowledgements are not noise


def zeroad_family(name: str) -> str | None:
    """"audio/ambient/night/owl.ogg" -> "ambient/night": the folder below `audio/`, one level deeper for
    `ambient` and `actor` so that whole kinds of sound can be held out; None outside audio/ or for speech."""
    parts = name.split("/")
    if parts[0] != "audio" or len(parts) < 3 or parts[1] in ZEROAD_SKIP:
        return None
    return "/".join(parts[1:3]) if parts[1] in ("ambient", "actor") and len(parts) > 3 else parts[1]


def noise_0ad(ctx: BuildContext) -> list[Source]:
    """0 A.D. ambience and foley from `audio/` inside the public mod's zip (unpacked into the cache)."""
    root = ctx.root("0ad-data", members=(f"./{ZEROAD_ZIP}",))
    archive = root / ZEROAD_ZIP
    if not archive.is_file():
        raise DatasetError(f"package 0ad-data: {archive} is missing")
    licence = ctx.licence("0ad-data", root)
    found = zip_audio(archive, (ctx.cache or DEFAULT_CACHE) / "0ad-audio", zeroad_family)
    return [Source(str(f), str(Path(name).relative_to("audio").with_suffix("")), "0ad-data", licence, family,
                   kind="noise", family=family) for f, name, family in found]


WESNOTH = "usr/share/games/wesnoth/1.16/data/core"


def noise_wesnoth(ctx: BuildContext) -> list[Source]:
    """Wesnoth's ambient loops (wesnoth-1.16-data) and its music (wesnoth-1.16-music)."""
    out = []
    for package, folder, family in (("wesnoth-1.16-data", "sounds/ambient", "ambient"),
                                    ("wesnoth-1.16-music", "music", "music")):
        members = (f"./{WESNOTH}/{folder}/",)
        _, files, licence = package_audio(ctx, package, f"{WESNOTH}/{folder}", members=members)
        out += [Source(str(f), f"{family}/{f.stem}", package, licence, family, kind="noise", family=family)
                for f in files]
    return out


WIDELANDS = "usr/share/games/widelands/data"


def noise_widelands(ctx: BuildContext) -> list[Source]:
    """Widelands' music and work/animal sounds; the family is "music" or the sound's folder."""
    root, files, licence = package_audio(ctx, "widelands-data", WIDELANDS,
                                         members=(f"./{WIDELANDS}/music/", f"./{WIDELANDS}/sound/",
                                                  f"./{WIDELANDS}/world/critters/"))
    out = []
    for f in files:
        rel = f.relative_to(root / WIDELANDS)
        if rel.parts[0] == "music":
            family = "music"
        elif rel.parts[0] == "sound":
            family = rel.parts[1] if len(rel.parts) > 2 else "sound"
        elif rel.parts[0] == "world":
            family = "critters"
        else:
            continue
        out.append(Source(str(f), str(rel.with_suffix("")), "widelands-data", licence, family, kind="noise",
                          family=family))
    return out


THEMES = {"freedesktop": "sound-theme-freedesktop", "oxygen": "oxygen-sounds", "lomiri": "lomiri-sounds",
          "yaru": "yaru-theme-sound", "deepin": "deepin-sound-theme"}


def noise_themes(ctx: BuildContext) -> list[Source]:
    """Desktop sound themes (alerts, bells, log-in tunes): family "ui", one group per theme."""
    out = []
    for theme, package in THEMES.items():
        root, files, licence = package_audio(ctx, package, "usr/share/sounds")
        out += [Source(str(f), f"{theme}/{f.relative_to(root / 'usr/share/sounds').with_suffix('')}", package, licence, theme, kind="noise", family="ui")
                for f in files]
    return out
