"""`centaurus kws detect FILE...`: keyword detections with timestamps in recordings of any length."""
from pathlib import Path

import typer

kws_app = typer.Typer(help="Keyword spotting on recordings.", no_args_is_help=True)


@kws_app.command()
def detect(files: list[Path] = typer.Argument(..., help="Recordings (any format, rate or channel count)."),
           model: str = typer.Option("kws-offline", help="Shipped model name or checkpoint folder."),
           keywords: str | None = typer.Option(None, help="Comma-separated keywords (default: all words)."),
           threshold: float = typer.Option(0.8, help="Smoothed probability at which a keyword fires."),
           refractory: float = typer.Option(1.0, help="Seconds after a detection during which none fires."),
           context: str = typer.Option("window", help="'window': each posterior from a zero state (clip-trained "
                                                      "models); 'stream': carried state (stream-trained models)."),
           chunk_ms: float = typer.Option(40.0, help="Streaming chunk length in milliseconds.")) -> None:
    """Stream each file through the keyword spotter and print one line per detection."""
    from centaurus.audio import iter_blocks
    from centaurus.streaming import KeywordSpotter
    from centaurus.training import load_model, resolve_checkpoint
    _, task, network, _ = load_model(resolve_checkpoint(model))
    wanted = [k.strip() for k in keywords.split(",")] if keywords else None
    try:
        spotter = KeywordSpotter(network, task.classes, keywords=wanted, threshold=threshold,
                                 refractory_s=refractory, context=context, chunk_ms=chunk_ms)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    for path in files:
        spotter.reset()
        found = []
        for block in iter_blocks(path, block_samples=160000, sample_rate=16000):
            found += spotter.push(block)
        found += spotter.flush()
        for d in found:
            typer.echo(f"{path}\t{d.time_s:8.2f} s\t{d.keyword}\t{d.confidence:.2f}")
        typer.echo(f"{path}: {len(found)} detection(s)")
