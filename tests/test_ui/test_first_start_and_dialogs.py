"""The first start leads to the Datasets page's "get started" choices; dialogs open centred on
the window and keep their title bar on the screen; a dataset made from audio says what it holds."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QRect
from PyQt6.QtWidgets import QApplication, QDialog, QLabel, QVBoxLayout, QWidget

from rave_gui.ui.dialogs.placement import fit_rect
from rave_gui.ui.main_window import MainWindow


def _window(qtbot, manager, controller, signals, settings) -> MainWindow:
    win = MainWindow(manager, controller, signals, settings)
    qtbot.addWidget(win)
    win.show()
    return win


def test_first_start_without_a_dataset_shows_the_get_started_choices(
    qtbot, manager, controller, signals, settings
):
    win = _window(qtbot, manager, controller, signals, settings)
    assert win.current_page_key() == "datasets"
    page = win.datasets_page
    assert page.is_empty_state()
    assert page.demo_button.isVisible() and page.empty_new_button.isVisible()
    win.close()


def test_first_start_with_a_dataset_opens_on_projects(
    qtbot, manager, controller, signals, settings, fake_dataset
):
    manager.datasets.register(manager.projects.default_id(), fake_dataset, "cello")
    win = _window(qtbot, manager, controller, signals, settings)
    assert win.current_page_key() == "projects"
    win.close()


def test_a_later_start_keeps_the_page_left(qtbot, manager, controller, signals, settings):
    first = _window(qtbot, manager, controller, signals, settings)
    first.show_page("training")
    first.close()
    second = _window(qtbot, manager, controller, signals, settings)
    assert second.current_page_key() == "training"
    second.close()


def test_fit_rect_keeps_the_title_bar_on_screen():
    screen = QRect(0, 0, 800, 800)
    assert fit_rect(QRect(100, -300, 400, 1200), screen) == QRect(100, 0, 400, 800)
    assert fit_rect(QRect(700, 700, 300, 300), screen) == QRect(500, 500, 300, 300)
    assert fit_rect(QRect(10, 20, 30, 40), screen) == QRect(10, 20, 30, 40)


def test_dialogs_open_centred_on_the_window_and_inside_the_screen(qtbot, window):
    # the main window installs the placement for every dialog of the app; here the dialogs
    # belong to a smaller window that fits the (offscreen, 800 px) screen
    owner = QWidget()
    qtbot.addWidget(owner)
    owner.setGeometry(60, 120, 560, 420)
    owner.show()
    qtbot.waitExposed(owner)
    dialog = QDialog(owner)
    QVBoxLayout(dialog).addWidget(QLabel("a small dialog"))
    dialog.resize(300, 200)
    qtbot.addWidget(dialog)
    dialog.show()
    centre = owner.frameGeometry().center()
    got = dialog.frameGeometry().center()
    assert abs(got.x() - centre.x()) <= 2 and abs(got.y() - centre.y()) <= 2
    dialog.close()
    # a dialog taller than the screen: shrunk to it, its top on the screen
    area = QApplication.primaryScreen().availableGeometry()
    tall = QDialog(owner)
    tall.resize(400, area.height() + 400)
    qtbot.addWidget(tall)
    tall.show()
    assert tall.frameGeometry().top() >= area.top()
    assert tall.frameGeometry().bottom() <= area.bottom()
    # growing out of the screen later (a log shown when work starts): moved back in
    tall.move(QPoint(area.left() + 10, area.top() + 300))
    tall.resize(400, area.height() - 100)
    qtbot.waitUntil(lambda: tall.frameGeometry().bottom() <= area.bottom(), timeout=2000)
    assert tall.frameGeometry().top() >= area.top()
    tall.close()
