"""One Role numbering and one Column description, answered the same way by every table model."""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import Qt

from rave_gui.backend.manager import TrainingManager
from rave_gui.ui.models.columns import Column, ColumnTableModel, column_index, key
from rave_gui.ui.models.experiments_model import COL, COLUMNS, ExperimentsModel
from rave_gui.ui.models.record_table import RecordFilterProxy, RecordTableModel
from rave_gui.ui.models.roles import Role

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Rec:
    """A record as the store returns them: fields read as attributes."""

    id: int = 0
    name: str | None = None
    size: int | None = None
    path: str | None = None


def test_roles_are_one_numbering_past_qts_own():
    values = [int(r) for r in Role]
    assert len(set(values)) == len(values)
    assert min(values) > int(Qt.ItemDataRole.UserRole)


def test_a_column_shows_sorts_and_aligns_from_its_description():
    size = Column("Size", key("size"), lambda v: f"{v} B", numeric=True)
    name = Column("Name", key("name"), tooltip=lambda r: r.path, name="name")
    by_len = Column("Len", key("name"), sort=lambda r: len(r.name), align=RIGHT)
    rec = Rec(size=12, name="Strings", path="/d/strings")
    assert size.display(rec) == "12 B" and size.alignment() == RIGHT
    assert size.sort_key(rec) == 12.0 and size.sort_key(Rec(size=None)) == float("-inf")
    assert name.display(rec) == "Strings" and name.display(Rec(name=None)) == "–"
    assert key("n_datasets")(rec) is None  # a field the record lacks reads as missing
    assert name.sort_key(rec) == "strings" and name.alignment() == LEFT
    assert by_len.sort_key(rec) == 7 and by_len.alignment() == RIGHT
    assert column_index((size, name, by_len)) == {"name": 1}


def test_a_record_table_answers_every_role_from_its_columns(qtbot):
    columns = (
        Column("Name", key("name"), tooltip=lambda r: r.path),
        Column("Size", key("size"), numeric=True),
    )
    model = RecordTableModel(columns)
    model.set_records([Rec(id=7, name="b", size=30, path="/b"), Rec(id=9, name="A", path="/a")])
    assert isinstance(model, ColumnTableModel)
    idx = model.index(0, 1)
    assert idx.data() == "30" and idx.data(Role.SORT) == 30.0 and idx.data(Role.KEY) == 7
    assert model.index(1, 1).data() == "–" and model.index(1, 0).data(Role.KEY) == 9
    assert model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole) == "/a"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Size"
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.TextAlignmentRole) == (
        RIGHT
    )
    proxy = RecordFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(0, Qt.SortOrder.AscendingOrder)  # case-folded text: "A" before "b"
    assert [proxy.index(r, 0).data(Role.KEY) for r in range(2)] == [9, 7]
    proxy.sort(1, Qt.SortOrder.AscendingOrder)  # a missing number sorts first
    assert [proxy.index(r, 0).data(Role.KEY) for r in range(2)] == [9, 7]


def test_the_experiments_table_is_described_as_data_and_answers_the_same_roles(
    qtbot, manager: TrainingManager
):
    assert list(COL) == ["name", "status", "started", "duration", "step", "best"]
    assert [c.title for c in COLUMNS] == [
        "Name", "Status", "Started", "Duration", "Step", "Best val.",
    ]  # fmt: skip
    exp = manager.start_training({"name": "Drums", "max_steps": 1000})
    model = ExperimentsModel(manager)
    model.set_project(manager.projects.default_id())
    assert isinstance(model, ColumnTableModel)
    step = model.index(0, COL["step"])
    assert step.data() == "0 / 1,000" and step.data(Role.KEY) == exp
    assert step.data(Qt.ItemDataRole.TextAlignmentRole) == RIGHT
    assert step.data(Qt.ItemDataRole.ToolTipRole) == "step 0 / 1,000 (0.0 %)"
    assert model.index(0, COL["name"]).data(Role.SORT) == "drums"
    assert model.index(0, COL["status"]).data(Role.STATUS) == "queued"
    assert model.index(0, COL["name"]).data(Role.STATUS) is None  # only the status column
