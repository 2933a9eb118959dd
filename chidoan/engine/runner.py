"""Walks a journey: asks, checks, stores, moves on; summary, edit, back, cancel.

Where the user is lives in `conversation.step` as a position:
  "name"                    a top-level step
  "tasks.2.when"            sub-step "when" of item 2 (from 0) of the repeat step "tasks"
  "tasks.more"              "add another?" after an item of "tasks"
  "@summary", "@edit"       the summary, and the choice of what to edit
  "tasks.@items"            the choice of which item of "tasks" to edit, add or remove
`conversation.data` holds {"a": answers, "trail": positions visited (for back),
"ret": "summary" while editing (each answer already given is shown, with "Keep as it is"),
"ctx": what the journey was started with, "doubt": an answer read but not yet stored, waiting
for "keep" or "type again" (see `_doubt`)}; a journey started
with `only` (a plan returned for correction) also holds "only", the steps and items that may be
edited (a top-level key, or "<repeat key>.<index>"), and "queue", those walked through in order
before the summary the first time; the edit menu then offers only those, and no item is added or removed.

Buttons carry "j:<conversation id>.<version>.<action>": a button from an earlier question
(an older version) is recognised as stale and the current question is asked again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from chidoan.engine.context import Ctx
from chidoan.engine.filekinds import mime_of, picture_or_pdf
from chidoan.engine.inputs import (
    Parsed,
    ascii_int,
    format_number,
    parse_choice,
    parse_date,
    parse_id,
    parse_name,
    parse_number,
    parse_period,
    parse_text,
    parse_yes_no,
)
from chidoan.engine.journey import Answers, Journey, Kind, Step
from chidoan.engine.messages import BUTTON_GONE, Button, Typed, clip_filename, clip_label
from chidoan.engine.words import (
    BACK_WORDS,
    CANCEL_WORDS,
    DONE_WORDS,
    EDIT_WORDS,
    KEEP_TYPED_WORDS,
    KEEP_WORDS,
    NOTHING_WORDS,
    RETYPE_WORDS,
    SKIP_WORDS,
    SUBMIT_WORDS,
)
from chidoan.i18n import N_, fold, format_date
from chidoan.storage.conversations import ConversationState
from chidoan.storage.models import ConversationStatus


def button_index(text: str, size: int) -> int | None:
    """The list position a button carries, or None when it is not one of `size` (a forged or
    stale payload: "³", "-1" or 23 digits must not reach int() or a list)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        return None
    index = int(text)
    return index if index < size else None


SUMMARY = "@summary"
EDIT = "@edit"
SOURCE_MAX = 255  # document.source: a longer platform reference is not kept (a clipped one is useless)


