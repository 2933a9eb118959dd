"""One incoming event in, its effects stored: de-duplicate, identify, route, queue replies.

`Engine.process` is synchronous and runs inside the caller's unit of work, so the event, the
conversation state and the outbox rows commit together (see bot/processor.py for batching).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from chidoan.engine.commands import Command, closest, parse_command
from chidoan.engine.context import Ctx, Notice
from chidoan.engine.jobs import JobFn
from chidoan.engine.journey import Journey
from chidoan.engine.messages import BUTTON_GONE, FACTS, Button, Incoming, Outgoing, Typed, clean_text
from chidoan.engine.notices import WINDOWED, Window, route
from chidoan.engine.rendering import NeedsRendering, Renders
from chidoan.engine.runner import Runner
from chidoan.engine.typed import buttons_of, match, question, remember
from chidoan.i18n import N_, gettext, pick_locale
from chidoan.redaction import hiding
from chidoan.storage.conversations import ConcurrentUpdate
from chidoan.storage.events import EarlierFirst
from chidoan.storage.invites import looks_like_code
from chidoan.storage.links import looks_like_link_code
from chidoan.storage.models import OutboxKind, OutboxStatus, Priority
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

Action = Callable[[Ctx, str], None]

NOT_REGISTERED = N_(
    "You are not registered yet. Please send the invite code you were given (8 letters and digits), or ask the union above you for one."
)


FAILED_APOLOGY = N_(
    "Sorry, we could not handle your last message because of a problem on our side. It has been kept for the team to look into. Please try again later, or in another way."
)
COMMAND_BUTTON = "cmd"  # the payload of a suggested command's button: "cmd:dangky"
RAW_MAX = 64 * 1024  # inbound_event.raw: enough to handle the event later, never a whole file
CHAT_ID_MAX = 64  # outbox.chat_id: longer ids come only in forged bodies (and PostgreSQL refuses them)


class Engine:
    def __init__(
        self,
        settings,
        *,
        commands: list[Command],
        journeys: list[Journey],
        actions: Mapping[str, Action],
        on_code: Action,
        on_link_code: Action | None = None,
        jobs: Mapping[str, JobFn] | None = None,
        on_contact: Callable[[Ctx], bool] | None = None,
    ):
        self.settings = settings
        self.runner = Runner(journeys)
        self.commands = commands
        self._by_name = {name: c for c in commands for name in (c.name, *c.aliases)}
        self.actions = actions
        self.on_code = on_code
        self.on_link_code = on_link_code
        self.jobs: Mapping[str, JobFn] = jobs or {}  # by kind: see engine/jobs.py
        # Asked at a command or message with no journey open; True: it answered instead and the
        # message waits (the personal data notice, handlers/privacy.py), see `handle_again`.
        self.on_contact = on_contact
        self.window = Window.of(settings)
        self.renders = Renders()  # documents rendered outside the transaction (engine/rendering.py)

    def command(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def process(self, uow: UnitOfWork, incoming: Incoming, now: datetime, *, isolate: bool = False) -> bool:
        """Handle one event; False when it was a duplicate and nothing was done.

        With `isolate`, a failing handler is undone alone (savepoint) and the user is told; without
        it (the batch fast path) the failure propagates and the caller retries with `isolate`.
        A numbered event (`incoming.number`) raises EarlierFirst while an earlier one of its
        person is received and not handled: the caller hands it in again a little later."""
        if incoming.fact is not None:
            return self._record_fact(uow, incoming, now)
        if incoming.number is not None and isolate:  # a batch took its people's turns at once
            uow.events.take_turns([(incoming.channel, incoming.user_id)])
        text = clean_text(incoming.text)
        name = clean_text(incoming.display_name, 255)
        sender = uow.accounts.sender(incoming.channel, incoming.user_id)
        if sender is None:
            sender = uow.accounts.create_with_identity(
                channel=incoming.channel,
                external_id=incoming.user_id,
                chat_id=incoming.chat_id,
                display_name=name,
                locale=pick_locale(incoming.language_code, self.settings.default_locale),
                now=now,
            )
        elif (
            sender.chat_id != incoming.chat_id
            or not sender.reachable
            or (name is not None and sender.display_name != name)
        ):
            uow.accounts.touch_identity(sender.identity_id, chat_id=incoming.chat_id, display_name=name)
        if incoming.number is not None and uow.events.earlier(incoming.channel, sender.account_id, incoming.number):
            raise EarlierFirst(incoming.event_id)
        record = uow.events.claim if incoming.accepted else uow.events.record
        event = record(
            channel=incoming.channel,
            event_id=incoming.event_id,
            account_id=sender.account_id,
            kind=incoming.kind,
            text=text,
            payload=clean_text(incoming.payload, 256),
            now=now,
        )
        if event is None:
            return False
        released: list = []
        if not sender.reachable or sender.channel in WINDOWED:
            # Back within reach (a Zalo person may have notices held by the window, whatever its
            # length now): what was held for this chat goes first, in its order.
            released = uow.outbox.release_held(incoming.channel, incoming.chat_id, now)
        if sender.last_seen_at != now:  # not for a duplicate: notices go to the channel used last
            uow.accounts.seen(sender.identity_id, now)
        ctx = Ctx(
            uow=uow, incoming=incoming, sender=sender, now=now, tz=self.settings.tz, settings=self.settings, engine=self
        )
        ctx.event_row = event
        state = uow.conversations.from_sender(sender)
        if not isolate:
            self._route(ctx, state, text)
            self._remember(ctx, released)
            self._queue(ctx)
            return True
        try:
            with uow.savepoint():
                self._route(ctx, state, text)
                self._remember(ctx, released)
                self._queue(ctx)
                uow.outbox.flush()  # inside the savepoint: undone with the handler's other writes
        except (ConcurrentUpdate, DBAPIError, NeedsRendering):
            raise  # the transaction itself is in question (or waits for a rendering): the processor retries
        except Exception:
            # The event row stays (nothing the user sent is lost); its effects are undone.
            with hiding(incoming.text, incoming.payload, incoming.display_name):
                log.exception("handler failed on %s event %s", incoming.channel, incoming.event_id)
            ctx.replies = [
                Outgoing(
                    gettext(
                        ctx.locale,
                        N_(
                            "Sorry, something went wrong on our side. Your message was saved; please try again in a moment."
                        ),
                    )
                )
            ]
            ctx.notices = []
            self._queue(ctx)
            uow.outbox.flush()
        return True

    def _record_fact(self, uow: UnitOfWork, incoming: Incoming, now: datetime) -> bool:
        """A platform fact about a person (blocked or unblocked the bot, followed or unfollowed an
        account): recorded like any event (so a duplicate is dropped), and the identity's
        reachability follows it. Nothing is said: the person did not write."""
        sender = uow.accounts.sender(incoming.channel, incoming.user_id)
        record = uow.events.claim if incoming.accepted else uow.events.record
        recorded = record(
            channel=incoming.channel,
            event_id=incoming.event_id,
            account_id=sender.account_id if sender else None,
            kind=incoming.kind,
            text=None,
            payload=None,
            now=now,
        )
        if recorded is None or sender is None:
            return recorded is not None
        uow.accounts.set_reachable(sender.identity_id, FACTS[incoming.kind], now)
        if FACTS[incoming.kind]:  # followed or unblocked again: what was held for them goes now
            uow.outbox.release_held(sender.channel, sender.chat_id, now)
        return True

    def keep_failed(self, uow: UnitOfWork, incoming: Incoming, error: str, now: datetime, raw: str | None) -> bool:
        """Keep an event that could not be handled, marked failed (a dead letter: `chidoan failed`
        lists them), and apologise to its sender once, in their language. False when it was
        stored before (this is a delivery again): nothing is done. Only reads and plain inserts
        of clipped values, so it succeeds whenever the database takes writes at all."""
        sender = uow.accounts.sender(incoming.channel, incoming.user_id) if incoming.user_id else None
        stored = uow.events.record_failed(
            channel=incoming.channel[:16],
            event_id=incoming.event_id[:64],
            account_id=sender.account_id if sender else None,
            kind=incoming.kind[:16],
            text=clean_text(incoming.text),
            payload=clean_text(incoming.payload, 256),
            error=clean_text(error, 512) or "",
            raw=clean_text(raw, RAW_MAX),
            now=now,
        )
        if stored is None:
            return False
        # A chat id too long to store is no chat to tell: cut to fit, it would be someone else's.
        if incoming.chat_id and len(incoming.chat_id) <= CHAT_ID_MAX:
            locale = sender.locale if sender else pick_locale(incoming.language_code, self.settings.default_locale)
            apology = Outgoing(gettext(locale, FAILED_APOLOGY))
            account_id = sender.account_id if sender else None
            uow.outbox.queue([outbox_row(incoming.channel, incoming.chat_id, account_id, apology, now)])
        return True

    def _route(self, ctx: Ctx, state, text: str | None) -> None:
        if ctx.incoming.payload is not None:
            return self._press(ctx, state, ctx.incoming.payload)
        if text is None:
            if state is not None:
                return self.runner.on_media(ctx, state, ctx.incoming.media or "")
            ctx.say(N_("I can only read text messages. Type /help to see what you can do."))
            return
        command = parse_command(text)
        if command is not None:
            if self._held_back(ctx, state):
                return
            return self._run_command(ctx, state, *command)
        self._route_text(ctx, state, text)

    def _route_text(self, ctx: Ctx, state, text: str) -> None:
        """Text that is no command: a link code, a button typed, an answer, an invite code, or a
        command's name without its slash."""
        if self.on_link_code is not None and looks_like_link_code(text):  # even mid-conversation
            return self.on_link_code(ctx, text)
        if self._typed_choice(ctx, state, text):
            return
        if state is not None:
            return self.runner.on_text(ctx, state, text)
        if self._held_back(ctx, state):
            return
        if looks_like_code(text):
            return self.on_code(ctx, text)
        if self._suggest_command(ctx, text):
            return
        if not ctx.registered:
            ctx.say(NOT_REGISTERED)
            return
        if not self._ask_again(ctx):
            ctx.say(N_("I did not understand that. Type /help to see what you can do."))

    def _held_back(self, ctx: Ctx, state) -> bool:
        return state is None and self.on_contact is not None and self.on_contact(ctx)

    def handle_again(self, ctx: Ctx, text: str) -> None:
        """A message held back by `on_contact`, handled now: a command, or an invite code (other
        text, said with nothing open, has had its answer)."""
        command = parse_command(text)
        if command is not None:
            self._run_command(ctx, ctx.uow.conversations.active(ctx.account_id), *command)
        elif looks_like_code(text):
            self.on_code(ctx, text)

    def _press(self, ctx: Ctx, state, payload: str) -> None:
        prefix, _, arg = payload.partition(":")
        if prefix == "j":
            return self.runner.on_button(ctx, state, payload)
        if prefix == COMMAND_BUTTON:  # a suggested command: as if typed (and checked) again
            return self._run_command(ctx, state, arg[:32], "")
        action = self.actions.get(prefix)
        if action is None:
            ctx.say(BUTTON_GONE)
            return
        return action(ctx, arg)

    def _typed_choice(self, ctx: Ctx, state, text: str) -> bool:
        """Text that names a button of the last question shown in this chat is that button
        pressed; a number that question does not have is answered here (see engine/typed.py).
        False: the text is for the step (or whatever handles text) to read. A question shown in
        the person's other app is never matched here."""
        last = ctx.last_prompt
        found = match(last[1], text) if last else None
        if found is None:
            return False
        if found.payload is not None:
            self._press(ctx, state, found.payload)
            return True
        assert last is not None
        body = last[1]
        ours = state is not None and all(p.startswith(f"j:{state.id}.") for _label, p in buttons_of(body))
        if state is not None and not ours and self.runner.typed_at(state) is Typed.value:
            return False  # a command's menu came in between: "25" is still the open step's number
        if found.earlier:
            ctx.told = found.number
        if not ours and not body.get("buttons"):  # what came since offers nothing to choose from
            ctx.say(N_("Option {n} belongs to an earlier question. Type /help to see what you can do."), n=found.number)
            return True
        if found.earlier:
            ctx.say(N_("Option {n} belongs to an earlier question. Here is the current one:"), n=found.number)
        else:
            ctx.say(N_("There is no option {n} here. Please choose one of these:"), n=found.number)
        if ours:
            self.runner.ask(ctx, state)  # the journey's own question, fresh
        else:
            ctx.replies.append(question(body, ctx.locale))
        return True

    def _remember(self, ctx: Ctx, released: list | None = None) -> None:
        """The last reply is the question the person now has in front of them, in the chat they
        wrote from (replies go there); unless it offers no choice and a question held for them (a
        commitment's follow-up, released to that same chat) goes out just before it: then that
        one is answered by typing (or by tapping, on Zalo)."""
        if ctx.forget_me:
            return
        asked = ctx.replies[-1] if ctx.replies else None
        if asked is None or not asked.buttons:
            held = [Outgoing.from_body(r.body) for r in released or () if r.body.get("buttons")]
            asked = held[-1] if held else asked
        if asked is not None:
            inc = ctx.incoming
            remember(
                ctx.uow,
                ctx.account_id,
                asked,
                ctx.now,
                channel=inc.channel,
                chat_id=inc.chat_id,
                last=ctx.last_prompt,
                told=ctx.told,
            )

    def _run_command(self, ctx: Ctx, state, name: str, args: str) -> None:
        command = self._by_name.get(name)
        guess = None if command else self._guess(ctx, name, args)
        if guess is not None:
            ctx.say(
                N_("There is no command /{name}. Did you mean /{command}?"),
                name=name[:32],
                command=guess,
                buttons=self._run_button(ctx, guess),
            )
        elif command is None:
            ctx.say(N_("There is no command /{name}. Type /help to see the commands you can use."), name=name[:32])
        elif not command.allowed(ctx):
            if ctx.registered:
                ctx.say(N_("Your role does not allow /{name}. Type /help to see the commands you can use."), name=name)
            else:
                ctx.say(NOT_REGISTERED)
        else:
            before = (state.id, state.version) if state else None
            command.run(ctx, args)
            after = ctx.uow.conversations.active(ctx.account_id)
            if not command.resumes or after is None or (after.id, after.version) != before:
                return  # the command moved the conversation on and asked what comes next
        if state is not None:  # remind where the open conversation stands
            self.runner.ask(ctx, state)

    @staticmethod
    def _run_button(ctx: Ctx, name: str) -> list[list[Button]]:
        """The button under "Did you mean /name?": "Yes, /name" (typed "có" or "1" presses it)."""
        return [[Button(ctx.t(N_("Yes, {command}"), command=f"/{name}"), f"{COMMAND_BUTTON}:{name}")]]

    def _usable(self, ctx: Ctx) -> list[str]:
        """The names (and aliases) of the commands this person's /help lists: a suggestion never
        leads to one that only says whose it is (/dangky for a branch secretary)."""
        return [name for c in self.commands if c.listed(ctx) for name in (c.name, *c.aliases)]

    def _guess(self, ctx: Ctx, name: str, args: str) -> str | None:
        """The command an unknown "/name" most likely means: "/trang thai" is /trangthai typed
        in two words, "/dangki" is /dangky misspelt."""
        usable = self._usable(ctx)
        two_words = f"{name} {args.split()[0]}" if args.split() else ""
        return (two_words and closest(two_words, usable, exact=True)) or closest(name, usable)

    def _suggest_command(self, ctx: Ctx, text: str) -> bool:
        """Outside a journey, a command's name typed without its slash ("dangky", "Trạng thái")
        is answered with the command, to press. Only the exact name: other words are not guessed at."""
        guess = closest(text, self._usable(ctx), exact=True) if len(text.split()) <= 2 else None
        if guess is None:
            return False
        ctx.say(
            N_("Did you mean /{command}? Commands start with “/”."),
            command=guess,
            buttons=self._run_button(ctx, guess),
        )
        return True

    @staticmethod
    def _ask_again(ctx: Ctx) -> bool:
        """Text that names no button of the question in front of the person (a command's menu,
        the plan's year) is followed by that question again, which stays the one a "1" answers.
        A closed journey's question (its buttons "j:…") is not asked again."""
        body = ctx.last_prompt[1] if ctx.last_prompt else {}
        buttons = buttons_of(body)
        if not buttons or any(payload.startswith("j:") for _label, payload in buttons):
            return False
        ctx.say(N_("I did not understand that. Please choose one of these (/help shows what else you can do):"))
        ctx.replies.append(question(body, ctx.locale))
        return True

    def _queue(self, ctx: Ctx) -> None:
        inc = ctx.incoming
        ctx.uow.outbox.queue([outbox_row(inc.channel, inc.chat_id, ctx.account_id, r, ctx.now) for r in ctx.replies])
        for notice in ctx.notices:
            queue_notice(ctx.uow, notice, ctx.now, self.window)


