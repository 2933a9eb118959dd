"""A local fake of Zalo's OAuth server (v4, Official Account), spoken to by the real client code.

    async with FakeZaloOAuth() as oauth:
        settings = make_settings(url, **oauth.settings())

It copies what token handling depends on: `POST /v4/oa/access_token`, form-encoded, header
`secret_key`; `grant_type=refresh_token` spends a single-use refresh token and issues a new pair
(the old access token dies with it); `grant_type=authorization_code` takes a code from the
consent page and checks its PKCE verifier against the challenge; errors come with HTTP 200 and
`error`, `error_name`, `error_description`; `expires_in` is a string. It counts the refreshes,
can be slow (`delay`) or hold its answers until a test lets them go (`gate`), and can answer
whatever `answer_with` says instead.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import socket
from typing import Any

from aiohttp import web

APP_ID = "4318000000000000001"
APP_SECRET = "fake-app-secret-QX7"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error(code: int, name: str, description: str) -> dict[str, Any]:
    return {
        "error": code,
        "error_name": name,
        "error_reason": description,
        "ref_doc": "https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new",
        "error_description": description,
    }


class FakeZaloOAuth:
    def __init__(self, app_id: str = APP_ID, secret: str = APP_SECRET):
        self.app_id = app_id
        self.secret = secret
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.delay = 0.0  # seconds before answering a token request
        self.gate: asyncio.Event | None = None  # if set up, token requests wait for it before answering
        self.asked = asyncio.Event()  # a token request has come
        self.chunked = False  # a new pair is written in two pieces, a moment apart (as a network may)
        self.answer_with: tuple[int, bytes] | None = None  # (status, body) instead of the real answer
        self.lifetime = "90000"
        self.refreshes = 0  # refresh_token grants asked for (answered or not)
        self.exchanges = 0  # authorization_code grants asked for
        self.verifiers: list[str] = []  # PKCE verifiers received
        self.issued: list[str] = []  # every token and code handed out (to check none is logged)
        self.access_token: str | None = None  # the one live access token
        self._refresh_tokens: set[str] = set()  # unspent
        self._codes: dict[str, str] = {}  # code -> its PKCE challenge
        self._serial = itertools.count(1)
        self._last_refresh = ""
        self._runner: web.AppRunner | None = None

    def settings(self) -> dict[str, str]:
        return {"ZALO_OA_APP_ID": self.app_id, "ZALO_OA_APP_SECRET": self.secret, "ZALO_OA_OAUTH_URL": self.base_url}

    async def __aenter__(self) -> FakeZaloOAuth:
        app = web.Application()
        app.router.add_post("/v4/oa/access_token", self._token)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test does on Zalo's side ----------------------------------------------------------

    def issue(self) -> tuple[str, str]:
        """A pair as the consent would have given: (access token, refresh token)."""
        return self._pair()["access_token"], self._last_refresh

    def authorize(self, challenge: str) -> str:
        """An admin allowed the app on the consent page that carried `challenge`: the code."""
        code = f"code-{next(self._serial)}-{secrets.token_urlsafe(24)}"
        self._codes[code] = challenge
        self.issued.append(code)
        return code

    def spent(self, refresh_token: str) -> bool:
        return refresh_token not in self._refresh_tokens

    def fail_with_200(self, code: int = -14014, name: str = "Invalid refresh token") -> None:
        """The next answers are OAuth errors with HTTP 200, as Zalo gives them."""
        self.answer_with = (200, json.dumps(_error(code, name, "Refresh token is invalid")).encode())

    # --- the server ---------------------------------------------------------------------------------

    def _pair(self) -> dict[str, Any]:
        n = next(self._serial)
        access = f"AT{n}-{secrets.token_urlsafe(48)}"
        refresh = f"RT{n}-{secrets.token_urlsafe(48)}"
        self.access_token = access  # issuing a new access token kills the old one
        self._refresh_tokens.add(refresh)
        self._last_refresh = refresh
        self.issued += [access, refresh]
        return {"access_token": access, "refresh_token": refresh, "expires_in": self.lifetime}

    async def _answer_pair(self, request: web.Request) -> web.StreamResponse:
        if not self.chunked:
            return web.json_response(self._pair())
        body = json.dumps(self._pair()).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(0.05)
        await response.write(body[len(body) // 2 :])
        await response.write_eof()
        return response

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "refresh_token":
            self.refreshes += 1
        elif grant == "authorization_code":
            self.exchanges += 1
        self.asked.set()
        if (gate := self.gate) is not None:
            await gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer_with is not None:
            status, body = self.answer_with
            return web.Response(status=status, body=body, content_type="application/json")
        if request.headers.get("secret_key") != self.secret or form.get("app_id") != self.app_id:
            return web.json_response(_error(-14002, "Invalid app", "app_id or secret_key is wrong"))
        if grant == "refresh_token":
            token = str(form.get("refresh_token", ""))
            if token not in self._refresh_tokens:
                return web.json_response(_error(-14014, "Invalid refresh token", "Refresh token is invalid"))
            self._refresh_tokens.discard(token)  # single-use
            return await self._answer_pair(request)
        if grant == "authorization_code":
            verifier = str(form.get("code_verifier", ""))
            self.verifiers.append(verifier)
            challenge = self._codes.pop(str(form.get("code", "")), None)
            if challenge is None:
                return web.json_response(_error(-14003, "Invalid code", "Authorization code is invalid"))
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != challenge:
                return web.json_response(_error(-14005, "Invalid code verifier", "Code verifier is invalid"))
            return web.json_response(self._pair())
        return web.json_response(_error(-14001, "Invalid grant type", "grant_type is wrong"))
