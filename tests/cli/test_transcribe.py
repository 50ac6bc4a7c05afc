"""`centaurus transcribe` with a really trained tiny CTC model on real files: partial lines, then the final text
(equal to decoding the whole file at once); a terminal gets one rewritten line; bad input is one line, exit 2."""
import os
import pty
import shutil
import subprocess
import sys
from itertools import pairwise

import pytest
import torch

from centaurus.audio import load_audio
from centaurus.data import CHARACTERS
from centaurus.errors import RecipeError
from centaurus.tasks import greedy_decode, prefix_beam_search
from centaurus.tasks.lm import CharNgram, lm_scorer
from centaurus.training import evaluate_checkpoint, load_model
from tests.streaming.test_transcribe import tiny_asr

CLI = [sys.executable, "-m", "centaurus_cli.main", "transcribe"]


def _cli(*args):
    return subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    checkpoint, speech = tiny_asr(tmp_path_factory)
    _, _, model, _ = load_model(checkpoint)
    with torch.no_grad():
        one_shot = model(load_audio(speech)[None, None])[0]                 # (frames, vocab)
    return checkpoint, speech, one_shot


def test_partials_then_final_line_per_file(trained, tmp_path):
    checkpoint, speech, one_shot = trained
    expected = greedy_decode(one_shot[None], [one_shot.shape[0]])[0]
    copy = tmp_path / "again.wav"
    copy.write_bytes(speech.read_bytes())
    done = _cli(str(speech), str(copy), "--model", str(checkpoint), "--chunk-ms", "7")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"{copy}\t{expected}" and f"{speech}\t{expected}" in lines
    partials = [line.removeprefix("partial: ") for line in lines if line.startswith("partial: ")]
    assert len(partials) >= 4 and all(a != b for a, b in pairwise(partials))  # shown only on change
    assert all(expected.startswith(p) for p in partials)
    assert done.stderr.count("RTF") == 2


def test_beam_search_final_line(trained):
    checkpoint, speech, one_shot = trained
    done = _cli(str(speech), "--model", str(checkpoint), "--beam", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{speech}\t{prefix_beam_search(one_shot, beam_width=4)}"


def test_terminal_gets_one_rewritten_line(trained):
    checkpoint, speech, one_shot = trained
    expected = greedy_decode(one_shot[None], [one_shot.shape[0]])[0]
    leader, follower = pty.openpty()
    with subprocess.Popen([*CLI, str(speech), "--model", str(checkpoint)], stdout=follower,
                          stderr=subprocess.DEVNULL) as proc:
        os.close(follower)
        out = b""
        while chunk := _read(leader):
            out += chunk
    os.close(leader)
    assert proc.returncode == 0
    text = out.decode()
    assert "partial:" not in text and text.count("\r\x1b[K") >= 3
    assert text.endswith(f"\r\x1b[K{speech}\t{expected}\r\n")  # the terminal turns \n into \r\n


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # Linux reports the closed other end as EIO
        return b""


def test_bad_input_is_one_line_exit_2(trained, tmp_path):
    checkpoint = trained[0]
    empty, corrupt = tmp_path / "empty.wav", tmp_path / "corrupt.wav"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(256)))
    for path in (empty, corrupt):
        done = _cli(str(path), "--model", str(checkpoint))
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {path}") and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""


