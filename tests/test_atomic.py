import os
import stat

import pytest

from centaurus.atomic import write_text


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_what_was_there_and_removes_its_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # a folder cannot be replaced by a file
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_text(target, "new")
    assert (target / "inside").read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_written_files_get_the_umasks_permissions_not_mkstemps_0600(umask, tmp_path):
    import torch

    from centaurus.audio import save_audio
    from centaurus.training.checkpoint import MODEL_FILE, write_checkpoint
    write_text(tmp_path / "report.json", "{}")
    save_audio(tmp_path / "clip.wav", torch.zeros(160), 16000)
    save_audio(tmp_path / "clip.flac", torch.zeros(160), 16000)
    folder = write_checkpoint(tmp_path / "ckpt", "step-1", weights={"w": torch.zeros(2)}, config={},
                              state={"s": torch.zeros(1)}, state_json={})
    files = [tmp_path / "report.json", tmp_path / "clip.wav", tmp_path / "clip.flac", folder / MODEL_FILE]
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(0o666 & ~umask)}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
