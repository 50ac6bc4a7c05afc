import numpy as np
import onnxruntime as ort
import pytest
import torch

from centaurus.errors import CentaurusError
from centaurus.models import CentaurusClassifier, CentaurusHourglass, ClassifierConfig, HourglassConfig, MiniCentaur
from centaurus.streaming import export_onnx, initial_state


def _models():
    classifier = CentaurusClassifier(ClassifierConfig(channels=[8, 16], downsample=[4, 2], num_classes=4,
                                                      mode=["full", "neck"]))
    classifier.train()
    with torch.no_grad():
        for _ in range(3):
            classifier(torch.randn(4, 1, 256))  # non-trivial BatchNorm statistics
    return [("hourglass", CentaurusHourglass(HourglassConfig(channels=[4, 8], downsample=[4, 2],
                                                             mode=["s5", "dws", "neck"]))),
            ("classifier", classifier), ("mini", MiniCentaur())]


@pytest.mark.parametrize("name,model", _models())
def test_onnx_step_streams_like_pytorch(name, model, tmp_path):
    model.eval()
    T = 32
    path = tmp_path / f"{name}.onnx"
    graph = export_onnx(model, path, chunk_samples=T)
    session = ort.InferenceSession(str(path))
    x = torch.randn(1, 1, T * 9)
    torch_state, states = None, [s.numpy() for s in initial_state(graph)]
    for chunk in x.split(T, -1):
        with torch.no_grad():
            expected, torch_state = model(chunk, torch_state)
        feeds = {"audio": chunk.numpy(), **{f"state_{i}": s for i, s in enumerate(states)}}
        output, *states = session.run(None, feeds)
        np.testing.assert_allclose(output, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert not any(p.suffix == ".tmp" for p in tmp_path.iterdir())
    assert not any(m.training for m in model.modules())  # exporting leaves the model as it found it


def test_chunk_must_be_a_multiple_of_the_downsampling_factor(tmp_path):
    with pytest.raises(CentaurusError, match="multiple of the model's down-sampling factor 8"):
        export_onnx(MiniCentaur(), tmp_path / "m.onnx", chunk_samples=12)


def test_chunks_that_leave_pending_samples_are_refused(tmp_path):
    from centaurus import StreamingSequential
    from centaurus.layers import AvgPool, SSMLayer
    model = StreamingSequential(SSMLayer(4, 1, 2, mode="s5", norm=None), AvgPool(4))  # no declared factor
    with pytest.raises(CentaurusError, match="pending samples change"):
        export_onnx(model, tmp_path / "m.onnx", chunk_samples=6)
    export_onnx(model, tmp_path / "m.onnx", chunk_samples=8)


def test_a_step_stores_the_poles_not_the_chunk_plans(tmp_path):
    """The graph builds its chunk plans when onnxruntime loads it. Stored, the plans of this model grow 50-fold
    from 32- to 1024-sample chunks (about T²/b numbers a pole); built in the graph, only the plans' index
    constants grow with T."""
    model = CentaurusHourglass(HourglassConfig(channels=[16, 32], downsample=[4, 2], mode=["s5", "dws", "full"]))
    model.eval()
    sizes = []
    for T in (32, 1024):
        export_onnx(model, tmp_path / f"{T}.onnx", chunk_samples=T)
        sizes.append((tmp_path / f"{T}.onnx").stat().st_size)
    assert sizes[1] < 3 * sizes[0], sizes
