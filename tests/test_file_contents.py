"""A file is kept by what its content is, not by what its name or declared type says: an
executable or a zip renamed .png/.jpg/.pdf is refused in every channel, nothing stored; a real
picture or PDF is kept."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from chidoan.bot.app import App
from chidoan.engine.filekinds import picture_or_pdf
from chidoan.i18n import gettext
from chidoan.storage.models import Document, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, document_bytes
from tests.test_meetings import PNG, app, report_until_photos, telegram_report_until_photos  # noqa: F401  (the app fixture)
from tests.test_zalo_oa import ZaloUser, zalo, zapp  # noqa: F401  (the Zalo fixtures)

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40
PDF = b"%PDF-1.4\n%scan of the attendance sheet\n"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"GIF89a\x01\x00", "gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "heif"),
        (PDF, "pdf"),
        (b"\xef\xbb\xbf\r\n%PDF-1.7\n", "pdf"),
        (EXE, None),
        (ZIP, None),
        (b"<html><script>", None),
        (b"", None),
        (b"\x00\x00\x00\x18ftypmp42", None),  # a video, not a picture
    ],
)
def test_the_content_tells_the_kind(content, kind):
    assert picture_or_pdf(content) == kind


def uploads(db) -> int:
    with unit_of_work(db) as uow:
        return uow.conn.execute(
            select(func.count()).select_from(Document.__table__).where(Document.__table__.c.kind == "upload")
        ).scalar_one()


def report_files(db, unit_code: str) -> list:
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        [report] = uow.reports.of_unit(unit.id, ReportKind.meeting)
        photos = uow.reports.latest_data(report.id)["photos"]
        return [uow.documents.get(p["document"]) for p in photos]


def test_the_refusal_in_vietnamese_names_the_file():
    assert refused("vi", "bien-ban.png").startswith("Tệp “bien-ban.png” không phải là ảnh hoặc PDF")


def refused(locale: str, name: str) -> str:
    return gettext(
        locale,
        "The file “{name}” is not a picture or a PDF, so it was not kept. Please send a photo or a scan.",
        name=name,
    )


async def test_a_renamed_executable_is_refused_in_the_web_chat(app, db):  # noqa: F811
    async with WebUser(app, "branch", language="en") as user:
        await report_until_photos(user)
        for name, mime, content in (("bien-ban.png", "image/png", EXE), ("diem-danh.pdf", "application/pdf", ZIP)):
            frame = {"type": "file", "name": name, "mime": mime, "data": base64.b64encode(content).decode()}
            await user.send_frame(frame)
            assert refused("en", name) in user.text
        assert uploads(db) == 0
        await user.send_frame(
            {"type": "file", "name": "bien-ban.png", "mime": "image/png", "data": base64.b64encode(PNG).decode()}
        )
        assert "Received 1 of at most 10" in user.text
        await user.press("Done")
        await user.press("Send the report")
        assert "1 file(s) attached" in user.text
    [kept] = report_files(db, "RG-VB-KP1")
    assert (kept.filename, document_bytes(db, kept.id)) == ("bien-ban.png", PNG)
    assert uploads(db) == 1


async def test_a_renamed_executable_is_refused_on_telegram(settings, org, db, tg):
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "8001", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    telegram = await started_unpaced(App(tg_settings(settings, tg)))
    try:
        user = TgUser(tg, db, 8001, first_name="Dũng", language="en")
        await telegram_report_until_photos(user)
        for name, content in (("anh.jpg", EXE), ("bien-ban.pdf", EXE), ("diem-danh.png", ZIP)):
            await user.send_media(document=(name, content))
            assert refused("en", name) in user.text
        assert uploads(db) == 0
        await user.send_media(document=("bien-ban.pdf", PDF))
        assert "Received 1 of at most 10" in user.text
        await user.send_media(photo=True)
        assert "Received 2 of at most 10" in user.text
        await user.press("Done")
        await user.press("Send the report")
        assert "2 file(s) attached" in user.text
    finally:
        await telegram.stop()
    pdf, photo = report_files(db, "RG-VB-KP1")
    assert (pdf.filename, document_bytes(db, pdf.id)) == ("bien-ban.pdf", PDF)
    assert document_bytes(db, photo.id).startswith(b"\xff\xd8\xff")
    assert uploads(db) == 2


async def test_a_renamed_executable_is_refused_on_zalo(zapp, db, zalo):  # noqa: F811
    add_member(db, "84914", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="zalo", locale="en")
    user = ZaloUser(zalo, zapp, db, "84914")
    await user.say("/sinhhoat")
    for answer in (
        "hôm qua",
        "1",
        "Học tập Nghị quyết Đại hội Đoàn",
        "25",
        "20",
        "Quán triệt nghị quyết",
        "skip",
        "skip",
    ):
        await user.say(answer)
    assert "Photos of the minutes" in user.text
    await user.send(zalo.file_event("84914", zalo.add_file(EXE, "application/pdf"), "diem-danh.pdf", len(EXE)))
    assert refused("en", "diem-danh.pdf") in user.text
    await user.send(zalo.image_event("84914", zalo.add_file(ZIP, "image/png")))  # a zip served as a picture
    assert "is not a picture or a PDF, so it was not kept" in user.text
    assert uploads(db) == 0
    await user.send(zalo.file_event("84914", zalo.add_file(PDF, "application/pdf"), "diem-danh.pdf", len(PDF)))
    assert "Received 1 of at most 10" in user.text
    assert uploads(db) == 1
