"""The bundled resources and the desktop entry: where they are, that the entry is valid, that
``rave-gui --install-desktop-entry`` puts rave-gui in the launcher (without starting Qt) and
``--uninstall-desktop-entry`` takes it out, and that a built wheel carries the resources."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rave_gui import __version__
from rave_gui.backend.system.desktop import (
    desktop_entry,
    entry_path,
    exec_value,
    icon_paths,
    install_desktop_entry,
    launch_command,
    uninstall_desktop_entry,
    xdg_data_home,
)
from rave_gui.backend.system.resources import (
    APP_ICON_SIZES,
    PAGE_ICONS,
    app_icon_png,
    app_icon_svg,
    checkout_root,
    desktop_entry_template,
    page_icon_svg,
    resources_dir,
)

ROOT = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def parse_entry(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(text)
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def exec_argv(value: str) -> list[str]:
    """An Exec value back to an argv, as the Desktop Entry Specification reads it: the
    string-level unescaping, then words split on spaces, double quotes grouping, and inside
    them a backslash escaping one of ``"`$\\``; then ``%%`` is a literal ``%``."""
    assert not re.search(r"\\[^\\snrt]", value.replace("\\\\", "")), f"bad escape in {value!r}"
    escapes = {"\\": "\\", "s": " ", "n": "\n", "r": "\r", "t": "\t"}
    text = re.sub(r"\\([\\snrt])", lambda m: escapes[m[1]], value)
    assert "%" not in text.replace("%%", "")  # no field codes
    words: list[str] = []
    word: str | None = None
    chars = iter(text)
    for c in chars:
        if c == " ":
            if word is not None:
                words.append(word)
            word = None
        elif c == '"':
            word = word or ""
            for q in chars:
                if q == '"':
                    break
                if q == "\\":
                    q = next(chars)
                    assert q in '"`$\\', f"bad escape in {value!r}"
                word += q
            else:
                raise AssertionError(f"unclosed quote in {value!r}")
        else:
            word = (word or "") + c
    if word is not None:
        words.append(word)
    return [w.replace("%%", "%") for w in words]


def rave_gui(*args: str, data_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "RAVE_GUI_NO_WINDOW": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rave_gui", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_resources_are_the_checkouts_top_level_folder() -> None:
    assert checkout_root() == ROOT
    assert resources_dir() == ROOT / "resources"


def test_the_app_icon_exists_as_svg_and_every_png_size() -> None:
    assert app_icon_svg().read_text(encoding="utf-8").lstrip().startswith("<?xml")
    for size in APP_ICON_SIZES:
        assert png_size(app_icon_png(size)) == (size, size)
    assert APP_ICON_SIZES == (16, 32, 48, 64, 128, 256)


def test_every_page_has_an_svg_icon() -> None:
    for name in PAGE_ICONS:
        assert "<svg" in page_icon_svg(name).read_text(encoding="utf-8")


def test_a_missing_resource_is_a_not_found_error() -> None:
    from rave_gui.backend.errors import NotFoundError
    from rave_gui.backend.system.resources import resource_path

    with pytest.raises(NotFoundError, match=r"no-such\.svg"):
        resource_path("icons/no-such.svg")


def test_the_bundled_desktop_entry_has_the_required_keys() -> None:
    entry = parse_entry(desktop_entry_template().read_text(encoding="utf-8"))
    assert entry["Type"] == "Application"
    assert entry["Name"] == "rave-gui"
    assert entry["Exec"] == "rave-gui"
    assert entry["Icon"] == "rave-gui"  # a theme name: the hicolor files installed below
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    assert entry["StartupWMClass"] == "rave-gui"  # Qt's WM_CLASS is the application name


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils absent")
def test_desktop_file_validate_accepts_the_entries(tmp_path: Path) -> None:
    written = tmp_path / "rave-gui.desktop"
    written.write_text(desktop_entry(), encoding="utf-8")
    for path in (desktop_entry_template(), written):
        proc = subprocess.run(
            ["desktop-file-validate", str(path)], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/bin/python3", "-m", "rave_gui"],
        ["/home/a user/my env/bin/python", "/srv/rave gui/main.py"],
        ['/odd/"quoted"/$HOME/`x`/py', "100%", "back\\slash", ""],
    ],
)
def test_exec_value_quotes_as_the_specification_says(argv: list[str]) -> None:
    assert exec_argv(exec_value(argv)) == argv


