"""`centaurus lm OUT.json [--data ROOT [--split S ...]] [--text FILE ...] [--order N]`: a character n-gram
language model for CTC beam search, counted from LibriSpeech transcripts and/or text files."""
from pathlib import Path

import typer


def lm(out: Path = typer.Argument(..., help="The model file to write (JSON)."),
       data: Path | None = typer.Option(None, help="LibriSpeech root whose transcripts to count."),
       split: list[str] = typer.Option(["train-clean-100"], help="LibriSpeech split(s) under --data."),
       text: list[Path] = typer.Option([], help="Text file(s), one sentence per line."),
       order: int = typer.Option(5, min=1, max=12, help="Characters of context plus one.")) -> None:
    """Count a character n-gram language model; use it with `centaurus transcribe --beam 8 --lm OUT.json`."""
    from centaurus.data import list_utterances, normalize_text
    from centaurus.errors import CentaurusError
    from centaurus.tasks.lm import CharNgram
    if data is None and not text:
        raise typer.BadParameter("give --data ROOT and/or --text FILE")
    if any(out.resolve() == path.resolve() for path in text):
        raise CentaurusError(f"{out}: is one of the --text inputs; choose another output file")
    sentences = [u.text for s in split for u in list_utterances(data, split=s)] if data is not None else []
    for path in text:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise CentaurusError(f"{path}: cannot read as UTF-8 text ({err.__class__.__name__})") from None
        sentences += [normalized for line in lines if (normalized := normalize_text(line))]
    if not sentences:
        raise CentaurusError("no sentences to count")
    model = CharNgram.train(sentences, order=order)
    model.save(out)
    typer.echo(f"{out}: order {order}, {len(sentences)} sentences, {sum(map(len, sentences))} characters, "
               f"{len(model.counts)} histories, {len(model.words)} words")