def queue_notice(uow: UnitOfWork, notice: Notice, now: datetime, window: Window, *, once: str | None = None) -> bool:
    """A notice queued: `Ctx.notify`'s path, and a sweep's (a commitment's follow-up). In its
    reader's language, on one of their apps (`notice_row`), and remembered as the question typed
    words answer when its buttons will be in front of them. With `once`, a dedupe key, nothing is
    queued if a row with that key exists. Whether it was queued (held counts: it goes later)."""
    account_id = notice.account_id
    message = notice_message(uow.accounts.one(account_id).locale, notice)
    identities = uow.accounts.notice_candidates(account_id)
    row = notice_row(uow, account_id, message, now, window, identities=identities)
    if row is None:
        return False
    if once is None:
        uow.outbox.queue([row])
    elif not uow.outbox.add_once(row | {"dedupe_key": once}):
        return False
    if becomes_question(message, row, identities, in_journey=bool(uow.conversations.busy([account_id]))):
        remember(uow, account_id, message, now, channel=row["channel"], chat_id=row["chat_id"])
    return True


def becomes_question(message: Outgoing, row: dict, identities: Sequence[Any], *, in_journey: bool) -> bool:
    """Whether a notice queued as `row` is made the question typed words answer in the chat it
    goes to: `queue_notice`'s rule, and the reminder sweep's (reminders/sweep.py). Its buttons
    must be in front of the person there (pending: a held one is remembered when it is released;
    not a Zalo template, which shows none), and no journey's question must have to stay the one
    typed text answers there: when they are `in_journey`, that question is in the chat they last
    wrote from (`identities`: all of theirs, as `Accounts.notice_candidates` reads them); another
    of their apps is free for the notice's question."""
    if not (message.buttons and row["status"] == OutboxStatus.pending and row["kind"] == OutboxKind.notice):
        return False
    if not in_journey:
        return True
    seen = [i for i in identities if i.last_seen_at is not None]
    last = max(seen, key=lambda i: i.last_seen_at, default=None)
    return last is not None and (last.channel, last.chat_id) != (row["channel"], row["chat_id"])


