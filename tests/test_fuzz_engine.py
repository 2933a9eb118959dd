"""Fuzzing the engine (issue 12): hypothesis-made texts, numbers, dates and button payloads from
strangers and secretaries at every kind of step, and random walks through the journeys. After
every event: no crash, an answer, nothing stored that was not confirmed, text kept as typed
(tests/fuzz/harness.py). The "ci" profile runs a few derandomized examples; bench/fuzz.py runs
10,000 cases."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from chidoan.handlers import build_engine
from chidoan.storage.models import Role
from tests.fuzz import strategies as fz
from tests.fuzz.harness import Driver, Outcome
from tests.fuzz.walks import Walk

_people = itertools.count(1)
WALKS = 8  # walks of up to 40 events each, in CI

# The meeting report's steps, and the answer that moves a secretary past each (a meeting already
# reported that day, by an earlier example, is another meeting: "có").
MEETING = {
    "held_on": "hôm qua",
    "again_ok": "có",
    "kind": "1",
    "theme": "Học tập Nghị quyết",
    "total": "25",
    "present": "20",
    "content": "Quán triệt nghị quyết, phân công nhiệm vụ",
    "opinions": "không",
    "decisions": "không",
    "photos": "bỏ qua",
    "@summary": None,
}
ONBOARDING = (("full_name", None), ("position", "Nguyễn Văn Bình"), ("@summary", "Bí thư"))


@pytest.fixture
def driver(db, org, settings):
    with Driver(db, build_engine(settings)) as d:
        yield d


def person(driver: Driver, prefix: str) -> str:
    """A new person for each example (one case)."""
    driver.tally.cases += 1
    return f"{prefix}{next(_people)}"


def at_meeting_step(driver: Driver, step: str) -> str:
    user = person(driver, "m")
    driver.member(user, "RG-VB-KP1")
    replies = driver.send(user, text="/sinhhoat").replies
    for _ in MEETING:
        state = driver.state(user)
        assert state is not None, replies
        if state.step == step:
            return user
        replies = driver.send(user, text=MEETING[state.step]).replies
    raise AssertionError(f"{step} not reached: {replies}")


def at_onboarding_step(driver: Driver, step: str) -> str:
    user = person(driver, "o")
    for position, answer in ONBOARDING:
        replies = driver.send(user, text=answer or driver.invite("RG-VB")).replies
        if position == step:
            assert driver.state(user).step == step, replies
            return user
    raise AssertionError(step)


@given(text=fz.texts, registered=st.booleans())
def test_any_text_with_nothing_open(driver, text, registered):
    user = person(driver, "s")
    if registered:
        driver.member(user, "RG-VB")
    outcome = driver.send(user, text=text)
    assert outcome.replies


@given(step=st.sampled_from([s for s in MEETING if s != "again_ok"]), text=fz.answers)
def test_any_answer_at_every_step_of_a_meeting_report(driver, step, text):
    user = at_meeting_step(driver, step)
    outcome = driver.send(user, text=text)
    note(f"now at {outcome.after.step if outcome.after else None}")


@given(step=st.sampled_from([s for s, _ in ONBOARDING]), text=fz.answers)
def test_any_answer_while_joining(driver, step, text):
    user = at_onboarding_step(driver, step)
    driver.send(user, text=text)


@given(step=st.sampled_from([s for s in MEETING if s != "again_ok"]), data=st.data())
def test_forged_and_stale_buttons_at_every_step(driver, step, data):
    user = at_meeting_step(driver, step)
    state = driver.state(user)
    payload = data.draw(fz.payloads(state.id, state.version, sorted(driver.engine.actions)))
    outcome: Outcome = driver.send(user, payload=payload)
    assert outcome.replies


@given(text=fz.numbers)
def test_numbers(driver, text):
    driver.send(at_meeting_step(driver, "total"), text=text)


@given(text=fz.dates)
def test_dates(driver, text):
    driver.send(at_meeting_step(driver, "held_on"), text=text)


def test_the_driver_sees_a_confirmed_submission(driver):
    """The harness itself: a confirmation stores a version, and the driver counts it."""
    user = at_meeting_step(driver, "@summary")
    driver.send(user, payload=driver.button(user, "ok"))
    assert driver.tally.submitted == 1 and driver.state(user) is None
    user = at_onboarding_step(driver, "@summary")
    driver.send(user, text="1")  # the confirm button, typed
    assert driver.tally.submitted == 2
    assert Role.secretary in {r.role for r in roles_of(driver, user)}


def roles_of(driver: Driver, user: str):
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(driver.db) as uow:
        return uow.roles.active_of(uow.accounts.sender("web", user).account_id)


def test_random_walks_through_the_journeys(driver):
    """A secretary walked at random through plans, meetings, dialogues, edits, /huy, stale and
    forged buttons (tests/fuzz/walks.py); every event checked."""
    Walk.driver = driver
    run_state_machine_as_test(Walk, settings=settings(max_examples=WALKS, stateful_step_count=40))
    assert driver.tally.events > WALKS * 10
