"""The command line reads well (`--version`, `-h`, flag pairs, `info`'s split, export's chunk) and takes keyword
datasets with words of their own: real processes throughout."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from centaurus.audio import load_audio, save_audio
from centaurus.data.speech_commands import fit_clip
from centaurus.training import load_model, train, validate_recipe

CLASSES = ("_silence_", "hello", "world")  # sorted folder names
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan")


def _cli(*args, cwd=None, timeout=300):
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def _speak(text: str, path, *, voice: str, pitch: int, speed: int) -> torch.Tensor:
    """`text` spoken by espeak-ng, as 16 kHz samples."""
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
                   check=True, capture_output=True)
    return load_audio(path)


def make_custom_kws(root, *, speakers: int = 18):
    """Speech Commands layout with the words `hello` and `world` in espeak-ng voices at scattered pitches and
    rates, and `_silence_` (faint noise: the class that never fires); every third speaker is held out,
    alternately for validation and test."""
    lists = {"validation": [], "test": []}
    rng = np.random.default_rng(0)
    raw = root.parent / "raw.wav"
    for word in CLASSES:
        for s in range(speakers):
            if word == "_silence_":
                wav = torch.zeros(0)
            else:
                wav = _speak(word, raw, voice=VOICES[s % len(VOICES)], pitch=20 + 37 * s % 60, speed=120 + 53 * s % 90)
            start = int(rng.integers(0, 3000))
            clip = fit_clip(torch.cat([torch.zeros(start), wav])) + rng.uniform(0.001, 0.01) * torch.randn(16000)
            rel = f"{word}/s{s}_nohash_0.wav"
            save_audio(root / rel, clip, 16000)
            if s % 3 == 2:
                lists["validation" if s % 6 == 2 else "test"].append(rel)
    (root / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["validation"]))
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["test"]))
    return root


@pytest.fixture(scope="module")
def custom_kws(tmp_path_factory):
    """A spotter of two words trained on a dataset of its own words (task 'folders')."""
    tmp = tmp_path_factory.mktemp("custom-kws")
    root = make_custom_kws(tmp / "data")
    recipe = {"name": "hello-world", "task": "kws", "data": {"root": str(root), "task": "folders"},
              "model": {"frontend": "logmel", "channels": [32, 32], "downsample": [2, 2], "num_states": 8,
                        "state_blocks": 2},
              "optim": {"lr": 0.01, "ssm_lr": 0.005}, "schedule": {"warmup_steps": 3},
              "trainer": {"epochs": 16, "batch_size": 8, "log_every": 1, "checkpoint_every": 100,
                          "out_dir": str(tmp / "run")},
              "expected": {"metric": "accuracy"}, "hardware": {"description": "2 CPU cores"}}
    result = train(validate_recipe(recipe, source="t"), device="cpu", progress=False)
    return root, result


@pytest.mark.slow  # ~50 s: espeak-ng corpus, 64 training steps, an eval process
def test_a_kws_dataset_of_any_words_trains_with_its_folders_as_classes(custom_kws, tmp_path):
    root, result = custom_kws
    _, task, _, ckpt = load_model(result.best_checkpoint)
    assert ckpt.config["model_config"]["classes"] == list(CLASSES) and task.classes == CLASSES
    assert result.best_metric >= 0.75, result.valid_log
    # A folder added to the data later changes nothing about the trained model's classes.
    (root / "extra").mkdir()
    try:
        assert load_model(result.best_checkpoint)[1].classes == CLASSES
    finally:
        (root / "extra").rmdir()
    done = _cli("eval", result.best_checkpoint, "--split", "test", "--device", "cpu", "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["classes"] == list(CLASSES) and report["metrics"]["examples"] == 9
    assert report["metrics"]["accuracy"] >= 0.75, report["metrics"]  # chance: 1/3


@pytest.mark.slow  # two detect processes on the trained model
def test_kws_detect_uses_the_classes_stored_in_the_model(custom_kws, tmp_path):
    _, result = custom_kws
    speech = torch.cat([torch.zeros(8000), _speak("hello", tmp_path / "raw.wav", voice="en-us", pitch=50, speed=140),
                        torch.zeros(16000)])
    save_audio(tmp_path / "hello.wav", speech, 16000)
    done = _cli("kws", "detect", tmp_path / "hello.wav", "--model", result.best_checkpoint, "--threshold", "0.5")
    assert done.returncode == 0, done.stderr
    # A model this small may mistake the word, but it can only name its own (the 35-word set is not assumed).
    heard = [line.split("\t")[2] for line in done.stdout.splitlines() if line.count("\t") == 3]
    assert set(heard) <= {"hello", "world"} and done.stdout.endswith(f"{len(heard)} detection(s)\n"), done.stdout
    wrong = _cli("kws", "detect", tmp_path / "hello.wav", "--model", result.best_checkpoint, "--keywords", "yes")
    assert wrong.returncode == 2 and "it knows hello, world" in wrong.stderr, wrong.stderr


def test_an_unexpected_folder_in_a_speech_commands_root_points_to_the_folders_task(tmp_path):
    from centaurus.data import SpeechCommands
    from centaurus.errors import DatasetError
    (tmp_path / "hello").mkdir()
    with pytest.raises(DatasetError, match="unexpected folder 'hello' \\(for words of your own, set data.task: "
                                           "folders\\)"):
        SpeechCommands(tmp_path, split="train", task="35")


def test_version_and_short_help_everywhere():
    from centaurus import __version__
    done = _cli("--version")
    assert done.returncode == 0 and done.stdout == f"centaurus {__version__}\n", done.stderr
    for command in ([], ["kws"], ["kws", "detect"], ["data", "kws"], ["denoise"]):
        shown = _cli(*command, "-h")
        assert shown.returncode == 0 and "-h, --help" in shown.stdout, (command, shown.stderr)
    flags = _cli("denoise", "-h").stdout
    assert "--mic " in flags and "--force / --no-force" in flags and "<bool>" not in flags, flags


def test_no_command_shows_a_flag_as_taking_a_bool():
    from centaurus_cli.main import app
    from typer.main import get_command
    from typer.testing import CliRunner

    def paths(group, prefix=()):
        for name, command in getattr(group, "commands", {}).items():
            yield (*prefix, name)
            yield from paths(command, (*prefix, name))

    every = list(paths(get_command(app)))
    assert ("kws", "listen") in every and ("eval",) in every
    for path in every:
        shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
        assert "<bool>" not in shown and "-h, --help" in shown, (path, shown)


def test_info_names_the_split_of_its_metrics():
    done = _cli("info", "kws-offline")
    assert done.returncode == 0, done.stderr
    assert "metrics on the valid split at step " in done.stdout and '"accuracy": ' in done.stdout


def test_export_streams_a_denoiser_in_16_ms_chunks_by_default(tmp_path):
    from centaurus.training import load_recipe
    from centaurus.training.checkpoint import FORMAT, VERSION, write_checkpoint
    from tests.tasks.test_tasks_learn import MASKER
    recipe = load_recipe(os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "denoise", "offline.yaml"),
                         [f"model={json.dumps(MASKER)}"])
    task = recipe.build_task()
    config = {"format": FORMAT, "version": VERSION, "task": task.name, "model_config": task.model_config(),
              "recipe": recipe.model_dump(mode="json")}
    folder = write_checkpoint(tmp_path, "untrained", weights=task.build_model().state_dict(), config=config,
                              state={}, state_json={})
    done = _cli("export", folder, "--onnx", tmp_path / "step.onnx")
    assert done.returncode == 0, done.stderr
    assert "chunks of 256 samples (16 ms)" in done.stdout, done.stdout