def test_files_and_mic_are_exclusive(trained):
    done = _cli(str(trained[1]), "--mic", "--model", str(trained[0]))
    assert done.returncode == 2 and "give either FILE... or --mic" in done.stderr and done.stdout == ""


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_language_model_built_from_transcripts_drives_beam_search(trained, tmp_path):
    """`centaurus lm` counts the corpus transcripts; transcribe and eval decode with it exactly as the library."""
    checkpoint, speech, one_shot = trained
    root = checkpoint.parents[2] / "data"
    extra = tmp_path / "more.txt"
    extra.write_text("Ab, CA!\n\nbac\n")
    out = tmp_path / "lm.json"
    built = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "lm", str(out), "--data", str(root),
                            "--text", str(extra), "--order", "3"], check=False, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "18 sentences" in built.stdout  # 16 transcripts and 2 text lines (the empty one is skipped)
    lm = CharNgram.load(out)
    assert lm.order == 3 and lm.logprob("ab ", "c") > lm.logprob("ab ", "'")
    scorer = lm_scorer(lm, CHARACTERS, weight=0.8, bonus=0.5, oov_penalty=2.0)  # transcribe's default penalty
    done = _cli(str(speech), "--model", str(checkpoint), "--beam", "4", "--lm", str(out), "--lm-weight", "0.8",
                "--lm-bonus", "0.5")
    assert done.returncode == 0, done.stderr
    with_lm = f"{speech}\t{prefix_beam_search(one_shot, beam_width=4, scorer=scorer)}"
    assert done.stdout.splitlines()[-1] == with_lm
    own = tmp_path / "model"  # a model folder with its own lm.json: beam search uses it unless told not to
    shutil.copytree(checkpoint, own)
    shutil.copy(out, own / "lm.json")
    without_lm = f"{speech}\t{prefix_beam_search(one_shot, beam_width=4)}"
    for extra_args, line in (([], with_lm), (["--lm", "none"], without_lm)):
        done = _cli(str(speech), "--model", str(own), "--beam", "4", "--lm-weight", "0.8", "--lm-bonus", "0.5",
                    *extra_args)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == line and ("lm.json" in done.stderr) == (not extra_args)

    _, task, model, _ = load_model(checkpoint)
    with torch.no_grad():
        frames = [model(load_audio(p)[None, None])[0] for p in sorted((root / "test-clean").rglob("*.flac"))]
    for penalty in (3.0, None):  # None: eval's default, the same 2.0 as transcribe's
        decode = {"beam_width": 4, "lm": str(out), **({} if penalty is None else {"lm_oov_penalty": penalty})}
        report = evaluate_checkpoint(checkpoint, split="test", out_dir=tmp_path / "eval", device="cpu", decode=decode)
        scorer = lm_scorer(lm, CHARACTERS, weight=0.5, bonus=1.0, oov_penalty=2.0 if penalty is None else penalty)
        assert [s["hyp"] for s in report["samples"]] == [prefix_beam_search(f, beam_width=4, scorer=scorer)
                                                         for f in frames]


def test_language_model_errors_are_one_line(trained, tmp_path):
    checkpoint, speech, _ = trained
    bad = tmp_path / "lm.json"
    bad.write_text("{}")
    old = tmp_path / "old.json"  # an LM written before the lexicon was stored: no default penalty without one
    old.write_text('{"kind": "char-ngram", "order": 1, "counts": {"": {"a": 1}}}')
    for args, message in ((["--lm", str(bad)], "--lm needs beam search"),
                          (["--beam", "4", "--lm", str(old)], "no lexicon"),
                          (["--beam", "4", "--lm", str(bad)], f"error: {bad}: not a Centaurus language model"),
                          (["--beam", "4", "--lm", str(tmp_path / "no.json")], "no such language model")):
        done = _cli(str(speech), "--model", str(checkpoint), *args)
        assert done.returncode == 2 and message in done.stderr and done.stdout == "", done.stderr
    assert _cli(str(speech), "--model", str(checkpoint), "--beam", "4", "--lm", str(old), "--lm-oov-penalty", "0"
                ).returncode == 0


def test_eval_decoding_options_are_validated(trained):
    with pytest.raises(RecipeError, match="decoding options: lm_weight"):
        evaluate_checkpoint(trained[0], split="test", device="cpu", decode={"lm_weight": -1.0})


def test_eval_of_a_shipped_model_by_name_writes_here_not_into_the_package(trained, tmp_path):
    from centaurus.training import resolve_checkpoint
    root = trained[0].parents[2] / "data"
    package = resolve_checkpoint("asr-offline")
    before = sorted(p.name for p in package.iterdir())
    done = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "eval", "asr-offline", "--data", str(root),
                           "--split", "test", "--device", "cpu"], cwd=tmp_path, check=False, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "eval-asr-offline-test" / "report.json").is_file() and "cer" in done.stdout
    assert sorted(p.name for p in package.iterdir()) == before
