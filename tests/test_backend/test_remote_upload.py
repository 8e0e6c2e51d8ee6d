"""Uploading a local preprocessed dataset to a target: a real LMDB dataset copied through the
test sshd (rsync, and tar over ssh), with progress, then checked there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dataset_helpers import make_lmdb_dataset
from remote_helpers import add_target
from remote_hosts import sshd  # noqa: F401  (a fixture)

from rave_gui.backend.errors import PreflightError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.dataset import read_dataset
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.remote.upload import UploadCancelled, upload_dataset
from rave_gui.cli import main


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


@pytest.mark.parametrize("method", ["tar", "rsync"])
def test_dataset_uploaded_with_progress_and_checked_there(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
    method: str,
) -> None:
    if method == "rsync" and shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    local = make_lmdb_dataset(tmp_path / "my strings", examples=400)
    total = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
    target = add_target(tm, sshd)
    seen: list[tuple[int, int]] = []
    res = upload_dataset(
        Connection(target), local, progress=lambda d, t: seen.append((d, t)), method=method
    )
    # the default place: the work folder's datasets/NAME (a name with a space survives)
    assert res.remote_path == str(Path(target.workdir) / "datasets" / "my strings")
    assert res.method == method and res.bytes_total == total and res.metadata["channels"] == 1
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert len(seen) > 2  # progress reported by the copy itself, not only its ends
    assert all(t == total for _d, t in seen)
    assert [d for d, _t in seen] == sorted(d for d, _t in seen)  # never goes back
    remote = Path(res.remote_path)  # the sshd is this machine: the copy is readable here
    _same_files(local, remote)
    assert read_dataset(str(remote)).n_examples == 400  # the LMDB there is whole


def test_upload_cli_prints_progress_and_bad_input_is_said(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = make_lmdb_dataset(tmp_path / "ds", examples=50)
    target = add_target(tm, sshd)
    dest = str(tmp_path / "there" / "ds2")
    db = str(tm.db.path)
    assert main(["--db", db, "targets", "upload", "box", str(local), "--to", dest]) == 0
    out = capsys.readouterr().out
    assert "(100%)" in out and f"to box:{dest}" in out and "--target box --dataset" in out
    _same_files(local, Path(dest))
    # not a dataset: said, no traceback
    (tmp_path / "plain").mkdir()
    assert main(["--db", db, "targets", "upload", "box", str(tmp_path / "plain")]) == 1
    assert "rave-gui: error:" in capsys.readouterr().err
    with pytest.raises(ValidationError, match=r"metadata\.yaml"):
        upload_dataset(Connection(target), tmp_path / "plain")
    # a copy whose metadata.yaml is not a dataset's is refused once there
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metadata.yaml").write_text("hello: 1\n")
    with pytest.raises(PreflightError, match="lacks channels"):
        upload_dataset(Connection(target), bad, str(tmp_path / "there" / "bad"), method="tar")


def test_upload_cancelled(tm: TrainingManager, sshd, tmp_path: Path) -> None:  # noqa: F811
    local = make_lmdb_dataset(tmp_path / "ds", examples=2000)
    target = add_target(tm, sshd)
    with pytest.raises(UploadCancelled, match="cancelled"):
        upload_dataset(Connection(target), local, str(tmp_path / "there"),
                       should_stop=lambda: True, method="tar")  # fmt: skip
