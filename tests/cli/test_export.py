"""`centaurus export` on a really trained tiny keyword spotter, checked chunk by chunk in onnxruntime."""
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from centaurus.audio import load_audio
from centaurus.streaming import initial_state, step_graph
from centaurus.training import load_model, train, validate_recipe
from tests.training.corpora import make_kws
from tests.training.test_trainer import kws_recipe


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "centaurus_cli.main", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
def test_export_cli_streams_like_pytorch(tmp_path):
    root = make_kws(tmp_path / "kws", train=4)
    recipe = kws_recipe(root, tmp_path / "run", epochs=1)
    result = train(validate_recipe(recipe, source="t"), device="cpu", progress=False)
    out = tmp_path / "kws.onnx"
    done = _cli("export", str(result.best_checkpoint), "--onnx", str(out), "--chunk-ms", "40")
    assert done.returncode == 0, done.stderr
    assert "chunks of 640 samples" in done.stdout
    again = _cli("export", str(result.best_checkpoint), "--onnx", str(out))
    assert again.returncode == 2 and again.stderr.startswith("error:") and "--force" in again.stderr

    _, _, model, _ = load_model(result.best_checkpoint)
    clip = load_audio(next(root.glob("*/*.wav")))
    session = ort.InferenceSession(str(out))
    names = [i.name for i in session.get_inputs()][1:]
    zeros = initial_state(step_graph(model, chunk_samples=640))
    states = [z.numpy() for z in zeros]
    torch_state = step_graph(model, chunk_samples=640).model_state(zeros)  # the same start in PyTorch
    for chunk in torch.nn.functional.pad(clip, (0, 640 * 26 - clip.shape[0])).split(640):
        with torch.no_grad():
            expected, torch_state = model(chunk[None, None], torch_state)
        output, *states = session.run(None, {"audio": chunk[None, None].numpy(), **dict(zip(names, states))})
        np.testing.assert_allclose(output, expected.numpy(), rtol=1e-4, atol=1e-4)

    refused = _cli("export", str(result.best_checkpoint), "--onnx", str(tmp_path / "odd.onnx"), "--chunk-ms", "13")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr and "multiple" in refused.stderr
