"""Choices typed instead of pressed: Zalo has no buttons that call back, and people type anyway.

The engine remembers the last message it showed in each chat of an account (`prompt` table:
its text, its buttons in reading order and how typed text is read there); text that arrives
next from that chat is matched against it and, when it names a button, handled exactly as if
that button had been pressed. A question shown in the person's other app (a follow-up sent to
their notice app) is never matched against text typed here.

What names a button depends on the question (`Typed` of the message):

* choice (a menu, a choice step, yes/no, the summary, a handler's buttons): the option's number
  (its position in reading order, "1" to "N"), its label typed with or without accents (case,
  emoji and punctuation ignored, a leading "3." too; "năm 2027" for "2027"), a synonym
  (words.SYNONYMS), or words that are part of exactly one label ("dang thuc hien" for "⏳ Đang
  thực hiện").
* text (a free-text step that also offers buttons: Back, Skip, one-tap suggestions): only the
  number alone of an option (a suggestion: Back, Skip and Cancel are not numbered there and take
  their words, so "1" at a step with only Back is the answer "1"), a whole label ("bi thu" for
  "Bí thư", "ban chap hanh" for "Ban Chấp hành"), a synonym ("dung" for "✅ Dùng nội dung gợi
  ý", "bo qua" for "Bỏ qua"), or a suggestion begun. The answer here goes into documents as
  typed, so a suggestion's words typed in a hurry take the suggestion, by one conservative rule:
  - short forms are read as the labels write them (words.SHORT_FORMS): "BCH" is "Ban Chấp hành",
    "BTV" "Ban Thường vụ", "ủy ban nhân dân" "UBND"; so "BCH" names "Ban Chấp hành" whole;
  - text typed without any accent mark (i18n.has_marks) whose words, two at least, are the first
    words of exactly one suggestion takes it: "bi thu dang uy" is "Bí thư Đảng ủy phường",
    "chu tich ubnd" "Chủ tịch UBND phường".
  Anything else is the answer, as typed: "2 buổi", "Dùng xe đạp"; text with accents, which is
  written as the person wants it ("Phó Chủ tịch UBND", "Bí thư Đảng ủy"); one word ("bi"); words
  from inside a label ("dang uy phuong") or going on past it ("bi thu dang uy xa", "BCH chi
  doan"); and "pho chu tich ubnd" where no suggestion begins so.
* value (a number, date or period step): a whole label or a synonym; a number is the answer.

Numbers refer to the latest question only, and are 1 and up ("0" is never an option). A number
the latest question does not have is not stored as an answer: when the question before it had
that many options it "belongs to an earlier question" (the person answered a menu that has
since been replaced), otherwise there is no such option; either way the person is told and the
question is asked again. Told once, the same number typed again at the same question is taken
at its word: the answer at a text step ("2" as a free-text answer right after a menu of three),
no such option at a choice. At a text step only the first case is caught, a bigger number goes
through as text. And when a command's menu (`/ngonngu`, a follow-up question) came after a
journey's number or date step that is still open, a number that menu lacks goes to that step:
"25" is the members' count, not option 25.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from chidoan.engine.inputs import ascii_int
from chidoan.engine.messages import Outgoing, Typed, is_navigation
from chidoan.engine.words import SHORT_FORMS, SYNONYMS
from chidoan.i18n import LOCALES, fold, gettext, has_marks
from chidoan.storage.uow import UnitOfWork

_NUMBERED = re.compile(r"^\d{1,3}[.)]\s+")
_WORD = re.compile(r"[^\W_]+")
_YEAR_SAID = re.compile(r"^(?:nam|year) (\d{4})$")  # "năm 2027", as a plan's year is said: "2027"
_SHORT = re.compile(r"\b(?:" + "|".join(map(re.escape, SHORT_FORMS)) + r")\b")


@lru_cache(maxsize=4096)  # labels come back with every question: "« Quay lại", "Có", "Bỏ qua"
def plain(text: str) -> str:
    """The words of a label or of what was typed: folded, without numbering, emoji or punctuation."""
    return " ".join(_WORD.findall(_NUMBERED.sub("", fold(text))))


@cache
def _synonyms() -> dict[str, frozenset[str]]:
    """Plain label (in every locale) -> the words that stand for it."""
    table: dict[str, set[str]] = {}
    for label, words in SYNONYMS.items():
        for locale in LOCALES:
            table.setdefault(plain(gettext(locale, label)), set()).update(plain(w) or w for w in words)
    return {label: frozenset(words) for label, words in table.items()}


@lru_cache(maxsize=4096)
def spelled(words: str) -> str:
    """Plain words with short forms written as labels write them: "bch" -> "ban chap hanh"."""
    return _SHORT.sub(lambda short: SHORT_FORMS[short.group()], words)


def _begun(buttons: list[tuple[str, str]], words: str, typed_plainly: bool) -> list[str]:
    """The suggestions (not Back, Skip or Cancel) named by `words` spelled out, or, with
    `typed_plainly` (no accent mark), begun by them, two words at least (see the module)."""
    said = spelled(words).split()
    options = [(spelled(plain(label)).split(), payload) for label, payload in numbered_buttons(buttons, Typed.text)]
    found = [payload for label, payload in options if label == said]
    if not found and typed_plainly and len(said) >= 2:
        found = [payload for label, payload in options if label[: len(said)] == said]
    return found


_LONGEST = 40  # no synonym in words.py is longer


@dataclass(frozen=True)
class Match:
    payload: str | None = None  # press this button
    number: int | None = None  # a number the latest question does not have
    earlier: bool = False  # ... but the question before it had


def buttons_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(label, payload) for row in body.get("buttons", []) for label, payload in row]


def numbered_buttons(buttons: list[tuple[str, str]], typed: Typed) -> list[tuple[str, str]]:
    """The buttons a bare number stands for, in order: at a free-text step only its options (a
    suggestion), never Back, Skip or Cancel, which take their words there."""
    if typed is Typed.text:
        return [(label, payload) for label, payload in buttons if not is_navigation(payload)]
    return buttons


def numbered_count(body: dict[str, Any]) -> int:
    """How many numbers the remembered question answered to: none where a number was the answer."""
    typed = Typed(body.get("typed", Typed.choice))
    return 0 if typed is Typed.value else len(numbered_buttons(buttons_of(body), typed))


def match(body: dict[str, Any], text: str) -> Match | None:
    """What `text` means against the remembered question `body`, or None: not a choice."""
    buttons = buttons_of(body)
    typed = Typed(body.get("typed", Typed.choice))
    earlier = int(body.get("earlier", 0))
    stripped = text.strip()
    number = ascii_int(stripped.rstrip("."), 3)  # "③" or "²" is no option's number
    if number is not None and typed is not Typed.value:
        numbered = numbered_buttons(buttons, typed)
        if 1 <= number <= len(numbered):
            return Match(payload=numbered[number - 1][1])
        if 1 <= number <= earlier and number not in body.get("told", ()):
            return Match(number=number, earlier=True)
        if typed is Typed.choice and buttons:
            return Match(number=number)
        return None
    if len(stripped) > _LONGEST and all(len(stripped) > len(label) for label, _payload in buttons):
        return None  # longer than any label or synonym: an answer in its own words (most are)
    words = plain(stripped)
    if not words:
        return None
    year = _YEAR_SAID.match(words)
    found = [payload for label, payload in buttons if plain(label) in (words, year and year.group(1))]
    if not found:
        synonyms = _synonyms()
        found = [payload for label, payload in buttons if words in synonyms.get(plain(label), ())]
    if not found and typed is Typed.choice:
        found = [payload for label, payload in buttons if f" {words} " in f" {plain(label)} "]
    if not found and typed is Typed.text:
        found = _begun(buttons, words, typed_plainly=not has_marks(stripped))
    if len(set(found)) == 1:  # the same label twice presses either; two different ones, neither
        return Match(payload=found[0])
    return None


_UNREAD: Any = object()


def remember(
    uow: UnitOfWork,
    account_id: int,
    message: Outgoing,
    now: datetime,
    *,
    channel: str,
    chat_id: str,
    last: Any = _UNREAD,
    told: int | None = None,
) -> None:
    """`message` is now the account's question in the chat (`channel`, `chat_id`) it is shown in.
    `last`: the account's question in that chat as already read in this transaction, if it was;
    `told`: see `prompt_of`."""
    if last is _UNREAD:
        last = uow.prompts.last(account_id, channel, chat_id)
    prompt = prompt_of(message, last, told)
    if prompt is not None:
        uow.prompts.put(account_id, channel, chat_id, *prompt, now)


def prompt_of(message: Outgoing, last: tuple[int, dict] | None, told: int | None = None) -> tuple[int, dict] | None:
    """The (seq, body) that makes `message` the question in a chat whose question was `last`;
    None when it is that question already, asked the same way. Asking the same again keeps what
    came before it (so a number for the menu before a re-asked question is still recognised as
    stale), and `told`: a number the person was just told belongs to that earlier menu, taken as
    an answer if they type it again."""
    buttons = [[[b.label, b.payload] for b in row] for row in message.buttons]
    body: dict[str, Any] = {"text": message.text, "buttons": buttons, "typed": str(message.typed)}
    seq, earlier, numbers = 1, 0, []
    if last is not None:
        seq, before = last
        if before.get("buttons") == buttons and before.get("typed") == body["typed"]:
            earlier, numbers = int(before.get("earlier", 0)), list(before.get("told", []))
            if told is not None and told not in numbers:
                numbers.append(told)
        else:
            seq, earlier = seq + 1, numbered_count(before)
    body["earlier"] = earlier
    if numbers:
        body["told"] = numbers
    return None if last is not None and last == (seq, body) else (seq, body)


def question(body: dict[str, Any], locale: str) -> Outgoing:
    """The remembered question, to ask again."""
    rows = [[{"label": label, "payload": payload} for label, payload in row] for row in body.get("buttons", [])]
    return Outgoing.from_body({"text": body["text"], "typed": body.get("typed"), "buttons": rows}).with_hint(locale)
