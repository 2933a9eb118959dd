"""The `chidoan` command as an operator meets it (issue 11): quiet, one database whatever the
folder it is run from (and says which), invites checked, one language. Run as the real command
in a child process where what it prints is the point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chidoan.bot.config import DATABASE_FILE, DatabaseOrigin, default_data_dir
from tests.conftest import ROOT, command_env, make_settings


def chidoan(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chidoan", *args],
        cwd=cwd,
        env=command_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_commands_print_no_alembic_lines_below_debug(tmp_path):
    first = chidoan("migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(tmp_path))
    again = chidoan("migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(tmp_path))
    assert first.returncode == again.returncode == 0, first.stderr
    assert " alembic." not in first.stderr + again.stderr
    assert "schema upgraded from nothing (a new database) to" in first.stderr  # said once, in our words
    assert "schema upgraded" not in again.stderr
    debug = chidoan("migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(tmp_path), CHIDOAN_LOG_LEVEL="DEBUG")
    assert "INFO alembic" in debug.stderr


def test_the_data_directory_is_the_same_from_any_folder(tmp_path):
    """Loaded from one folder, the demo is found from another: no new empty database."""
    data, here, there = tmp_path / "data-dir", tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    assert chidoan("demo", cwd=here, CHIDOAN_DATA_DIR=str(data)).returncode == 0
    invited = chidoan("invite", "--unit", "RG-PT", "--role", "secretary", cwd=there, CHIDOAN_DATA_DIR=str(data))
    assert invited.returncode == 0, invited.stderr
    assert f"database {data / DATABASE_FILE} (CHIDOAN_DATA_DIR)" in invited.stderr  # which one, in one line
    assert not (there / "data").exists() and not (here / "data").exists()


def test_without_settings_the_database_is_in_the_project_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHIDOAN_DATA_DIR", raising=False)
    settings = make_settings("")
    assert default_data_dir() == ROOT / "data"  # run from the source, as scripts/run.sh does
    assert settings.database_url == f"sqlite:///{ROOT / 'data' / DATABASE_FILE}"
    assert settings.database_origin == DatabaseOrigin.default


def test_an_older_database_in_the_current_folder_is_kept_with_a_warning(tmp_path):
    """Before CHIDOAN_DATA_DIR the database was data/chidoan.sqlite3 in the current folder: an
    upgrade keeps using it rather than start on an empty one, and says how to move it."""
    old = tmp_path / "data" / DATABASE_FILE
    assert chidoan("demo", cwd=tmp_path, CHIDOAN_DATABASE_URL=f"sqlite:///{old}").returncode == 0
    invited = chidoan("invite", "--unit", "RG-PT", "--role", "secretary", cwd=tmp_path)
    assert invited.returncode == 0, invited.stderr
    assert f"WARNING chidoan: database {old} (found in the current folder)" in invited.stderr
    assert "CHIDOAN_DATA_DIR=" in invited.stderr
