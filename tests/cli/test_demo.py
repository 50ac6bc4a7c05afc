"""`centaurus demo` end to end on the bundled samples: the shipped keyword spotter, and untrained denoiser and
CTC checkpoints standing in for models not shipped yet (the demo's output is checked, not their quality)."""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from centaurus_cli.demo import samples_dir

from centaurus.training import load_recipe
from centaurus.training.checkpoint import FORMAT, VERSION, write_checkpoint

RECIPES = {task: Path(__file__).parents[2] / "recipes" / task / "offline.yaml" for task in ("denoise", "asr")}


def _demo(*args, cwd):
    # Wide enough that rich never wraps a row of the summary.
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", "demo", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """Checkpoint folders of randomly initialised models built from the offline recipes."""
    root = tmp_path_factory.mktemp("untrained")
    folders = {}
    for task, path in RECIPES.items():
        recipe = load_recipe(path)
        built = recipe.build_task()
        config = {"format": FORMAT, "version": VERSION, "task": built.name, "model_config": built.model_config(),
                  "recipe": recipe.model_dump(mode="json")}
        folders[task] = write_checkpoint(root, task, weights=built.build_model().state_dict(), config=config,
                                         state={}, state_json={})
    return folders


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _row(stdout, label):
    """The result cell of the summary row labelled `label`."""
    match = re.search(rf"│\s*{re.escape(label)}\s*│([^│]*)│", stdout)
    assert match, f"no {label!r} row in:\n{stdout}"
    return match.group(1).strip()


def test_demo_runs_the_three_steps_on_the_bundled_samples(untrained, tmp_path):
    samples = samples_dir()
    before = _digests(samples)
    done = _demo("--denoiser", untrained["denoise"], "--asr", untrained["asr"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "demo-output"                                   # the default, in the current folder
    enhanced, noisy = sf.info(out / "noisy_speech.denoised.wav"), sf.info(samples / "noisy_speech.flac")
    assert (enhanced.frames, enhanced.samplerate) == (noisy.frames, noisy.samplerate)
    assert (out / "spectrograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _digests(samples) == before                               # inputs never touched
    for step in ("denoise", "kws", "asr"):
        assert re.search(rf"│ {step}\s", done.stdout)
    assert done.stdout.count("│ status") == 3 and "FAILED" not in done.stdout
    scores = r"PESQ-WB \S+ → \S+ · STOI \S+ → \S+ · SI-SDR \S+ → \S+ dB"
    assert re.fullmatch(scores, _row(done.stdout, "noisy → enhanced"))
    assert _row(done.stdout, "spectrograms") == "demo-output/spectrograms.png"
    expected = (samples / "keywords.txt").read_text().split()
    assert re.findall(r"(\w+) [\d.]+ s \(", _row(done.stdout, "detections")) == expected == ["yes", "stop", "left",
                                                                                             "seven"]
    assert _row(done.stdout, "reference") == (samples / "utterance.txt").read_text().strip()
    assert 0 <= float(_row(done.stdout, "CER")) and done.stdout.count("RTF") == 3


def test_a_missing_or_wrong_model_fails_its_step_only_in_one_line(tmp_path):
    done = _demo("--denoiser", "kws-offline", "--asr", tmp_path / "missing", "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    denoise, asr = done.stderr.splitlines()
    assert denoise.startswith("error: denoise: ") and denoise.endswith("is a 'kws' model, not 'denoise'")
    assert asr.startswith(f"error: asr: {tmp_path / 'missing'}: neither a checkpoint folder nor a shipped model")
    assert done.stdout.count("FAILED") == 2 and "yes stop left seven" in done.stdout   # kws still ran


def test_demo_never_writes_into_the_samples(tmp_path):
    done = _demo("--out", samples_dir(), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "bundled samples folder" in done.stderr


def test_mini_streaming_check():
    done = _demo("--mini", cwd=None)
    assert done.returncode == 0, done.stderr
    assert "4000 / 4000" in done.stdout and "max |streamed − one-shot|" in done.stdout   # 2 s at 16 kHz, / 8
