"""The web chat has no login: on an interface other than loopback it would hand every identity
(and its history) to whoever reaches the port. Refused unless CHIDOAN_WEB_PUBLIC says it is
wanted, and then warned about (issue 7)."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from chidoan.bot.app import App, web_chat_url
from chidoan.bot.cli import main
from tests.conftest import make_settings

PUBLIC = ["0.0.0.0", "::", "192.168.1.20", "", "bot.example.vn"]
LOOPBACK = ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"]


@pytest.mark.parametrize("host", PUBLIC)
def test_a_public_host_is_refused_while_the_web_chat_is_on(tmp_path, host):
    with pytest.raises(ValidationError, match="CHIDOAN_WEB_PUBLIC"):
        make_settings(f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_WEB_HOST=host)


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts_are_fine(tmp_path, host):
    assert make_settings(f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_WEB_HOST=host).web_host == host


def test_the_docker_image_binds_everything_with_the_web_chat_off(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_WEB_HOST="0.0.0.0", CHIDOAN_WEB_ENABLED=False)
    assert settings.web_host == "0.0.0.0" and not settings.web_enabled


async def test_a_wanted_public_web_chat_starts_with_a_warning(tmp_path, caplog):
    settings = make_settings(f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_WEB_HOST="0.0.0.0", CHIDOAN_WEB_PUBLIC=True)
    caplog.set_level(logging.WARNING)
    app = App(settings)
    await app.start()
    await app.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no login" in w and "0.0.0.0" in w for w in warnings), warnings


def test_the_command_line_says_why_it_does_not_start(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("CHIDOAN_WEB_HOST", "0.0.0.0")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "CHIDOAN_WEB_HOST" in err and "CHIDOAN_WEB_PUBLIC=true" in err and "Traceback" not in err


async def test_the_run_log_says_where_to_open_the_web_chat_and_where_the_demo_codes_are(tmp_path, caplog):
    settings = make_settings(f"sqlite:///{tmp_path}/x.sqlite3")
    caplog.set_level(logging.INFO)
    app = App(settings, descriptions={"demo-an": "Bí thư — Đoàn xã Phi Thông (mã mời: AB12CD)"})
    await app.start()
    await app.stop()
    said = [r.getMessage() for r in caplog.records]
    assert any(
        f"open http://127.0.0.1:{settings.web_port}/ in a browser" in line and "invite code" in line for line in said
    ), said


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:8080/"), ("0.0.0.0", "http://127.0.0.1:8080/"), ("::1", "http://[::1]:8080/")],
)
def test_the_web_chat_address_is_one_a_browser_here_opens(host, url):
    assert web_chat_url(host, 8080) == url
