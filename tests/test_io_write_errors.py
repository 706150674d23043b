"""A failed checkpoint write (full disk, read-only folder) is one clear error, exit code 2, and
the previous checkpoint stays byte for byte; simulated by making the write itself fail."""

from __future__ import annotations

import errno
import tempfile

import pytest
import torch
from typer.testing import CliRunner

from reidkit.commands.app import app
from reidkit.errors import OutputError
from reidkit.models.identity import IdentityEncoder
from reidkit.runs import load_stage, save_stage

runner = CliRunner()


def _disk_full(obj, handle, *args, **kwargs):
    """torch.save that gets part of the way, then meets a full disk."""
    handle.write(b"PK\x03\x04 half a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")


def _disk_full_inside_torch(obj, handle, *args, **kwargs):
    """What torch's own writer does: the OSError surfaces wrapped in a RuntimeError."""
    try:
        handle.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from None


def _write(path, epoch):
    save_stage(path, stage="warmup", models={"E_id": {"w": torch.full((3,), float(epoch))}},
               config={"size": [64, 32]}, epoch=epoch)


@pytest.mark.parametrize("failure", [_disk_full, _disk_full_inside_torch])
def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch, failure):
    path = tmp_path / "run" / "warmup.pt"
    _write(path, 1)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", failure)
    with pytest.raises(OutputError) as caught:
        _write(path, 2)
    assert str(path) in str(caught.value) and "No space left on device" in str(caught.value)
    assert "free disk space" in caught.value.fix
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json", "warmup.pt"]
    monkeypatch.undo()
    assert load_stage(path)["epoch"] == 1


def test_read_only_folder_names_the_fix(tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(OutputError) as caught:
        _write(tmp_path / "warmup.pt", 1)
    assert "read-only" in caught.value.fix and caught.value.path == tmp_path / "warmup.pt"


def test_a_bug_in_saving_keeps_its_traceback(tmp_path, monkeypatch):
    def broken(obj, handle, *args, **kwargs):
        raise RuntimeError("not a disk problem")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="not a disk problem"):
        _write(tmp_path / "warmup.pt", 1)
    assert list(tmp_path.iterdir()) == []


def test_cli_exits_2_with_one_message_and_the_old_file(tmp_path, monkeypatch):
    torch.save({"id": IdentityEncoder("resnet18").state_dict()}, tmp_path / "id.pt")
    out = tmp_path / "run" / "warmup.pt"
    args = ["import", "--out", str(out), "--id", str(tmp_path / "id.pt"), "--stage", "warmup"]
    assert runner.invoke(app, args).exit_code == 0
    before = out.read_bytes()
    monkeypatch.setattr(torch, "save", _disk_full)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "cannot write warmup.pt (No space left on device)" in text and "fix:" in text
    assert "".join(str(out).split()) in "".join(result.output.split())
    assert "Traceback" not in result.output
    assert out.read_bytes() == before


def test_a_full_disk_while_appending_a_metrics_line_is_an_output_error(tmp_path, monkeypatch):
    from pathlib import Path

    from reidkit.io import append_line

    log = tmp_path / "warmup-metrics.jsonl"
    append_line('{"epoch": 1}', log)
    real_open = Path.open

    def full(self, *args, **kwargs):
        if self == log:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full)
    with pytest.raises(OutputError) as caught:
        append_line('{"epoch": 2}', log)
    assert caught.value.path == log and "free disk space" in caught.value.fix
    monkeypatch.undo()
    assert log.read_text(encoding="utf-8") == '{"epoch": 1}\n'
