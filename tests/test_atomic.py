import os
import stat
import subprocess
import sys

import pytest

from centaurus.atomic import remove_temporaries, write_text


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


def test_a_process_killed_mid_write_leaves_a_temporary_that_remove_temporaries_sweeps(tmp_path):
    target, other = tmp_path / "out.wav", tmp_path / "other.wav"
    for path in (target, other):
        path.write_text("old")
    code = ("import os, sys; from centaurus.atomic import replacing\n"
            "for name in sys.argv[1:]:\n"
            "    with replacing(name) as tmp:\n"
            "        tmp.write_text('half')\n"
            "        if name.endswith('out.wav'): os._exit(9)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(other), str(target)])
    assert killed.returncode == 9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 3 and left[0].startswith(".out.wav.") and left[0].endswith(".tmp"), left
    remove_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.wav", "out.wav"]
    assert target.read_text() == "old" and other.read_text() == "half"


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
