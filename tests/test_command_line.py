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
from chidoan.storage.models import Invite, Role
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
    assert f"Cơ sở dữ liệu: {data / DATABASE_FILE} (CHIDOAN_DATA_DIR)." in invited.stderr  # which one, in one line
    assert not (there / "data").exists() and not (here / "data").exists()


def test_the_database_line_is_said_in_the_commands_language(tmp_path):
    """Which database a command uses is for the operator: in Vietnamese by default, in English
    with --lang en, never a log line; on stderr, so stdout stays the command's output."""
    data = tmp_path / "data-dir"
    made = chidoan("migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(data))
    assert made.returncode == 0, made.stderr
    assert made.stderr.startswith(
        f"Cơ sở dữ liệu: {data / DATABASE_FILE} (CHIDOAN_DATA_DIR). Chưa có cơ sở dữ liệu này: "
    )
    english = chidoan("--lang", "en", "migrate", cwd=tmp_path, CHIDOAN_DATA_DIR=str(data))
    assert english.stderr.startswith(f"Database: {data / DATABASE_FILE} (CHIDOAN_DATA_DIR).\n")
    assert "INFO chidoan: database" not in made.stderr + english.stderr and "database" not in made.stdout


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
    assert f"Cơ sở dữ liệu: {old} (tìm thấy trong thư mục hiện tại). Vẫn dùng" in invited.stderr
    assert "CHIDOAN_DATA_DIR=" in invited.stderr


# ---- invite: checked, found as in the chat, in one language -----------------------------------


@pytest.fixture
def command(db, org, settings, monkeypatch, capsys):
    """`chidoan …` in this process on the test database (Vietnamese locale unless told):
    returns (exit status, stdout, stderr without the line that names the database: checked by
    test_the_database_line_is_said_in_the_commands_language; none when --lang is refused)."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out = capsys.readouterr()
        said, _, rest = out.err.partition("\n")
        return status, out.out, rest if said.startswith(("Cơ sở dữ liệu: ", "Database: ")) else out.err

    return run


@pytest.fixture
def invite(command):
    """`chidoan invite …`, as `command`."""
    return lambda *args: command("invite", *args)


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
    assert "“boss”" in err
    assert "“bithu” (Bí thư), “phobithu” (Phó Bí thư), “canbo” (Cán bộ), “quantri” (Quản trị viên)" in err
    assert not any(name in err for name in ("secretary", "deputy", "district_staff", "admin"))  # internal names
    status, _out, err = invite("--unit", "RG-VB", "--role", "boss", "--lang", "en")
    assert status == 2 and "“bithu” (Secretary), “phobithu” (Deputy secretary), “canbo” (Staff)" in err
    assert invites(db) == []
    assert invite("--unit", "RG", "--role", "quantri")[0] == 0  # the word it lists for an administrator
    assert [row.role for row in invites(db)] == ["admin"]


@pytest.mark.parametrize(
    ("unit", "role", "vi", "en"),
    [
        (
            "rg-vb",
            "canbo",
            "Không thể cấp mã mời Cán bộ cho Đoàn phường Vĩnh Bảo (RG-VB). Các vai trò của đơn vị này: “bithu” (Bí thư), “phobithu” (Phó Bí thư), “quantri” (Quản trị viên).",
            "An invite to Đoàn phường Vĩnh Bảo (RG-VB) cannot be for Staff. Its roles: “bithu” (Secretary), “phobithu” (Deputy secretary), “quantri” (Administrator).",
        ),
        (
            "RG",
            "bithu",
            "Không thể cấp mã mời Bí thư cho Thành đoàn Rạch Giá (RG). Các vai trò của đơn vị này: “canbo” (Cán bộ), “quantri” (Quản trị viên).",
            "An invite to Thành đoàn Rạch Giá (RG) cannot be for Secretary. Its roles: “canbo” (Staff), “quantri” (Administrator).",
        ),
    ],
)
def test_invite_refuses_a_role_the_unit_does_not_have(invite, db, unit, role, vi, en):
    """Chat /moi refuses these (handlers/invites.valid_roles); the command used to issue them."""
    status, out, err = invite("--unit", unit, "--role", role)
    assert (status, out, err.strip()) == (2, "", vi)
    status, out, err = invite("--unit", unit, "--role", role, "--lang", "en")
    assert (status, out, err.strip()) == (2, "", en)
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


# ---- data: a person's data, in the command's language -------------------------------------------


def test_data_speaks_the_command_language(command, db, tmp_path, monkeypatch):
    """`chidoan data …` used to print Vietnamese whatever the language, and its erasure's counts
    as internal keys ("link_codes 0, identities 1")."""
    from tests.conftest import add_member

    first = add_member(db, "4242", "Đỗ Minh Khoa", "CT-ML", Role.secretary, channel="telegram")
    second = add_member(db, "4343", "Võ Thị Hạnh", "RG-VB", Role.deputy, channel="telegram")
    copy = tmp_path / "khoa.json"

    status, out, _err = command("--lang", "en", "data", "prune")
    assert status == 0 and out.startswith("Deleted 0 received message(s) (older than ")
    status, out, _err = command("--lang", "en", "data", "export", "--account", str(first), "--out", str(copy))
    assert (
        status == 0 and out.strip() == f"The data of account {first} was written to {copy} (and the export recorded)."
    )
    status, out, err = command("data", "show", "--account", "999", "--lang", "en")
    assert (status, out, err.strip()) == (1, "", "There is no such account.")
    monkeypatch.setattr("builtins.input", lambda prompt: "no" if "Type “erase” to erase" in prompt else "erase")
    status, out, _err = command("--lang", "en", "data", "erase", "--account", str(first))
    assert status == 1 and out.endswith("Nothing was erased.\n")
    status, out, _err = command("--lang", "en", "data", "erase", "--account", str(first), "--yes")
    assert status == 0 and f"Account {first}: Đỗ Minh Khoa; apps: telegram 4242; 1 role(s)." in out
    assert (
        "Erased: 0 link code(s), 1 chat app account(s), 1 role(s) ended, 0 file(s) sent for reports never filed, 0 unfinished conversation(s), "
        "0 question(s) waiting for an answer, the text of 0 received message(s), 0 sent message(s), 0 reminder(s), "
        "0 pending task(s), 0 copy(ies) of their data sent to them." in out
    )

    status, out, _err = command("data", "prune")
    assert status == 0 and out.startswith("Đã xóa 0 tin nhắn nhận (quá ")
    status, out, err = command("data", "show", "--account", "999")
    assert (status, out, err.strip()) == (1, "", "Không tìm thấy tài khoản này.")
    status, out, _err = command("data", "erase", "--account", str(second), "--yes")
    assert status == 0 and f"Tài khoản {second}: Võ Thị Hạnh; " in out
    assert (
        "Đã xóa: 0 mã liên kết, 1 tài khoản trên ứng dụng trò chuyện, kết thúc 1 vai trò, 0 tệp đã gửi cho báo cáo chưa hoàn thành, 0 cuộc trò chuyện dở dang, "
        "0 câu hỏi đang chờ trả lời, nội dung 0 tin nhắn nhận, 0 tin nhắn gửi, 0 lời nhắc, 0 việc đang chờ làm, "
        "0 bản sao dữ liệu đã gửi cho người này." in out
    )
