"""Help → User guide: the bundled guide (Markdown) in a dialog."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ...backend.errors import RaveGuiError
from ...backend.system.resources import user_guide


class GuideDialog(QDialog):
    """The user guide, rendered from Markdown; links open in the web browser."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("rave-gui user guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        try:
            text = user_guide().read_text(encoding="utf-8")
        except (RaveGuiError, OSError) as err:
            text = f"# The user guide is missing\n\n{err}"
        self.browser.setMarkdown(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(760, 640)


__all__ = ["GuideDialog"]
