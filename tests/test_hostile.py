"""The hostile-input corpus (tests/hostile/corpus.json, issue 7) through the real web channel at
every kind of step: a seeded sample of every class here; all of it in `bench/hostile.py`."""

from __future__ import annotations

import pytest

from chidoan.bot.app import App
from tests.hostile.drive import CONTEXTS, load_corpus, materialise, prepare, run, sample, stored_form

CLASSES = {
    "unicode_digits",
    "huge_numbers",
    "nan_infinity",
    "sql_like",
    "huge_text",
    "emoji_only",
    "empty_whitespace",
    "invisible_marks",
    "nul_surrogates",
    "control_chars",
    "forged_payloads",
    "unknown_commands",
    "command_args",
    "malformed_frames",
    "binary_frames",
    "huge_frames",
}


def test_the_corpus_covers_every_class():
    corpus = load_corpus()
    assert {e["class"] for e in corpus} == CLASSES
    assert any(len(materialise(e)) >= 100_000 for e in corpus if e["class"] == "huge_text")
    assert any(e.get("expect") == "close" for e in corpus)
    assert stored_form("a\x00b\ud800c") == "ab?c" and stored_form("\ud83d\ude00") == "😀"


@pytest.fixture
async def app(settings, org, db):
    ids = prepare(db)
    application = App(settings)
    await application.start()
    yield application, ids
    await application.stop()


async def test_a_sample_of_the_corpus_at_every_kind_of_step(app, db):
    application, ids = app
    entries = sample(load_corpus(), per_class=3, seed=7)
    tally = await run(application, db, ids, entries)
    assert tally.sent == len(entries) * len(CONTEXTS)
    assert (tally.exceptions, tally.apologies, tally.dropped, tally.problems) == (0, 0, 0, []), tally.line()