def test_xdg_data_home_ignores_a_relative_value(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert xdg_data_home() == tmp_path
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    assert xdg_data_home() == Path.home() / ".local" / "share"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert xdg_data_home() == Path.home() / ".local" / "share"


def test_install_and_uninstall_from_the_command_line(tmp_path: Path) -> None:
    proc = rave_gui("--install-desktop-entry", data_home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    entry = tmp_path / "applications" / "rave-gui.desktop"
    assert str(entry) in proc.stdout
    hicolor = tmp_path / "icons" / "hicolor"
    for size in APP_ICON_SIZES:
        icon = hicolor / f"{size}x{size}" / "apps" / "rave-gui.png"
        assert icon.read_bytes() == app_icon_png(size).read_bytes()
    assert (hicolor / "scalable" / "apps" / "rave-gui.svg").read_bytes() == (
        app_icon_svg().read_bytes()
    )
    fields = parse_entry(entry.read_text(encoding="utf-8"))
    assert fields["Icon"] == "rave-gui"
    # The Exec line starts this very copy of rave-gui, whatever the desktop's PATH.
    argv = exec_argv(fields["Exec"])
    assert argv == [sys.executable, str(ROOT / "main.py")] == launch_command()
    started = subprocess.run(
        [*argv, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert started.stdout.strip() == f"rave-gui {__version__}"
    assert not list(tmp_path.rglob(".*.part"))

    # Installing again replaces the files.
    assert rave_gui("--install-desktop-entry", data_home=tmp_path).returncode == 0

    (hicolor / "48x48" / "apps" / "other-app.png").write_bytes(b"not ours")
    proc = rave_gui("--uninstall-desktop-entry", data_home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not entry.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "rave-gui" in p.name]
    assert (hicolor / "48x48" / "apps" / "other-app.png").exists()  # another app's icon stays
    assert proc.stdout.count("removed ") == 1 + len(APP_ICON_SIZES) + 1

    proc = rave_gui("--uninstall-desktop-entry", data_home=tmp_path)
    assert proc.returncode == 0 and "No rave-gui desktop entry to remove" in proc.stdout


def test_the_desktop_flags_do_not_start_qt(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from rave_gui.app import main\n"
        "assert main(['--install-desktop-entry']) == 0\n"
        "assert main(['--uninstall-desktop-entry']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('PyQt', 'PySide')))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    env.pop("RAVE_GUI_NO_WINDOW", None)  # a flag that fell through to the window would show
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert not entry_path(tmp_path).exists()


def test_the_two_flags_cannot_be_given_together(tmp_path: Path) -> None:
    proc = rave_gui("--install-desktop-entry", "--uninstall-desktop-entry", data_home=tmp_path)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
    assert not (tmp_path / "applications").exists()


def test_an_unwritable_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    proc = rave_gui("--install-desktop-entry", data_home=blocker)
    assert proc.returncode == 1
    assert proc.stderr.startswith("rave-gui: error: Cannot write ")
    assert proc.stdout == ""


def test_install_returns_the_files_and_uninstall_removes_exactly_them(tmp_path: Path) -> None:
    written = install_desktop_entry(tmp_path, command=["/opt/rave gui/bin/rave-gui"])
    assert written == [*icon_paths(tmp_path), entry_path(tmp_path)]
    assert exec_argv(parse_entry(entry_path(tmp_path).read_text())["Exec"]) == [
        "/opt/rave gui/bin/rave-gui"
    ]
    assert sorted(uninstall_desktop_entry(tmp_path)) == sorted(written)
    assert uninstall_desktop_entry(tmp_path) == []


def test_install_is_refused_where_there_is_no_freedesktop_launcher(
    monkeypatch, tmp_path: Path
) -> None:
    from rave_gui.backend.errors import DesktopEntryError

    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(DesktopEntryError, match="Linux and BSD"):
        install_desktop_entry(tmp_path)
    assert not list(tmp_path.iterdir())


# --- packaging ---------------------------------------------------------------------------------


def test_pyproject_lists_every_package_and_maps_the_resources() -> None:
    """setuptools cannot find the mapped resources package by itself, so the packages are
    listed; a package added to rave_gui/ without being listed would be missing from the wheel."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    setuptools = config["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "rave_gui").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert set(setuptools["packages"]) == on_disk | {"rave_gui.resources"}
    assert setuptools["package-dir"]["rave_gui.resources"] == "resources"


def test_a_built_wheel_carries_the_resources_and_finds_them_installed(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="the wheel is built without build isolation")
    build = tmp_path / "src"  # a copy, so that the build leaves nothing in the checkout
    for name in ("rave_gui", "resources"):
        shutil.copytree(ROOT / name, build / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, build / name)
    wheels = tmp_path / "whl"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    proc = subprocess.run(
        [*pip_wheel, "-w", str(wheels), str(build)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = wheels.glob("rave_gui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"rave_gui/resources/rave-gui.desktop", "rave_gui/resources/icons/rave-gui.svg"}
    expected.add("rave_gui/resources/guide.md")
    expected |= {f"rave_gui/resources/icons/rave-gui-{s}.png" for s in APP_ICON_SIZES}
    expected |= {f"rave_gui/resources/icons/{name}.svg" for name in PAGE_ICONS}
    assert expected <= names
    assert not [n for n in names if n.startswith("resources/")]  # nothing at the top level

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    code = (
        "from rave_gui.backend.system.resources import resources_dir, checkout_root, app_icon_png\n"
        "from rave_gui.backend.system.desktop import launch_command\n"
        "print(resources_dir()); print(checkout_root()); print(app_icon_png(16).is_file())\n"
        "import json; print(json.dumps(launch_command()))\n"
        "from rave_gui.backend.system.resources import user_guide\n"
        "print(user_guide().read_text(encoding='utf-8').splitlines()[0])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: only the installed copy is importable
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [str(site / "rave_gui" / "resources"), "None", "True"]
    script = str(Path(sys.executable).with_name("rave-gui"))
    assert json.loads(lines[3]) in ([script], [sys.executable, "-m", "rave_gui"])
    assert lines[4] == "# rave-gui user guide"  # Help → User guide works installed
