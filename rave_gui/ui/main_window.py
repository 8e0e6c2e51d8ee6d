"""The main window: pages in a sidebar, a status bar with active runs."""

from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from ..backend.manager import TrainingManager


class MainWindow(QMainWindow):
    def __init__(self, manager: TrainingManager) -> None:
        super().__init__()
        self.manager = manager
        self.setWindowTitle("rave-gui")
        central = QWidget()
        layout = QVBoxLayout(central)
        n = manager.count_experiments()
        layout.addWidget(QLabel(f"{n} experiment(s) in {manager.db.path}"))
        self.setCentralWidget(central)
        self.resize(1200, 780)
