"""Zalo OA access tokens: where the Zalo channel gets the token it sends with, and who renews it.

Zalo's access token lives 25 hours; the refresh token that renews it lives three months, is
single-use and rotates, and issuing a new access token kills the old one. So a refresh is done
by one process at a time, and its answer must never be lost or half-kept:

- The pair lives in one `channel_token` row (access and refresh token together).
- A refresh takes a lock first and holds it across the HTTP call: on PostgreSQL a session
  advisory lock on a connection of its own (never the processor's thread, which keeps serving
  updates), so every process of the service waits for it; on SQLite an in-process asyncio
  lock (one process writes SQLite), and no database transaction is open during the call.
  The OAuth call's timeout (OAUTH_TIMEOUT) is shorter than the wait for the lock (LOCK_WAIT),
  and the lock never expires on its own, so two workers can never spend one refresh token.
- After taking the lock the row is read again: another process may have refreshed meanwhile,
  and then its token is used (this is how two workers whose token was refused at the same
  moment refresh exactly once).
- The new pair and its expiry are committed, in one transaction, before the lock is released
  and before the token is used.
- An error answer (HTTP 200 with `error`/`error_name`, a non-2xx status, anything that is not
  a token pair) leaves the stored pair untouched; the reason is recorded in `last_error` (never a
  token), every admin is told in chat at once (once a day per chat), and the caller gets
  `RefreshFailed`. Tokens are never logged.
- It refreshes well ahead of expiry (ZALO_OA_REFRESH_MARGIN_HOURS, 12 by default: about twice a
  day), from `current()` and from the periodic check started by `start()`.

This module is not a channel (it has no `build`): the Zalo OA channel makes one with
`ZaloTokens.for_host(host)`, calls `current()` for each send and `refreshed(token)` when Zalo
refuses the token (-216, -220), and `start()`/`stop()`s it with itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import OperationalError

from chidoan.bot.tasks import within
from chidoan.engine.admins import tell_admins
from chidoan.i18n import N_
from chidoan.storage.clock import utcnow
from chidoan.storage.uow import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from chidoan.bot.channels.base import Host
    from chidoan.bot.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "zalo"  # the channel_token row, and the channel whose events show the webhook's health
TOKEN_PATH = "/v4/oa/access_token"
PERMISSION_PATH = "/v4/oa/permission"
OAUTH_TIMEOUT = 15.0  # seconds for the whole OAuth call: shorter than anyone's wait for the lock
LOCK_WAIT = 60.0  # seconds a refresh waits for another one to finish before giving up (spending nothing)
STORE_TRIES = 3  # a pair Zalo has issued is written again if the database refuses it once
DEFAULT_LIFETIME = 90_000  # seconds (25 h), when `expires_in` is missing or unreadable
CHECK_EVERY = 600.0  # seconds between the periodic checks of the expiry
RETRY_AFTER = 60.0  # seconds after a failed refresh before any process tries again
ANSWER_MAX = 64 * 1024  # bytes of an OAuth answer read
LOCK_KEY = int.from_bytes(hashlib.sha256(b"chidoan.channel_token.zalo").digest()[:8], "big", signed=True)

REFRESH_FAILED = N_(
    "Zalo warning: the bot could not renew its Zalo access token ({error}). The current token stops working at {expires}; after that the bot cannot answer anyone on Zalo. Please ask the server's administrator to run “chidoan zalo status”, and “chidoan zalo connect” to authorise the Official Account again if needed."
)


class TokenError(Exception):
    """No usable token; the message is safe to show and log (it never holds a token)."""


class NotConnected(TokenError):
    """No pair is stored yet: `chidoan zalo connect` has not been run."""


class RefreshFailed(TokenError):
    """OAuth refused or failed; the stored pair is untouched."""


@dataclass(frozen=True)
class Pair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds

    def __repr__(self) -> str:  # never the tokens, whatever prints it
        return f"Pair(expires_in={self.expires_in})"


class Runs(Protocol):
    """Runs `work` in a transaction of its own, off the event loop (Processor.run)."""

    def __call__(self, work: Callable[[UnitOfWork], T]) -> Awaitable[T]: ...


class ZaloTokens:
    def __init__(
        self,
        settings: Settings,
        db: Engine,
        *,
        run: Runs | None = None,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        check_every: float = CHECK_EVERY,
        retry_after: float = RETRY_AFTER,
    ):
        """`run` is the processor's (its one database thread: SQLite's only writer); without it
        a thread of this object's own runs the short reads and writes. `wake` tells the sender
        that outbox rows (the admins' warning) were committed."""
        self.settings = settings
        self.db = db
        self.clock = clock
        self.check_every = check_every
        self.retry_after = timedelta(seconds=retry_after)
        self.margin = timedelta(hours=settings.zalo_oa_refresh_margin_hours)
        self._wake = wake
        self._executor: ThreadPoolExecutor | None = None
        self._run: Runs = run or self._own_run
        self._task: asyncio.Task | None = None

    @classmethod
    def for_host(cls, host: Host) -> ZaloTokens:
        processor = host.processor

        def wake() -> None:
            for callback in processor.committed:
                callback()

        return cls(host.settings, processor.db, run=processor.run, wake=wake, clock=processor.clock)

    # --- what the channel calls ---------------------------------------------------------------

    async def current(self) -> str:
        """The access token to send with; refreshed first when it expires within the margin. If
        that refresh fails while the stored token is still valid, the stored one is used (the
        admins have been told); raises TokenError when there is no valid token at all."""
        row = await self._read()
        now = self.clock()
        if not self._due(row, now) or (self._cooling(row, now) and row.expires_at > now):
            return row.access_token  # (a refresh failed a moment ago: the periodic check tries again)
        try:
            return await self._refresh(after=None)
        except TokenError as exc:
            row = await self._read()
            if row.expires_at > self.clock():
                log.warning("zalo: using the current access token until it expires at %s (%s)", row.expires_at, exc)
                return row.access_token
            raise

    async def refreshed(self, after: str) -> str:
        """A new access token, because Zalo refused `after` (-216 invalid, -220 expired). When the
        stored token is no longer `after`, another worker has refreshed already: that one is
        returned without calling OAuth."""
        return await self._refresh(after=after)

    async def refresh_if_due(self) -> bool:
        """Refresh when the stored token expires within the margin; True if a new one is stored."""
        row = await self._read()
        if not self._due(row, self.clock()):
            return False
        return await self._refresh(after=None) != row.access_token

    async def connect(self, code: str, verifier: str) -> datetime:
        """The first authorisation: exchange the code an admin got on the consent page (PKCE) for a
        pair and store it, replacing any pair there was. Returns the access token's expiry."""
        async with self._locked() as run:
            now = self.clock()
            pair = await self._call({"code": code, "grant_type": "authorization_code", "code_verifier": verifier})
            expires_at = now + timedelta(seconds=pair.expires_in)
            await self._store(run, pair, expires_at, now)
        log.info("zalo: authorised; the access token is valid until %s", expires_at)
        return expires_at

    async def start(self) -> None:
        """Check the expiry now and every `check_every` seconds, refreshing ahead of it."""
        if self._task is None:
            self._task = asyncio.create_task(self._every(), name="zalo-tokens")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- the refresh ----------------------------------------------------------------------------

    async def _refresh(self, *, after: str | None) -> str:
        async with self._locked() as run:
            row = await run(lambda uow: uow.tokens.get(CHANNEL))  # again: someone may have refreshed
            if row is None:
                raise NotConnected("Zalo is not authorised yet: run `chidoan zalo connect`")
            now = self.clock()
            if after is not None and row.access_token != after:
                return row.access_token  # another worker has refreshed since `after` was refused
            if after is None and not self._due(row, now):
                return row.access_token  # another worker has refreshed ahead of expiry
            if self._cooling(row, now):
                wait = int(self.retry_after.total_seconds())
                raise RefreshFailed(f"the last refresh failed less than {wait} s ago ({row.last_error})")
            try:
                pair = await self._call(
                    {"refresh_token": row.refresh_token, "grant_type": "refresh_token"}, keep_out=row
                )
            except RefreshFailed as exc:
                await self._failed(run, str(exc), row, now)
                raise
            expires_at = now + timedelta(seconds=pair.expires_in)
            await self._store(run, pair, expires_at, now)
        log.info("zalo: access token refreshed; valid until %s", expires_at)
        return pair.access_token

    async def _store(self, run: Runs, pair: Pair, expires_at: datetime, now: datetime) -> None:
        """Commit the new pair (the old refresh token is spent: this pair is the only way on)."""

        def store(uow: UnitOfWork) -> None:
            uow.tokens.store(
                CHANNEL,
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                expires_at=expires_at,
                now=now,
            )

        for attempt in range(1, STORE_TRIES + 1):
            try:
                await run(store)
                return
            except Exception as exc:
                if attempt == STORE_TRIES:
                    log.critical(
                        "zalo: OAuth issued a new token pair but the database refused it (%s); the old one is "
                        "spent: run `chidoan zalo connect` once the database is back",
                        type(exc).__name__,
                    )
                    # Not `raise`: the database's error quotes the statement's values, the tokens.
                    raise TokenError(f"the database refused the new token pair ({type(exc).__name__})") from None
                await asyncio.sleep(attempt)

    async def _failed(self, run: Runs, error: str, row: Row, now: datetime) -> None:
        """Record why (the pair stays as it was) and tell the admins, in one transaction."""
        log.error("zalo: the access token could not be refreshed: %s", error)
        try:
            told = await run(lambda uow: self._record_failure(uow, error, row.expires_at, now))
        except Exception as exc:  # the refresh's own failure is what the caller must hear of
            log.error("zalo: the failed refresh could not be recorded, nor the admins told (%s)", type(exc).__name__)
            return
        if told and self._wake is not None:
            self._wake()

    def _record_failure(self, uow: UnitOfWork, error: str, expires_at: datetime, now: datetime) -> int:
        uow.tokens.record_error(CHANNEL, error, now)
        tz = self.settings.tz
        day = now.astimezone(tz).date().isoformat()
        expires = f"{expires_at.astimezone(tz):%H:%M %d/%m/%Y}"
        return tell_admins(uow, REFRESH_FAILED, f"zalo-token-failed:{day}", now, error=error, expires=expires)

    async def _call(self, form: dict[str, str], keep_out: Row | None = None) -> Pair:
        """POST the OAuth token endpoint; a Pair, or RefreshFailed saying why (never with a token)."""
        app_id, secret = self.settings.zalo_oa_app_id, self.settings.zalo_oa_app_secret
        if not app_id or secret is None:
            raise RefreshFailed("ZALO_OA_APP_ID and ZALO_OA_APP_SECRET must be set")
        url = self.settings.zalo_oa_oauth_url.rstrip("/") + TOKEN_PATH
        timeout = aiohttp.ClientTimeout(total=OAUTH_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    url, data=form | {"app_id": app_id}, headers={"secret_key": secret.get_secret_value()}
                ) as response,
            ):
                if (response.content_length or 0) > ANSWER_MAX:
                    raise RefreshFailed(f"the OAuth answer is over {ANSWER_MAX} bytes")
                # Whole, not one read(n): that returns only what has arrived, and a pair cut in two
                # would be refused after Zalo had already spent the refresh token.
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RefreshFailed(f"the OAuth server did not answer ({type(exc).__name__})") from None
        try:
            return parse_answer(status, body)
        except RefreshFailed as exc:
            hidden = [form.get(k, "") for k in ("refresh_token", "code", "code_verifier")]
            hidden += [keep_out.access_token] if keep_out is not None else []
            raise RefreshFailed(scrub(str(exc), hidden)) from None

    # --- locks and the database -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[Runs]:
        """Hold the refresh lock; yields how to run a transaction while holding it."""
        if self.db.dialect.name == "postgresql":
            async with self._advisory_lock() as run:
                yield run
            return
        lock = _local_lock(self.db.url.render_as_string(hide_password=True) + "#" + CHANNEL)
        try:
            await within(lock.acquire(), LOCK_WAIT)
        except TimeoutError:
            raise TokenError("another refresh of the Zalo token has not finished") from None
        try:
            yield self._run  # short transactions on the database thread; none is open during the call
        finally:
            lock.release()

    @contextlib.asynccontextmanager
    async def _advisory_lock(self) -> AsyncIterator[Runs]:
        """pg_advisory_lock on a connection of this refresh's own, taken in a worker thread and
        held (across the HTTP call) until the new pair is committed. Should anything go wrong the
        connection is discarded, which releases the lock with it."""
        conn = await asyncio.to_thread(self.db.connect)
        acquiring = asyncio.ensure_future(asyncio.to_thread(_acquire, conn))
        try:
            await asyncio.shield(acquiring)
        except BaseException as exc:
            acquiring.add_done_callback(lambda _: _discard(conn))  # a lock got after all goes with it
            if isinstance(exc, OperationalError):  # lock_timeout: another refresh hangs; or no database
                raise TokenError(f"could not take the refresh lock ({type(exc.orig).__name__})") from None
            raise

        async def run(work: Callable[[UnitOfWork], T]) -> T:
            def in_transaction() -> T:
                with conn.begin():
                    return work(UnitOfWork(conn))

            return await asyncio.to_thread(in_transaction)

        try:
            yield run
        except BaseException:
            await asyncio.to_thread(_discard, conn)
            raise
        await asyncio.to_thread(_release, conn)

    async def _read(self) -> Row:
        row = await self._run(lambda uow: uow.tokens.get(CHANNEL))
        if row is None:
            raise NotConnected("Zalo is not authorised yet: run `chidoan zalo connect`")
        return row

    def _own_run(self, work: Callable[[UnitOfWork], T]) -> Awaitable[T]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chidoan-zalo-tokens")

        def in_transaction() -> T:
            with unit_of_work(self.db) as uow:
                return work(uow)

        return asyncio.get_running_loop().run_in_executor(self._executor, in_transaction)

    def _due(self, row: Row, now: datetime) -> bool:
        return row.expires_at - now <= self.margin

    def _cooling(self, row: Row, now: datetime) -> bool:
        """A refresh failed a moment ago (here or in another process): not tried again yet."""
        failed = row.last_error_at
        return failed is not None and failed > row.refreshed_at and now - failed < self.retry_after

    async def _every(self) -> None:
        while True:
            try:
                await self.refresh_if_due()
            except TokenError as exc:  # recorded, and the admins told, where it failed
                log.warning("zalo: %s", exc)
            except Exception:
                log.exception("zalo: the periodic token check failed")
            await asyncio.sleep(self.check_every)


