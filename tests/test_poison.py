"""No poison update (issue 7, part 3): what a platform sends is clipped and cleaned at the door;
an event the database keeps refusing is kept as failed (a dead letter) after a bounded number of
tries, its sender gets one apology, and neither polling nor the webhook is held up by it; a body
that is not JSON, or an update aiogram cannot read, never becomes a 500 Telegram retries
forever; a database that cannot be written is refused at start; /healthz says whether the
database answers. On SQLite and PostgreSQL, in polling and webhook mode, through the fake Bot
API (tests/fake_telegram.py) and the real aiogram client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels.base import Limits
from chidoan.storage.db import make_engine, upgrade
from chidoan.storage.models import Document
from tests.conftest import add_member, free_port, make_settings, seed_org
from tests.test_telegram import TgUser

SECRET = "s3cret-Token_42"
LONG_NAME = "Biên bản sinh hoạt chi đoàn " + "rất dài " * 40 + "lần cuối.pdf"  # over 300 characters
APOLOGY = "could not handle your last message"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """A migrated database with the test org tree, on SQLite or on PostgreSQL."""
    url = f"sqlite:///{tmp_path}/chidoan.sqlite3" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = make_engine(url)
    upgrade(db)
    seed_org(db)
    yield url, db
    db.dispose()


def telegram_app(url: str, tg, *, webhook: bool, engine=None, **extra) -> App:
    values = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url} | extra
    if webhook:
        port = free_port()
        values |= {
            "CHIDOAN_WEB_PORT": port,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
    app = App(make_settings(url, **values), engine=engine)
    app.telegram.limits = Limits()  # no per-chat pacing: the tests send many messages to one chat
    return app


MODES = pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])


# ---- clipped at the door ----------------------------------------------------------------


async def meeting_until_photos(user: TgUser) -> None:
    await user.say("/sinhhoat")
    for answer in ("hôm nay", "1", "Sinh hoạt chi đoàn tháng 11", "12", "10", "Bầu Bí thư chi đoàn"):
        await user.say(answer)
    await user.press("Skip")
    await user.press("Skip")
    assert "Photos of the minutes" in user.text


@MODES
async def test_a_300_character_file_name_is_clipped_and_the_journey_goes_on(database, tg, webhook):
    url, db = database
    add_member(db, "8101", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    app = telegram_app(url, tg, webhook=webhook)
    await app.start()
    try:
        user = TgUser(tg, db, 8101, first_name="Dũng", language="en", webhook=webhook)
        await meeting_until_photos(user)
        assert len(LONG_NAME) > 300
        await user.send_media(document=(LONG_NAME, b"%PDF-1.4 minutes"))
        assert "Received 1 of at most 10" in user.text
        await user.press("Done")
        await user.press("Send the report")
        assert "1 file(s) attached" in user.text
    finally:
        await app.stop()
    with db.connect() as conn:
        [document] = conn.execute(select(Document.__table__))
    assert len(document.filename) <= 128 and document.filename.endswith(".pdf")
    assert document.filename.startswith("Biên bản sinh hoạt chi đoàn rất dài")
    assert document.content == b"%PDF-1.4 minutes"