class Runner:
    def __init__(self, journeys: list[Journey]):
        self.journeys = {j.name: j for j in journeys}

    # ---- entry points -------------------------------------------------------------------

    def start(
        self,
        ctx: Ctx,
        name: str,
        context: dict | None = None,
        answers: Answers | None = None,
        only: list[str] | None = None,
    ) -> ConversationState:
        """Begin a journey (setting aside any unfinished one, which stays in history). With
        `only` (complete `answers` given), just those steps or items ("tasks.1") are asked again,
        in that order, then the summary; nothing else can be edited."""
        journey = self.journeys[name]
        self._set_aside(ctx)
        data: dict[str, Any] = {"a": dict(answers or {}), "trail": [], "ctx": dict(context or {})}
        first = self._first_open(journey, data["a"], 0) or SUMMARY
        if only:
            data["only"] = list(only)
            data["queue"] = [self._edit_entry(journey, target) for target in only]
            data["ret"] = "summary"
            first = data["queue"][0]
        state = ctx.uow.conversations.start(ctx.account_id, name, first, data, ctx.now)
        if journey.intro:
            ctx.say(journey.intro)
        self.ask(ctx, state)
        return state

    def resume(self, ctx: Ctx, conversation_id: int) -> ConversationState | None:
        """Make a paused conversation the open one again and ask its question."""
        state = ctx.uow.conversations.paused(ctx.account_id, conversation_id)
        if state is None:
            return None
        self._set_aside(ctx)
        state.status = ConversationStatus.active
        ctx.uow.conversations.save(state, ctx.now)
        self.ask(ctx, state)
        return state

    def _set_aside(self, ctx: Ctx) -> None:
        """Pause the open conversation, if any: not lost, a journey may offer to resume it."""
        current = ctx.uow.conversations.active(ctx.account_id)
        if current is not None:
            self.close(ctx, current, ConversationStatus.paused)

    def on_text(self, ctx: Ctx, state: ConversationState, text: str) -> None:
        journey = self.journeys[state.journey]
        folded = fold(text)
        if folded in BACK_WORDS:
            return self.back(ctx, state)
        if state.step == SUMMARY:
            if folded in SUBMIT_WORDS:
                return self.submit(ctx, state)
            if folded in EDIT_WORDS:
                return self._move(ctx, state, EDIT)
            ctx.say(
                N_("Please press “{send}” to submit, or “Edit” to change an answer."),
                send=ctx.t(journey.submit_label or N_("✅ Send")).lstrip("✅ "),
            )
            return self.ask(ctx, state)
        if state.step == EDIT or state.step.endswith(".@items"):
            options = self._menu_options(ctx, journey, state)
            parsed = parse_choice(text, [(action, label) for action, label in options])
            if not parsed.ok:
                return self._reject(ctx, state, parsed)
            return self.on_action(ctx, state, str(parsed.value))
        if state.step.endswith(".more"):
            return self._answer_more(ctx, state, parse_yes_no(text))
        self._on_step_text(ctx, state, self._step_at(journey, state.step), text)

    def _on_step_text(self, ctx: Ctx, state: ConversationState, step: Step, text: str) -> None:
        folded = fold(text)
        if folded in CANCEL_WORDS and step.kind not in (Kind.text, Kind.name):
            return self.cancel(ctx, state)  # "huỷ" is no number, date or period: it is /huy typed
        if "doubt" in state.data and self._answer_doubt(ctx, state, step, folded):
            return None
        if folded in KEEP_WORDS and state.data.get("ret"):  # "giữ nguyên" is never the new answer
            return self._keep(ctx, state, step)
        if step.kind is Kind.photos:
            if folded in DONE_WORDS or (folded in SKIP_WORDS and not step.required):
                return self._photos_done(ctx, state, step)
            ctx.say(N_("Please send the photos here (as photos or files), then choose “Done”."))
            return self.ask(ctx, state)
        if not step.required and (folded in SKIP_WORDS or (step.kind is Kind.text and _says_nothing(folded))):
            return self._store(ctx, state, step, None)
        self._store_parsed(ctx, state, step, self._parse(ctx, state, step, text))

    def _answer_doubt(self, ctx: Ctx, state: ConversationState, step: Step, folded: str) -> bool:
        """Typed words at "keep it?": True when they kept the value or asked to type again;
        anything else is the answer typed again (False: to be read as that)."""
        doubt = state.data.pop("doubt")
        if folded in KEEP_WORDS - KEEP_TYPED_WORDS and self._editing(state, step):
            self._keep(ctx, state, step)  # "giữ nguyên" in an edit: the stored answer, not the doubted one
        elif folded in KEEP_TYPED_WORDS | KEEP_WORDS:
            self._store(ctx, state, step, doubt["value"])
        elif folded in RETYPE_WORDS:
            self._save_and_ask(ctx, state)
        else:
            ctx.uow.conversations.save(state, ctx.now)
            return False
        return True

    def on_media(self, ctx: Ctx, state: ConversationState, media: str) -> None:
        journey = self.journeys[state.journey]
        step = None if state.step.startswith("@") or "." in state.step else journey.step(state.step)
        if step is None or step.kind is not Kind.photos:
            ctx.say(
                N_("I can only read text here, not a {media}. Please type your answer."),
                media=ctx.t(_MEDIA.get(media, N_("file"))),
            )
            return self.ask(ctx, state)
        received = state.data["a"].setdefault(step.key, [])
        done = [[Button(ctx.t(N_("✅ Done")), f"j:{state.id}.{state.version}.done")]]
        file = ctx.incoming.file
        if file is None:
            if media == "too_big":
                ctx.say(
                    N_("That file is too big: files up to {mb} MB, please."),
                    mb=ctx.settings.max_file_kb // 1024 or 1,
                    buttons=done,
                )
            else:
                ctx.say(N_("Please send a photo or a scan (a picture or a PDF file)."), buttons=done)
            return
        sniffed = picture_or_pdf(file.content)
        if sniffed is None:  # an executable or a zip renamed .png: not kept
            ctx.say(
                N_("The file “{name}” is not a picture or a PDF, so it was not kept. Please send a photo or a scan."),
                name=clip_filename(file.name) or "file",
                buttons=done,
            )
            return
        if len(received) >= step.max_photos:
            ctx.say(
                N_("{n} files are enough for one report; this one was not added. Choose “Done” to go on."),
                n=step.max_photos,
                buttons=done,
            )
            return
        name = clip_filename(file.name) or "file"  # whatever the channel did, it fits its column
        source = file.source if file.source and len(file.source) <= SOURCE_MAX else None
        document_id = ctx.uow.documents.add(
            kind="upload", filename=name, content=file.content, now=ctx.now, source=source, mime=mime_of(sniffed)
        )
        received.append({"document": document_id, "name": name})
        ctx.uow.conversations.save(state, ctx.now)  # kept even if the person leaves before "Done"
        done = [[Button(ctx.t(N_("✅ Done")), f"j:{state.id}.{state.version}.done")]]  # the saved version
        ctx.say(
            N_("Received {n} of at most {max}. Send more, or choose “Done”."),
            n=len(received),
            max=step.max_photos,
            buttons=done,
        )

    def _photos_done(self, ctx: Ctx, state: ConversationState, step: Step) -> None:
        received = state.data["a"].get(step.key) or []
        if step.required and not received:
            ctx.say(N_("Please send at least one photo first."))
            return self.ask(ctx, state)
        self._store(ctx, state, step, received)

    def on_button(self, ctx: Ctx, state: ConversationState | None, payload: str) -> None:
        conv_part, version_part, action = (payload[2:].split(".", 2) + ["", ""])[:3]
        conv_id, version = parse_id(conv_part), ascii_int(version_part, 18)
        if conv_id is None or version is None:
            ctx.say(BUTTON_GONE)
            return
        if state is None or state.id != conv_id:
            ctx.say(N_("That button belongs to a conversation that has ended. Type /help to see what you can do."))
            return
        if version != state.version:
            ctx.say(N_("That button is from an earlier question. Here is where we are now:"))
            return self.ask(ctx, state)
        self.on_action(ctx, state, action)

    def on_action(self, ctx: Ctx, state: ConversationState, action: str) -> None:
        if action == "back":
            return self.back(ctx, state)
        if action == "x":
            return self.cancel(ctx, state)
        if state.step == SUMMARY:
            handled = self._summary_action(ctx, state, action)
        elif state.step == EDIT:
            handled = self._edit_action(ctx, state, action)
        elif state.step.endswith(".@items"):
            handled = self._items_action(ctx, state, action)
        elif state.step.endswith(".more"):
            handled = action in ("y", "n")
            if handled:
                self._answer_more(ctx, state, Parsed(action == "y"))
        else:
            handled = self._step_action(ctx, state, action)
        if not handled:
            ctx.say(BUTTON_GONE)
            self.ask(ctx, state)

    # Each returns True when the action was one of its own and has been carried out.

    def _summary_action(self, ctx: Ctx, state: ConversationState, action: str) -> bool:
        if action == "ok":
            self.submit(ctx, state)
        elif action == "edit":
            self._move(ctx, state, EDIT)
        else:
            return False
        return True

    def _edit_action(self, ctx: Ctx, state: ConversationState, action: str) -> bool:
        if action == "sum":
            state.data.pop("ret", None)
            self._move(ctx, state, SUMMARY)
            return True
        if not action.startswith("e:"):
            return False
        if "only" in state.data and action not in dict(self._menu_options(ctx, self.journeys[state.journey], state)):
            return False  # not one of the parts that may be edited
        key = action[2:]
        step = self.journeys[state.journey].step(key)
        state.data["ret"] = "summary"
        self._move(ctx, state, f"{key}.@items" if step.kind is Kind.repeat else key)
        return True

    def _items_action(self, ctx: Ctx, state: ConversationState, action: str) -> bool:
        answers = state.data["a"]
        key = state.step.split(".")[0]
        step = self.journeys[state.journey].step(key)
        items = answers.get(key) or []
        index = button_index(action[2:], len(items)) if action[:2] in ("i:", "d:") else None
        if "only" in state.data and action not in dict(self._menu_options(ctx, self.journeys[state.journey], state)):
            return False  # only the reopened items are edited; none added or removed
        if action == "add":
            items.append({})
            answers[key] = items
            self._move(ctx, state, f"{key}.{len(items) - 1}.{step.steps[0].key}")
        elif index is None:
            return False
        elif action.startswith("i:"):
            self._move(ctx, state, f"{key}.{index}.{step.steps[0].key}")
        elif len(items) <= step.min_items:
            ctx.say(
                N_("“{list}” needs at least {n}, so this one cannot be removed."),
                list=ctx.t(step.label or step.prompt),
                n=step.min_items,
            )
            self.ask(ctx, state)
        else:
            del items[index]
            self._move(ctx, state, SUMMARY)
        return True

    def _step_action(self, ctx: Ctx, state: ConversationState, action: str) -> bool:
        step = self._step_at(self.journeys[state.journey], state.step)
        doubt = state.data.get("doubt")
        if action in ("keep", "retype") and doubt is not None:
            if action == "keep":
                self._store(ctx, state, step, doubt["value"])
            else:
                self._save_and_ask(ctx, state)
        elif step.kind is Kind.photos and (action == "done" or (action == "skip" and not step.required)):
            self._photos_done(ctx, state, step)  # what was received is kept
        elif action == "skip" and not step.required:
            self._store(ctx, state, step, None)
        elif action == "unchanged":
            self._keep(ctx, state, step)
        elif action.startswith("v:") and step.kind is Kind.choice and action[2:] in {c.value for c in step.choices}:
            self._store_parsed(ctx, state, step, Parsed(action[2:]))
        elif action in ("y", "n") and step.kind is Kind.yes_no:
            self._store_parsed(ctx, state, step, Parsed(action == "y"))
        elif action.startswith("s:") and step.suggest:
            options = self._suggestions(ctx, step, state.data["a"])
            index = button_index(action[2:], len(options))
            if index is None:
                return False
            self._store_parsed(ctx, state, step, self._parse(ctx, state, step, options[index][1]))
        else:
            return False
        return True

    def _keep(self, ctx: Ctx, state: ConversationState, step: Step) -> None:
        """The answer being edited stays as it is; with none yet (a task added while editing)
        there is nothing to keep, and the question is asked again."""
        if not self._answered(state, step):
            ctx.say(N_("There is nothing to keep here yet: please type the answer."))
            return self.ask(ctx, state)
        self._store(ctx, state, step, self._current_value(state, step))

    def back(self, ctx: Ctx, state: ConversationState) -> None:
        if state.data.get("doubt") is not None:  # back from "keep it?" is the question it doubts
            return self._save_and_ask(ctx, state)
        trail = state.data["trail"]
        if not trail:
            ctx.say(N_("This is the first question; there is nothing before it."))
            return self.ask(ctx, state)
        state.step = trail.pop()
        self._save_and_ask(ctx, state)

    def cancel(self, ctx: Ctx, state: ConversationState) -> None:
        self.close(ctx, state, ConversationStatus.cancelled)
        ctx.say(N_("Cancelled. Nothing was submitted. Type /help to see what you can do."))

    def close(self, ctx: Ctx, state: ConversationState, status: ConversationStatus) -> None:
        state.status = status
        ctx.uow.conversations.save(state, ctx.now)

    def submit(self, ctx: Ctx, state: ConversationState) -> None:
        journey = self.journeys[state.journey]
        answers = self._applicable(journey, state.data["a"])
        missing = self._first_open(journey, answers, 0)
        if missing is not None:  # a branch changed under an edit: ask what is still open
            return self._move(ctx, state, missing)
        journey.complete(ctx, {**answers, "_ctx": state.data.get("ctx", {})})
        if ctx.uow.conversations.active(ctx.account_id) is None:
            return  # `complete` closed it itself (e.g. it started another journey)
        self.close(ctx, state, ConversationStatus.completed)

    # ---- asking ---------------------------------------------------------------------------

    def ask(self, ctx: Ctx, state: ConversationState) -> None:
        journey = self.journeys[state.journey]
        answers = state.data["a"]

        def btn(label: str, action: str) -> Button:
            return Button(label, f"j:{state.id}.{state.version}.{action}")

        nav = [btn(ctx.t(N_("« Back")), "back")] if state.data["trail"] else []
        if state.step == SUMMARY:
            ctx.say_text(
                self.summary(ctx, journey, answers),
                buttons=[
                    [btn(ctx.t(journey.submit_label or N_("✅ Send")), "ok"), btn(ctx.t(N_("✏️ Edit")), "edit")],
                    nav + [btn(ctx.t(N_("Cancel")), "x")],
                ],
            )
            return
        if state.step == EDIT or state.step.endswith(".@items"):
            question = N_("What would you like to change?") if state.step == EDIT else N_("Which item?")
            menu = [[btn(label, action)] for action, label in self._menu_options(ctx, journey, state)]
            ctx.say(question, buttons=menu + ([nav] if nav else []))
            return
        if state.step.endswith(".more"):
            step = journey.step(state.step.split(".")[0])
            params = (step.params(ctx, answers) if step.params else {}) | {"n": len(answers.get(step.key) or [])}
            ctx.say(
                step.more_prompt or N_("Add another?"),
                buttons=[[btn(ctx.t(N_("Yes, add another")), "y"), btn(ctx.t(N_("No, continue")), "n")]]
                + ([nav] if nav else []),
                **params,
            )
            return
        doubt = state.data.get("doubt")
        step = self._step_at(journey, state.step)
        if doubt is not None:
            keep, retype = btn(ctx.t(N_("✅ Keep as typed")), "keep"), btn(ctx.t(N_("✏️ Type again")), "retype")
            # typed as at a text step: "1"/"2" or the words press these, another answer is the answer
            text = ctx.t(doubt["question"], **doubt["params"])
            extra = list(nav)
            if self._editing(state, step):  # the answer being edited can still stay as it was
                text += "\n" + self._now(ctx, state, step)
                extra.append(btn(ctx.t(N_("Keep as it is")), "unchanged"))
            ctx.say_text(text, buttons=[[keep, retype]] + ([extra] if extra else []), typed=Typed.text)
            return
        self._ask_step(ctx, state, step, btn, nav)

    def _ask_step(
        self, ctx: Ctx, state: ConversationState, step: Step, btn: Callable[[str, str], Button], nav: list[Button]
    ) -> None:
        answers = state.data["a"]
        editing = self._editing(state, step)
        extra = list(nav)
        if editing:
            extra.append(btn(ctx.t(N_("Keep as it is")), "unchanged"))
        if not step.required:
            extra.append(btn(ctx.t(N_("Skip")), "skip"))
        rows = self._options(ctx, step, answers, btn) + ([extra] if extra else [])
        ctx.position = state.step
        params = step.params(ctx, answers) if step.params else {}
        prompt = ctx.t(step.prompt, **params)
        if editing:
            prompt += "\n" + self._now(ctx, state, step)
        ctx.say_text(prompt, buttons=rows, typed=_TYPED.get(step.kind, Typed.choice))

    def _options(self, ctx: Ctx, step: Step, answers: Answers, btn: Callable[[str, str], Button]) -> list[list[Button]]:
        """The step's own buttons: its choices, Yes/No, Done, or its one-tap suggestions."""
        if step.kind is Kind.choice:
            return [[btn(f"{i}. {ctx.t(c.label)}", f"v:{c.value}")] for i, c in enumerate(step.choices, 1)]
        if step.kind is Kind.yes_no:
            return [[btn(ctx.t(N_("Yes")), "y"), btn(ctx.t(N_("No")), "n")]]
        if step.kind is Kind.photos:
            return [[btn(ctx.t(N_("✅ Done")), "done")]]
        if step.suggest:
            return [[btn(label, f"s:{i}")] for i, (label, _text) in enumerate(self._suggestions(ctx, step, answers))]
        return []

    def typed_at(self, state: ConversationState) -> Typed:
        """How the question at the conversation's position reads typed text (see engine/typed.py)."""
        if state.step.startswith("@") or state.step.endswith((".more", ".@items")):
            return Typed.choice
        if "doubt" in state.data:
            return Typed.text
        return _TYPED.get(self._step_at(self.journeys[state.journey], state.step).kind, Typed.choice)

    def summary(self, ctx: Ctx, journey: Journey, answers: Answers) -> str:
        lines = [ctx.t(N_("Please check your answers:")), ""]
        for step in journey.steps:
            if not step.applies(answers):
                continue
            label = ctx.t(step.label or step.prompt)
            value = answers.get(step.key)
            if step.kind is Kind.repeat:
                lines.append(f"{label}:")
                for i, item in enumerate(value or [], 1):
                    parts = [
                        self._show(ctx, sub, item.get(sub.key)) for sub in step.steps if item.get(sub.key) is not None
                    ]
                    lines.append(f"  {i}. " + "; ".join(parts))
            else:
                lines.append(f"{label}: {self._show(ctx, step, value)}")
        return "\n".join(lines)

    # ---- moving -------------------------------------------------------------------------

    def _store_parsed(self, ctx: Ctx, state: ConversationState, step: Step, parsed: Parsed) -> None:
        if parsed.ok and step.validate:
            problem = step.validate(ctx, state.data["a"], parsed.value)
            if problem:
                parsed = Parsed(error=problem[0], params=problem[1])
        if parsed.ok and parsed.doubt is None and step.doubt:
            question = step.doubt(ctx, state.data["a"], parsed.value)
            if question:
                parsed = Parsed(parsed.value, doubt=question[0], params=question[1])
        if not parsed.ok:
            return self._reject(ctx, state, parsed)
        if parsed.doubt is not None:
            return self._doubt(ctx, state, parsed)
        self._store(ctx, state, step, parsed.value)

    def _doubt(self, ctx: Ctx, state: ConversationState, parsed: Parsed) -> None:
        """Ask before storing a value that may be a slip; "keep" stores it as it is, "type again"
        (or another answer typed) asks the step again. Nothing is stored meanwhile."""
        state.data["doubt"] = {"value": parsed.value, "question": parsed.doubt, "params": parsed.params}
        ctx.uow.conversations.save(state, ctx.now)  # the step's own buttons are now stale
        self.ask(ctx, state)

    def _reject(self, ctx: Ctx, state: ConversationState, parsed: Parsed) -> None:
        assert parsed.error is not None
        ctx.say(parsed.error, **parsed.params)
        self.ask(ctx, state)

    def _store(self, ctx: Ctx, state: ConversationState, step: Step, value: Any) -> None:
        journey = self.journeys[state.journey]
        answers = state.data["a"]
        parts = state.step.split(".")
        if len(parts) == 3:  # a sub-step of a repeat item
            key, index, _ = parts
            items = answers.setdefault(key, [])
            while len(items) <= int(index):
                items.append({})
            items[int(index)][step.key] = value
        else:
            answers[step.key] = value
        position = self._after(journey, state)
        if position == SUMMARY and not journey.confirm:
            return self.submit(ctx, state)
        self._move(ctx, state, position)

    def _answer_more(self, ctx: Ctx, state: ConversationState, parsed: Parsed) -> None:
        if not parsed.ok:
            return self._reject(ctx, state, parsed)
        journey = self.journeys[state.journey]
        key = state.step.split(".")[0]
        step = journey.step(key)
        if parsed.value:
            index = len(state.data["a"].get(key) or [])
            return self._move(ctx, state, f"{key}.{index}.{step.steps[0].key}")
        self._move(ctx, state, self._next_top(journey, state, step))

    def _move(self, ctx: Ctx, state: ConversationState, position: str) -> None:
        state.data["trail"].append(state.step)
        del state.data["trail"][:-50]  # back goes far enough; the row stays small
        state.step = position
        self._save_and_ask(ctx, state)

    def _save_and_ask(self, ctx: Ctx, state: ConversationState) -> None:
        state.data.pop("doubt", None)  # a doubt belongs to the question it was asked at
        ctx.uow.conversations.save(state, ctx.now)
        self.ask(ctx, state)

    def _after(self, journey: Journey, state: ConversationState) -> str:
        """Where to go once the current position is answered."""
        parts = state.step.split(".")
        if len(parts) == 3:
            key, index, sub = parts
            step = journey.step(key)
            subs = [s.key for s in step.steps]
            position = subs.index(sub) + 1
            item = state.data["a"][key][int(index)]
            while position < len(subs) and not step.steps[position].applies(item):
                position += 1
            if position < len(subs):
                return f"{key}.{index}.{subs[position]}"
            if state.data.get("ret"):
                return self._resume_edit(journey, state)
            return f"{key}.more"
        step = journey.step(parts[0])
        if state.data.get("ret"):
            return self._resume_edit(journey, state)
        return self._next_top(journey, state, step)

    def _resume_edit(self, journey: Journey, state: ConversationState) -> str:
        """After an edit go back to the summary, unless the edit opened a branch still unanswered
        or parts to edit are still queued (`start(only=...)`)."""
        queue = state.data.get("queue")
        if queue:  # walking through the reopened parts, the first time (back goes back among them)
            here = ".".join(state.step.split(".")[:2])
            position = next((i for i, entry in enumerate(queue) if ".".join(entry.split(".")[:2]) == here), len(queue))
            if position + 1 < len(queue):
                return queue[position + 1]
            state.data.pop("queue")
        missing = self._first_open(journey, state.data["a"], 0)
        if missing is None:
            state.data.pop("ret", None)
            return SUMMARY
        return missing

    def _next_top(self, journey: Journey, state: ConversationState, step: Step) -> str:
        answers = state.data["a"]
        if step.next:
            target = step.next(answers)
            if target is not None:
                return target
        index = journey.steps.index(step) + 1
        return self._first_open(journey, answers, index, unanswered_only=False) or SUMMARY

    def _first_open(self, journey: Journey, answers: Answers, start: int, unanswered_only: bool = True) -> str | None:
        """The first applicable step from `start`; with `unanswered_only`, the first one still
        lacking a required answer."""
        for step in journey.steps[start:]:
            if not step.applies(answers):
                continue
            if not unanswered_only:
                return self._entry(step)
            if step.kind is Kind.repeat:
                if len(answers.get(step.key) or []) < step.min_items:
                    return self._entry(step, len(answers.get(step.key) or []))
            elif step.key not in answers:
                return self._entry(step)
        return None

    @staticmethod
    def _edit_entry(journey: Journey, target: str) -> str:
        """Where editing `target` ("purpose", or item "tasks.1") begins."""
        key, _, index = target.partition(".")
        step = journey.step(key)
        return f"{key}.{int(index)}.{step.steps[0].key}" if step.kind is Kind.repeat else key

    @staticmethod
    def _entry(step: Step, index: int = 0) -> str:
        return f"{step.key}.{index}.{step.steps[0].key}" if step.kind is Kind.repeat else step.key

    @staticmethod
    def _applicable(journey: Journey, answers: Answers) -> Answers:
        """Answers of steps a branch no longer reaches are left out of what is submitted; hidden
        ones ("_today": what a journey's conditions need to know) stay."""
        hidden = {key: value for key, value in answers.items() if key.startswith("_")}
        return hidden | {s.key: answers[s.key] for s in journey.steps if s.applies(answers) and s.key in answers}

    @staticmethod
    def _suggestions(ctx: Ctx, step: Step, answers: Answers) -> list[tuple[str, str]]:
        assert step.suggest is not None
        options = step.suggest(ctx, answers)[:5]
        return [option if isinstance(option, tuple) else (clip_label(option, 60), option) for option in options]

    def _step_at(self, journey: Journey, position: str) -> Step:
        parts = position.split(".")
        step = journey.step(parts[0])
        if len(parts) == 3:
            return next(s for s in step.steps if s.key == parts[2])
        return step

    def _editing(self, state: ConversationState, step: Step) -> bool:
        """Whether the step is being edited and has an answer that can stay as it is."""
        return bool(state.data.get("ret")) and self._answered(state, step)

    def _now(self, ctx: Ctx, state: ConversationState, step: Step) -> str:
        return ctx.t(N_("(now: {value})"), value=self._show(ctx, step, self._current_value(state, step)))

    @staticmethod
    def _answered(state: ConversationState, step: Step) -> bool:
        """Whether the step at the conversation's position has an answer (even "skipped") to keep."""
        parts = state.step.split(".")
        answers = state.data["a"]
        if len(parts) == 3:
            items = answers.get(parts[0]) or []
            return int(parts[1]) < len(items) and step.key in items[int(parts[1])]
        return step.key in answers

    def _current_value(self, state: ConversationState, step: Step) -> Any:
        parts = state.step.split(".")
        answers = state.data["a"]
        if len(parts) == 3:
            items = answers.get(parts[0]) or []
            index = int(parts[1])
            return items[index].get(step.key) if index < len(items) else None
        return answers.get(step.key)

    def _menu_options(self, ctx: Ctx, journey: Journey, state: ConversationState) -> list[tuple[str, str]]:
        answers = state.data["a"]
        only = state.data.get("only")
        if state.step == EDIT:
            options = [
                (f"e:{s.key}", ctx.t(s.label or s.prompt))
                for s in journey.steps
                if s.applies(answers) and (only is None or any(t.partition(".")[0] == s.key for t in only))
            ]
            return options + [("sum", ctx.t(N_("Nothing, back to the summary")))]
        key = state.step.split(".")[0]
        step = journey.step(key)
        options = []
        for i, item in enumerate(answers.get(key) or []):
            if only is not None and f"{key}.{i}" not in only:
                continue
            first = item.get(step.steps[0].key)
            short = clip_label(self._show(ctx, step.steps[0], first), 40)
            options.append((f"i:{i}", ctx.t(N_("Edit {n}: {text}"), n=i + 1, text=short)))
            if only is None and len(answers.get(key) or []) > step.min_items:
                options.append((f"d:{i}", ctx.t(N_("Remove {n}"), n=i + 1)))
        return options + ([] if only is not None else [("add", ctx.t(N_("Add one more")))])

    # ---- values -------------------------------------------------------------------------

    def _parse(self, ctx: Ctx, state: ConversationState, step: Step, text: str) -> Parsed:
        if step.kind is Kind.text:
            return parse_text(text, min_len=step.min_len, max_len=step.max_len)
        if step.kind is Kind.name:
            # Vietnamese prompts ask for the name with its accents, and nearly every Vietnamese
            # name has one; in English a name may have none (a foreign member's): not asked there.
            return parse_name(text, max_len=step.max_len, accents=ctx.locale == "vi")
        if step.kind is Kind.number:
            return parse_number(
                text, locale=ctx.locale, integer=step.integer, minimum=step.minimum, maximum=step.maximum
            )
        if step.kind is Kind.date:
            return parse_date(text, today=ctx.today, not_after=ctx.today if step.not_future else None)
        if step.kind is Kind.choice:
            return parse_choice(text, [(c.value, ctx.t(c.label)) for c in step.choices])
        if step.kind is Kind.yes_no:
            return parse_yes_no(text)
        if step.kind is Kind.period:
            return parse_period(text, today=ctx.today)
        raise ValueError(f"step {step.key}: kind {step.kind} takes no typed answer")

    def _show(self, ctx: Ctx, step: Step, value: Any) -> str:
        if value is None:
            return ctx.t(N_("(skipped)"))
        if step.kind is Kind.choice:
            label = next((c.label for c in step.choices if c.value == value), str(value))
            return ctx.t(label)
        if step.kind is Kind.photos:  # none sent: "(none)", not "0 files"
            return ctx.t(N_("{n} file(s)"), n=len(value)) if value else ctx.t(N_("(none)"))
        if step.kind is Kind.yes_no:
            return ctx.t(N_("Yes") if value else N_("No"))
        if step.kind is Kind.date:
            return format_date(date.fromisoformat(value))
        if step.kind is Kind.number:
            return format_number(value, ctx.locale)
        return str(value)


def _says_nothing(folded: str) -> bool:
    """A whole answer of "không", "không có" (and "none"): at an optional text step, nothing to
    say, so the step is skipped rather than "ko" going into the report."""
    return folded.strip(" .!") in NOTHING_WORDS


# How a typed answer is read at each kind of step (the kinds not here answer by buttons only).
_TYPED = {
    Kind.text: Typed.text,
    Kind.name: Typed.text,
    Kind.number: Typed.value,
    Kind.date: Typed.value,
    Kind.period: Typed.value,
}

_MEDIA = {
    "photo": N_("photo"),
    "sticker": N_("sticker"),
    "voice": N_("voice message"),
    "video": N_("video"),
    "document": N_("file"),
    "audio": N_("audio file"),
    "location": N_("location"),
    "contact": N_("contact"),
}
