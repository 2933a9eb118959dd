"""What a worker loads at start, measured where it matters: each heavy library is loaded only by
the feature that needs it (a worker's memory and cold start, issue 12)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, command_env

HEAVY = ("aiogram", "openpyxl", "numpy")
TOKEN = "123456:" + "A" * 35


def loaded(database_url: str, **settings: str) -> dict[str, bool]:
    """Which of HEAVY a service made with these settings has imported, in a fresh interpreter."""
    extra = "".join(f", {k}={v!r}" for k, v in settings.items())
    probe = (
        "import sys; from chidoan.bot.app import App; from tests.conftest import make_settings; "
        f"app = App(make_settings({database_url!r}{extra})); app.db.dispose(); "
        f"print(*[m in sys.modules for m in {HEAVY!r}])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=command_env(), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return dict(zip(HEAVY, [word == "True" for word in done.stdout.split()], strict=True))


def test_a_worker_loads_aiogram_only_for_telegram_and_openpyxl_only_for_an_export(settings):
    """aiogram costs about 170 MB and seconds of start: a bot on Zalo alone (Telegram blocked)
    does not load it. openpyxl (with numpy) is for spreadsheets, written by a job, not at start."""
    assert loaded(settings.database_url) == {"aiogram": False, "openpyxl": False, "numpy": False}
    assert loaded(settings.database_url, TELEGRAM_BOT_TOKEN=TOKEN)["aiogram"] is True
