"""The `chidoan` command as an operator meets it (issue 11): quiet, one database whatever the
folder it is run from (and says which), invites checked, one language. Run as the real command
in a child process where what it prints is the point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from chidoan.bot.cli import main
from chidoan.bot.config import DATABASE_FILE, DatabaseOrigin, default_data_dir
from chidoan.storage.models import Invite
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


# ---- invite: checked, found as in the chat, in one language -----------------------------------


@pytest.fixture
def invite(db, org, settings, monkeypatch, capsys):
    """`chidoan invite …` in this process on the test database (Vietnamese locale unless told):
    returns (exit status, stdout, stderr)."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["invite", *args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def invites(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(Invite.__table__)))


@pytest.mark.parametrize("days", ["0", "-5", "366", "mười"])
def test_invite_days_out_of_range_are_refused(invite, db, days):
    """0 used to mean the default 14, -5 issued a code already expired."""
    status, out, err = invite("--unit", "RG-VB", "--role", "secretary", "--days", days)
    assert status == 2 and out == ""
    assert "--days" in err and "1" in err and "365" in err and f"“{days}”" in err
    assert invites(db) == []


def test_invite_days_within_range_set_the_expiry(invite, db):
    assert invite("--unit", "RG-VB", "--role", "secretary", "--days", "365")[0] == 0
    [row] = invites(db)
    assert (row.expires_at - row.created_at).days == 365


def test_invite_finds_the_unit_in_any_case(invite, db, org):
    status, out, err = invite("--unit", "rg-vb", "--role", "secretary")
    assert status == 0, err
    [row] = invites(db)
    assert row.unit_id == org["RG-VB"].id and row.role == "secretary"


def test_invite_takes_the_role_words_of_the_chat(invite, db):
    assert invite("--unit", "RG-VB", "--role", "phobithu")[0] == 0
    assert invite("--unit", "RG", "--role", "canbo")[0] == 0
    assert [row.role for row in invites(db)] == ["deputy", "district_staff"]


def test_a_bad_role_lists_the_valid_ones(invite, db):
    status, out, err = invite("--unit", "RG-VB", "--role", "boss")
    assert status == 2 and "<Role." not in err
    assert "“boss”" in err and "secretary, deputy, district_staff, admin" in err
    assert invites(db) == []


def test_the_command_speaks_vietnamese_by_default(invite):
    status, out, _err = invite("--unit", "RG-VB", "--role", "secretary")
    assert status == 0
    assert "Mã mời: " in out and "Đơn vị: Đoàn phường Vĩnh Bảo (RG-VB); vai trò: Bí thư" in out
    assert "Hiệu lực đến: " in out and "Liên kết: " in out
    assert not any(word in out for word in ("code:", "unit:", "expires:", "link:"))


def test_the_command_speaks_english_when_asked_or_by_the_locale(invite, monkeypatch):
    status, out, _err = invite("--unit", "RG-VB", "--role", "secretary", "--lang", "en")
    assert status == 0
    assert "Code: " in out and "Unit: Đoàn phường Vĩnh Bảo (RG-VB); role: Secretary" in out and "Valid until: " in out
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert "Unit: Đoàn phường Vĩnh Bảo (RG-VB); role: Secretary" in invite("--unit", "RG-VB", "--role", "secretary")[1]
    status, _out, err = invite("--unit", "nowhere", "--role", "secretary")
    assert status == 1 and err.strip() == "There is no unit with the code nowhere."


def test_an_unknown_language_is_refused(invite):
    status, out, err = invite("--unit", "RG-VB", "--role", "secretary", "--lang", "fr")
    assert status == 2 and out == "" and "vi" in err and "en" in err and "fr" in err


def test_org_problems_are_in_the_command_language(db, org, settings, tmp_path, monkeypatch, capsys):
    """The import's and the merge's refusals used to be Vietnamese whatever the language."""
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    bad = tmp_path / "units.csv"
    bad.write_text("code,name,kind,parent_code\nX1,Đoàn X,xyz,\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--lang", "en", "org", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "Nothing imported: the file has 1 problem(s)." in err
    assert "Row 2: kind of unit 'xyz' is not valid (use: " in err
    assert main(["org", "import", str(bad), "--lang=vi"]) == 1
    assert "Dòng 2: loại đơn vị 'xyz' không hợp lệ" in capsys.readouterr().err
    assert main(["--lang", "en", "org", "merge", "--from", "ct-ml", "--into", "CT-ML"]) == 1
    assert "Not merged: Unit 'CT-ML' cannot be merged into itself." in capsys.readouterr().err
