"""A secretary walked through the journeys by hypothesis (a RuleBasedStateMachine): commands,
valid and invalid answers, buttons pressed or typed, stale and forged buttons, /huy, edits,
files, an invite redeemed, deliveries repeated. Every event is checked by the driver
(tests/fuzz/harness.py); `Walk.driver` is set by whoever runs it (a test, bench/fuzz.py)."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from chidoan.engine.journey import Kind
from chidoan.engine.messages import InFile
from chidoan.engine.runner import SUMMARY
from chidoan.engine.typed import buttons_of
from tests.fuzz import strategies as fz
from tests.fuzz.harness import Driver, Outcome

_walkers = itertools.count(1)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
COMMANDS = (
    "/sinhhoat",
    "/doithoai",
    "/dangky",
    "/huy",
    "/trangthai",
    "/kehoach",
    "/toi",
    "/trogiup",
    "/ngonngu",
    "/baocao",
    "/start",
)
VALID = {
    Kind.text: ("Nội dung kiểm thử đầy đủ", "Đoàn viên đề xuất sân chơi", "không", "Chi đoàn", "ok"),
    Kind.name: ("Nguyễn Văn Bình", "Trần Thị Ánh", "Nguyen Van Binh", "Lê Văn"),
    Kind.number: ("20", "25", "1.200", "khoảng 80", "0", "301"),
    Kind.date: ("hôm qua", "hôm nay", "01/10/2026", "15/11/2025", "31/12/2026"),
    Kind.period: ("Quý I/2027", "tháng 3/2027", "2027", "Cả năm", "T9/2027", "quy 1/2026"),
}


def _navigation(payload: str) -> bool:
    return payload.rpartition(".")[2] in ("back", "x", "skip", "unchanged", "edit", "ok")


class Walk(RuleBasedStateMachine):
    driver: Driver  # set before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.driver.tally.cases += 1
        number = next(_walkers)
        self.user, self.unit = f"w{number}", f"RG-W{number}"
        # A base unit's secretary (plans, meetings, dialogues), of a unit of their own: a walk
        # replayed by hypothesis finds the same plans and reports as the first time.
        self.driver.unit(self.unit)
        self.driver.member(self.user, self.unit)
        self.seen: list[str] = []  # payloads shown so far (pressed again later: stale)
        self.last: Outcome | None = None

    def send(self, **event) -> Outcome:
        outcome = self.driver.send(self.user, **event)
        for reply in outcome.replies:
            self.seen += [payload for row in reply.get("buttons", []) for payload in (b["payload"] for b in row)]
        del self.seen[:-40]
        self.last = outcome
        return outcome

    def shown(self) -> list[tuple[str, str]]:
        return buttons_of(self.driver.last_question(self.user) or {})

    def step_kind(self) -> Kind | str | None:
        state = self.driver.state(self.user)
        if state is None:
            return None
        if state.step.startswith("@") or state.step.endswith((".more", ".@items")):
            return state.step
        journey = self.driver.engine.runner.journeys[state.journey]
        return self.driver.engine.runner._step_at(journey, state.step).kind

    # ---- rules ----------------------------------------------------------------------------

    @rule(command=st.sampled_from(COMMANDS))
    def command(self, command: str) -> None:
        self.send(text=command)

    @rule(data=st.data())
    def press_a_shown_button(self, data: st.DataObject) -> None:
        shown = self.shown()
        if shown:
            self.send(payload=data.draw(st.sampled_from(shown))[1])
        else:
            self.send(text=data.draw(st.sampled_from(COMMANDS)))

    @rule(data=st.data())
    def type_a_shown_button(self, data: st.DataObject) -> None:
        """Its label (maybe without accents), or its number."""
        shown = self.shown()
        if not shown:
            return self.command(data.draw(st.sampled_from(COMMANDS)))
        index = data.draw(st.integers(0, len(shown) - 1))
        label = shown[index][0]
        typed = data.draw(st.sampled_from((label, fz.strip_accents(label), str(index + 1), label.lower())))
        self.send(text=typed)

    @rule(data=st.data())
    def answer_validly(self, data: st.DataObject) -> None:
        kind = self.step_kind()
        if kind in VALID:
            self.send(text=data.draw(st.sampled_from(VALID[kind])))
        elif kind == Kind.photos:
            if data.draw(st.booleans()):
                self.send(media="photo", file=InFile("bien-ban.png", "image/png", PNG, "tg-file-1"))
            else:
                self.send(text=data.draw(st.sampled_from(("xong", "bỏ qua", "done"))))
        elif kind == SUMMARY:
            self.send(text=data.draw(st.sampled_from(("gửi", "sửa", "1", "2", "quay lại"))))
        else:
            self.press_a_shown_button(data)

    @rule(text=fz.answers)
    def answer_anything(self, text: str) -> None:
        self.send(text=text)

    @rule(data=st.data())
    @precondition(lambda self: bool(self.seen))
    def press_an_old_button(self, data: st.DataObject) -> None:
        self.send(payload=data.draw(st.sampled_from(self.seen)))

    @rule(data=st.data())
    def press_a_forged_button(self, data: st.DataObject) -> None:
        state = self.driver.state(self.user)
        actions = sorted(self.driver.engine.actions)
        payload = data.draw(fz.payloads(state.id if state else None, state.version if state else None, actions))
        self.send(payload=payload)

    @rule(media=st.sampled_from(("sticker", "voice", "photo", "too_big", "document", "unreadable")))
    def send_something_else(self, media: str) -> None:
        file = InFile("virus.png", "image/png", b"MZ\x90\x00 not a picture") if media == "photo" else None
        self.send(media=media, file=file)

    @rule()
    @precondition(lambda self: self.last is not None)
    def deliver_again(self) -> None:
        """The platform delivers the last event again: a duplicate, nothing happens."""
        assert self.last is not None
        inc = self.last.incoming
        before = self.driver.state(self.user)
        again = self.driver.send(
            self.user, text=inc.text, payload=inc.payload, media=inc.media, file=inc.file, event_id=inc.event_id
        )
        assert not again.new and again.replies == []
        after = self.driver.state(self.user)
        position = None if before is None else (before.id, before.step, before.version)
        assert position == (None if after is None else (after.id, after.step, after.version))

    @rule(start=st.sampled_from(("/sinhhoat", "/doithoai", "/dangky", None)))
    def fast_forward(self, start: str | None) -> None:
        """Answer validly (the first usual answer, the first option) until the summary: random
        answers alone seldom get that far, and what happens there matters most."""
        if start is not None:
            self.send(text=start)
        for _ in range(60):
            state = self.driver.state(self.user)
            if state is None or state.step == SUMMARY:
                return
            kind = self.step_kind()
            shown = [(label, p) for label, p in self.shown() if p.startswith("j:") and not _navigation(p)]
            if "doubt" in state.data:
                self.send(payload=self.driver.button(self.user, "keep"))
            elif kind in VALID:
                self.send(text=VALID[kind][0])
            elif kind == Kind.photos:
                self.send(text="bỏ qua")
            elif isinstance(kind, str) and kind.endswith(".more"):
                self.send(payload=self.driver.button(self.user, "n"))
            elif kind == "@edit":
                self.send(payload=self.driver.button(self.user, "sum"))
            elif shown:
                self.send(payload=shown[0][1])
            else:
                return

    @rule()
    def redeem_an_invite(self) -> None:
        self.send(text=self.driver.invite(self.unit))