def _acquire(conn: Connection) -> None:
    conn.execute(text(f"SET LOCAL lock_timeout = '{int(LOCK_WAIT * 1000)}ms'"))  # this transaction only
    conn.execute(text("SELECT pg_advisory_lock(CAST(:key AS bigint))"), {"key": LOCK_KEY})
    conn.commit()  # the lock is the session's: it outlives the transaction


def _release(conn: Connection) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(CAST(:key AS bigint))"), {"key": LOCK_KEY})
        conn.commit()
        conn.close()
    except Exception:
        _discard(conn)


def _discard(conn: Connection) -> None:
    """Close the connection for good (not back to the pool): its session, and any lock, end."""
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()


_LOCAL_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _local_lock(key: str) -> asyncio.Lock:
    """One lock per database in this process (every ZaloTokens of it shares it)."""
    return _LOCAL_LOCKS.setdefault(asyncio.get_running_loop(), {}).setdefault(key, asyncio.Lock())


def parse_answer(status: int, body: bytes) -> Pair:
    """Zalo's token answer: a pair, or RefreshFailed. Errors come with HTTP 200 too (`error`,
    `error_name`, `error_description`), so the body decides, not the status alone."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RefreshFailed(f"HTTP {status}, the answer is not a JSON object")
    error, name = data.get("error"), data.get("error_name")
    if status >= 300 or error not in (None, 0, "0", "") or name:
        words = [str(w) for w in (name, data.get("error_description") or data.get("error_reason")) if w]
        reason = ": ".join(words) or str(data.get("message") or "no reason given")
        code = f" {error}" if error not in (None, "") else ""
        raise RefreshFailed(f"HTTP {status}, error{code}: {reason}"[:400])
    access, refresh = data.get("access_token"), data.get("refresh_token")
    if not (isinstance(access, str) and access.strip() and isinstance(refresh, str) and refresh.strip()):
        raise RefreshFailed(f"HTTP {status}, the answer has no access and refresh token")
    return Pair(access.strip(), refresh.strip(), _lifetime(data.get("expires_in")))


def _lifetime(value: object) -> int:
    """`expires_in` is a string of seconds ("90000"). A pair without a readable one is still kept
    (the old refresh token is spent): it is taken as 25 hours."""
    try:
        seconds = int(str(value).strip())
    except ValueError:
        seconds = 0
    if seconds <= 0:
        log.warning("zalo: the token answer has no usable expires_in; taking %d s", DEFAULT_LIFETIME)
        return DEFAULT_LIFETIME
    return seconds


def scrub(message: str, secrets_: list[str]) -> str:
    """The message with any of the given secrets (tokens, codes) cut out."""
    for secret in secrets_:
        if len(secret) >= 8:
            message = message.replace(secret, "[hidden]")
    return message


# --- the first authorisation (PKCE), for `chidoan zalo connect` -----------------------------------


def pkce() -> tuple[str, str]:
    """A code verifier (86 URL-safe characters, within RFC 7636's 43–128) and its S256 challenge:
    base64url(sha256(verifier)) without padding."""
    verifier = secrets.token_urlsafe(64)
    return verifier, challenge_of(verifier)


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def consent_url(settings: Settings, *, redirect_uri: str, challenge: str, state: str) -> str:
    """The page where an admin of the Official Account grants the app access; Zalo then sends the
    browser to `redirect_uri` with `code` (and `state`) in the address."""
    query = urlencode(
        {
            "app_id": settings.zalo_oa_app_id or "",
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "state": state,
        }
    )
    return f"{settings.zalo_oa_oauth_url.rstrip('/')}{PERMISSION_PATH}?{query}"