def notice_message(locale: str, notice: Notice) -> Outgoing:
    """A notice in its reader's language: the text, the buttons' labels, the hint under them."""
    buttons = [[Button(gettext(locale, label), payload) for label, payload in row] for row in notice.buttons]
    text = gettext(locale, notice.msgid, **notice.params)
    return Outgoing(text, buttons, attachment=notice.attachment).with_hint(locale)


def notice_row(
    uow: UnitOfWork,
    account_id: int,
    message: Outgoing,
    now: datetime,
    window: Window,
    *,
    refused: int | None = None,
    priority: int = Priority.notice,
    identities: Sequence[Any] | None = None,
) -> dict | None:
    """The outbox row of a notice to an account, on one channel: the one they chose, else the
    one used last, else the next reachable, Zalo only within its window (see engine/notices.py);
    held when nowhere takes it now. None: the account has no channel to keep it for. A season
    of reminders passes `priority=Priority.bulk`: it goes out after replies and single notices.
    `identities`: the account's `notice_candidates`, when already read."""
    if identities is None:
        identities = uow.accounts.notice_candidates(account_id)
    target = route(identities, now, window, refused=refused)
    if target is None:
        return None
    row = outbox_row(target.channel, target.chat_id, account_id, message, now, kind=target.kind, priority=priority)
    if target.held is not None:
        row |= {"status": "held", "error": target.held}
    return row


def outbox_row(
    channel: str,
    chat_id: str,
    account_id: int | None,
    message: Outgoing,
    now: datetime,
    kind: str = "reply",
    *,
    priority: int | None = None,
) -> dict:
    """A row for the outbox. Its priority is its kind's unless told (a reply 0, any notice 1)."""
    if priority is None:
        priority = Priority.reply if kind == OutboxKind.reply else Priority.notice
    return {
        "channel": channel,
        "chat_id": chat_id,
        "account_id": account_id,
        "body": message.to_body(),
        "status": "pending",
        "attempts": 0,
        "not_before": now,
        "created_at": now,
        "dedupe_key": None,
        "sent_at": None,
        "error": None,
        "kind": kind,
        "priority": int(priority),
    }
