"""Hostile input found by the fuzzing run of issue 7: digits that are not ASCII, numbers no column
or JSON can hold, forged button payloads. Each gets a polite answer, never "something went
wrong", and nothing in the log at ERROR."""

from __future__ import annotations

import logging

import pytest

from chidoan.engine.inputs import parse_choice, parse_id, parse_number
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member
from tests.test_registration import started

HUGE = "9" * 23  # more than SQLite's 64-bit INTEGER
WRONG = "something went wrong"
NUMBERS = ["sNaN", "NaN", "-nan", "Infinity", "-Infinity", "inf", "1" * 5000, "²", "③", "٣", "1e5", "1E400", "1_000"]


@pytest.fixture
def errors(caplog):
    caplog.set_level(logging.ERROR)
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("maximum", [None, 100000])
def test_parse_number_refuses_what_is_no_plain_number(integer, maximum):
    for text in NUMBERS:
        parsed = parse_number(text, locale="vi", integer=integer, minimum=None, maximum=maximum)
        assert not parsed.ok, text[:20]
    assert parse_number("1.200", locale="vi").value == 1200
    assert parse_number("1,5", locale="vi", integer=False).value == 1.5
    assert parse_number("1 200", locale="vi").value == 1200
    assert parse_number("-3", locale="vi", minimum=None).value == -3
    assert parse_number("9" * 15, locale="vi", maximum=None).value == int("9" * 15)
    assert "too long" in parse_number("9" * 16, locale="vi", maximum=None).error


def test_choice_and_ids_take_ascii_digits_only():
    options = [("a", "Một"), ("b", "Hai"), ("c", "Ba")]
    for text in ("²", "③", "٣", "１", "9" * 5000):
        assert not parse_choice(text, options).ok
    assert parse_choice("3", options).value == "c"
    for text in ("²", "③", "٣", "-1", "+1", "1_0", " 1", "", "0", HUGE, "9" * 5000):
        assert parse_id(text) is None, text[:20]
    assert parse_id("42") == 42 and parse_id(str(2**63 - 1)) == 2**63 - 1 and parse_id(str(2**63)) is None


@pytest.fixture
async def app(settings, org, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    application = await started(settings, 2026, 10, 5, 8, 0)
    yield application
    await application.stop()


async def test_hostile_numbers_and_digits_at_choice_number_and_date_steps(app, db, errors):
    async with WebUser(app, "branch", language="en") as user:
        await user.say("/sinhhoat")
        for text in ("²", "③", "٣", "1" * 5000):
            await user.say(text)
            assert "type a date" in user.text, text[:20]
        await user.say("hôm qua")
        for text in ("²", "③", "٣", "1" * 5000, HUGE):
            await user.say(text)
            assert "Please choose one of the options" in user.text, text[:20]
        await user.press("Regular")
        await user.say("Học tập Nghị quyết")
        for text in NUMBERS:
            await user.say(text)
            assert "How many members does Chi đoàn Khu phố 1 have?" in user.text, text[:20]
            assert "is not a number" in user.text or "too long" in user.text, (text[:20], user.text)
        await user.say("1,200")  # English: a thousand two hundred (Vietnamese "1.200", tested above)
        assert "1,200 members is a lot for one branch" in user.text  # issue 11: asked before it is kept
        await user.press("Keep as typed")
        assert "How many members were present?" in user.text
        assert WRONG not in user.text
    assert errors() == []
    with unit_of_work(db) as uow:
        state = uow.conversations.active(uow.accounts.sender("web", "branch").account_id)
        assert state.data["a"]["total"] == 1200


async def test_forged_payloads_and_command_arguments(app, db, errors):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(app, "sec", language="en") as user:
        for command in ("/dangky ²", "/dangky ③", f"/dangky {HUGE}", "/dangky " + "1" * 5000, "/kehoach ²"):
            await user.say(command)
            assert user.text and WRONG not in user.text, command[:20]
        assert "is not covered" in user.text or "No plan" in user.text
        payloads = [
            "reg:open:²",
            "reg:open:③",
            f"reg:open:{HUGE}",
            "reg:edit:²",
            f"reg:edit:{HUGE}",
            f"reg:continue:{HUGE}",
            f"rp:view:{HUGE}",
            "rp:view:³",
            f"rp:edit:{HUGE}",
            f"cm:{HUGE}:done",
            "cm:²:done",
            f"j:{HUGE}.1.ok",
            f"j:1.{HUGE}.ok",
            "j:².1.ok",
            "j:1.².ok",
            "lang:²",
        ]
        for payload in payloads:
            await user.send_frame({"type": "button", "payload": payload})
            assert "no longer valid" in user.text or "has ended" in user.text, (payload, user.text)
    assert errors() == []


async def test_editing_a_plan_never_submitted_opens_its_draft(app, db, errors):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    async with WebUser(app, "sec", language="en") as user:
        await user.say("/dangky 2027")
        with unit_of_work(db) as uow:
            registration = uow.registrations.find(uow.units.by_code("RG-VB").id, "three_proactives_2023_2027", 2027)
        assert registration.version == 0
        await user.send_frame({"type": "button", "payload": f"reg:edit:{registration.id}"})
        assert "unfinished plan for 2027" in user.text
        assert WRONG not in user.text
        await user.press("Continue")
        assert WRONG not in user.text and user.text
    assert errors() == []
