"""Centaurus CTC models (each greedy, and beam search with its language model) against pocketsphinx 5 on a
LibriSpeech-layout folder, every system pinned to one core, in one run.

    python benchmarks/asr_peers.py [--data DIR] [--split SPLIT ...] [--model NAME|PATH ...] [--beam 16]
        [--lm PATH|none] [--chunk-ms 40] [--core N] [--limit N] [--out DIR]

DIR holds <split>/<speaker>/<chapter>/*.flac with <speaker>-<chapter>.trans.txt (default: every LibriSpeech
split found in it; default DIR: data/validation/asr in the repository, made by `centaurus data validation`).
Each system transcribes every utterance in one process of its own, pinned to one core with one thread per
library, so its whole-process RTF (wall time over audio seconds: start-up, model load, file reading, compute,
decoding) is what a user pays; compute RTF counts the transcription calls only. The Centaurus model streams as
`centaurus transcribe` does (audio pushed in 0.5 s blocks, chunks of --chunk-ms); beam search uses the LM and
weights of `centaurus transcribe` (the model's lm.json, weight 0.5, bonus 1.0, out-of-lexicon penalty 2.0).
pocketsphinx decodes each whole utterance with the US English acoustic model, dictionary and 3-gram LM its wheel
bundles. References and hypotheses are both normalised as the ASR task normalises text; CER and WER are jiwer's,
pooled over the utterances, and again by reference length (single words, 2-3 words, 4 or more). Writes
results.json and results.md under --out.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from centaurus.atomic import write_text
from centaurus.errors import CentaurusError, DatasetError

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
DEFAULT_DATA = ROOT / "data" / "validation" / "asr"
BLOCK_S = 0.5  # what `centaurus transcribe` pushes at a time


def read16(path: str) -> np.ndarray:
    """A whole file as float32 mono at 16 kHz (the project's reader: its errors name the file)."""
    from centaurus.audio.files import iter_samples
    return np.concatenate([np.zeros(0, np.float32), *iter_samples(path, block_samples=1 << 20)])


# ---------------------------------------------------------------- systems (run inside a pinned worker)

class Centaurus:
    """`centaurus transcribe`'s path: a streaming `Transcriber`, greedy or beam search with the LM."""

    def __init__(self, model: str, beam: int, lm: str | None, chunk_ms: float):
        import torch

        from centaurus.streaming.transcribe import Transcriber
        from centaurus.tasks.lm import CharNgram, lm_scorer
        from centaurus.training import load_model, resolve_checkpoint
        torch.set_num_threads(1)
        self.torch = torch
        _, task, network, _ = load_model(resolve_checkpoint(model))
        scorer = None if lm is None else lm_scorer(CharNgram.load(lm), task.tokenizer, weight=0.5, bonus=1.0,
                                                   oov_penalty=2.0)
        self.transcriber = Transcriber(network, beam_width=beam, scorer=scorer, chunk_ms=chunk_ms)

    def __call__(self, audio: np.ndarray) -> str:
        self.transcriber.reset()
        for start in range(0, audio.shape[0], round(BLOCK_S * RATE)):
            self.transcriber.push(self.torch.from_numpy(audio[start:start + round(BLOCK_S * RATE)]))
        return self.transcriber.finish()


class PocketSphinx:
    """pocketsphinx 5 with its bundled en-us model, on the whole utterance."""

    def __init__(self):
        from pocketsphinx import Decoder
        self.decoder = Decoder(samprate=RATE, loglevel="FATAL")

    def __call__(self, audio: np.ndarray) -> str:
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def run_worker(spec_json: str, jobs_path: str, result_path: str) -> None:
    spec = json.loads(spec_json)
    system = PocketSphinx() if spec["kind"] == "pocketsphinx" else Centaurus(
        spec["model"], spec["beam"], spec["lm"], spec["chunk_ms"])
    hyps, compute, seconds = [], 0.0, 0.0
    for path in json.loads(Path(jobs_path).read_text()):
        audio = read16(path)
        seconds += audio.shape[0] / RATE
        start = time.perf_counter()
        hyps.append(system(audio))
        compute += time.perf_counter() - start
    write_text(result_path, json.dumps(dict(hyps=hyps, compute_seconds=compute, audio_seconds=seconds)))


# ---------------------------------------------------------------- driver

def pinned(args: list[str], core: int) -> tuple[float, subprocess.CompletedProcess]:
    """This script with `args` in a process pinned to `core` from its start, one thread per library."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False,
                          preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    return time.perf_counter() - start, proc


def find_utterances(root: Path, splits: list[str] | None, limit: int | None) -> dict[str, list]:
    from centaurus.data.librispeech import SPLITS, list_utterances
    splits = splits or [s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise DatasetError(f"{root}: not a LibriSpeech-layout root: none of {', '.join(SPLITS)} in it")
    return {split: list_utterances(root, split=split)[:limit or None] for split in splits}


def error_rates(refs: list[str], hyps: list[str]) -> dict[str, float]:
    import jiwer

    from centaurus.data.text import normalize_text
    refs, hyps = [normalize_text(t) for t in refs], [normalize_text(t) for t in hyps]
    return {"cer": float(jiwer.cer(refs, hyps)), "wer": float(jiwer.wer(refs, hyps)),
            "words": sum(len(r.split()) for r in refs)}


# Real validation sets mix single words, short phrases and read sentences, on which systems differ most: a
# recogniser that inserts letters around a single word loses on words and may still win on sentences.
LENGTHS = (("1 word", 1, 1), ("2-3 words", 2, 3), ("4+ words", 4, None))


def length_groups(refs: list[str], hyps: dict[str, list[str]]) -> dict[str, dict[str, dict]]:
    """{group: {system: rates (with utterances)}} over the utterances whose reference has that many words."""
    from centaurus.data.text import normalize_text
    counts = [len(normalize_text(r).split()) for r in refs]
    groups = {}
    for name, low, high in LENGTHS:
        picked = [i for i, n in enumerate(counts) if n >= low and (high is None or n <= high)]
        if picked:
            groups[name] = {who: dict(utterances=len(picked), **error_rates([refs[i] for i in picked],
                                                                             [h[i] for i in picked]))
                            for who, h in hyps.items()}
    return groups


def markdown(results: dict) -> str:
    lines = [f"# Speech recognition against pocketsphinx ({results['date']})", "",
             *[f"- {n}" for n in results["notes"]]]
    for split, table in results["splits"].items():
        first = next(iter(table.values()))
        lines += ["", f"## {split} ({first['utterances']} utterances, {first['words']} words)", "",
                  "| system | CER | WER | whole-process RTF | compute RTF |", "|---|---|---|---|---|"]
        for who, row in table.items():
            cost = results["cost"][who]
            lines.append(f"| {who} | {row['cer']:.1%} | {row['wer']:.1%} | {cost['rtf']:.3f} | "
                         f"{cost['compute_rtf']:.3f} |")
        groups = results["by_length"][split]
        lines += ["", "By reference length: CER / WER", "", "| system | " + " | ".join(
            f"{g} ({next(iter(rows.values()))['utterances']})" for g, rows in groups.items()) + " |",
            "|---|" + "---|" * len(groups)]
        for who in table:
            lines.append(f"| {who} | " + " | ".join(f"{rows[who]['cer']:.1%} / {rows[who]['wer']:.1%}"
                                                  for rows in groups.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help=f"LibriSpeech-layout root (default {DEFAULT_DATA})")
    parser.add_argument("--split", action="append", help="split folder (repeatable; default: all found)")
    parser.add_argument("--model", action="append",
                        help="shipped name or checkpoint folder (repeatable; default: asr-offline)")
    parser.add_argument("--beam", type=int, default=16, help="beam width of the beam-search system")
    parser.add_argument("--lm", help="character LM for beam search (default: the model's lm.json; 'none': without)")
    parser.add_argument("--chunk-ms", type=float, default=40.0, help="streaming chunk (transcribe's default)")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)), help="the core every system runs on")
    parser.add_argument("--limit", type=int, help="at most this many utterances per split")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "peers" / "asr")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.worker:
            return run_worker(*args.worker)
        benchmark(args)
    except CentaurusError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def benchmark(args) -> None:
    from centaurus.training.pretrained import model_label, resolve_checkpoint
    if args.data is None:
        if not DEFAULT_DATA.is_dir():
            raise DatasetError(f"{DEFAULT_DATA}: no validation set here; pass --data DIR (a LibriSpeech-layout root: "
                               "<split>/<speaker>/<chapter>/*.flac with <speaker>-<chapter>.trans.txt)")
        args.data = DEFAULT_DATA
    if importlib.util.find_spec("pocketsphinx") is None:
        raise CentaurusError("the peer pocketsphinx needs the module pocketsphinx: pip install -e '.[peers]'")
    utterances = find_utterances(args.data, args.split, args.limit)
    specs, lms = {}, {}
    for model in args.model or ["asr-offline"]:
        lm = args.lm
        if lm is None:
            lm = resolve_checkpoint(model) / "lm.json"
            lm = str(lm) if lm.is_file() else None
        elif lm == "none":
            lm = None
        name = model_label(model)
        lms[name] = lm
        base = dict(kind="centaurus", model=model, chunk_ms=args.chunk_ms)
        specs[f"centaurus {name} greedy"] = dict(base, beam=1, lm=None)
        specs[f"centaurus {name} beam {args.beam}" + (" + LM" if lm else "")] = dict(base, beam=args.beam, lm=lm)
    specs["pocketsphinx 5 (en-us)"] = dict(kind="pocketsphinx")
    paths = [str(u.path) for split in utterances.values() for u in split]
    refs = [u.text for split in utterances.values() for u in split]
    cost, hyps = {}, {}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        jobs = Path(scratch) / "jobs.json"
        jobs.write_text(json.dumps(paths))
        for who, spec in specs.items():
            print(f"{who}: transcribing {len(paths)} utterances on core {args.core} ...", flush=True)
            result = Path(scratch) / "result.json"
            wall, proc = pinned(["--worker", json.dumps(spec), str(jobs), str(result)], args.core)
            if proc.returncode:
                raise CentaurusError(f"{who}: " + (proc.stderr.strip().splitlines() or ["failed"])[-1])
            r = json.loads(result.read_text())
            hyps[who] = r["hyps"]
            cost[who] = dict(wall_seconds=wall, audio_seconds=r["audio_seconds"], rtf=wall / r["audio_seconds"],
                             compute_rtf=r["compute_seconds"] / r["audio_seconds"])
    splits, by_length, offset = {}, {}, 0
    for split, items in utterances.items():
        n = len(items)
        splits[split] = {who: dict(utterances=n, **error_rates(refs[offset:offset + n], h[offset:offset + n]))
                         for who, h in hyps.items()}
        by_length[split] = length_groups(refs[offset:offset + n], {w: h[offset:offset + n] for w, h in hyps.items()})
        offset += n
    notes = [f"every system in its own process pinned to core {args.core}, one thread; RTF = process wall time "
             "(start-up, model load, reading, compute, decoding) / audio seconds; compute RTF: the transcription "
             "calls only",
             f"Centaurus streams {args.chunk_ms:g} ms chunks as `centaurus transcribe` does; beam search LM: "
             + "; ".join(f"{name}: {lm or 'none'}" for name, lm in lms.items())
             + " (weight 0.5, bonus 1.0, out-of-lexicon penalty 2.0)",
             "pocketsphinx: the en-us acoustic model, cmudict and 3-gram LM bundled in its wheel, whole utterances",
             "CER/WER: jiwer, pooled over the utterances, on normalised text (a-z, apostrophe, single spaces)",
             f"data: {args.data}"]
    results = dict(date=time.strftime("%Y-%m-%d %H:%M"), notes=notes, cost=cost, splits=splits, by_length=by_length,
                   utterances=[dict(path=p, ref=r, **{w: hyps[w][i] for w in hyps})
                               for i, (p, r) in enumerate(zip(paths, refs))])
    write_text(args.out / "results.json", json.dumps(results, indent=1))
    text = markdown(results)
    write_text(args.out / "results.md", text)
    print(text)
    print(f"wrote {args.out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
