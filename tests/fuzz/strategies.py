"""What the fuzz tests type and press: hypothesis strategies for texts (Vietnamese with and without
accents, decomposed marks, emoji, control characters, huge, SQL- and command-looking), numbers,
dates and periods, button payloads (stale, forged), and platform update bodies (Telegram, Zalo)
mutated into malformed ones."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import strategies as st

WORDS = (
    "Nguyễn Văn Bình",
    "Trần Thị Ánh Tuyết",
    "Lê Đức Thọ",
    "Bí thư chi đoàn",
    "Phó Chủ tịch UBND",
    "Sinh hoạt chi đoàn tháng 11",
    "Học tập Nghị quyết Đại hội",
    "Tuyên truyền, bảo vệ nền tảng tư tưởng của Đảng",
    "Quý I/2027",
    "Thành đoàn Rạch Giá",
    "Đoàn phường Vĩnh Bảo",
    "không",
    "ko",
    "không có",
    "giữ nguyên",
    "quay lại",
    "huỷ",
    "bỏ qua",
    "xong",
    "gửi",
    "sửa",
    "có",
    "đồng ý",
    "Keep as typed",
    "Type again",
    "« Back",
    "✅ Send the report",
    "hôm nay",
    "hôm qua",
    "today",
    "yesterday",
    "tieng anh",
    "bi thu dang uy",
    "chu tich ubnd",
    "BCH",
    "BTV",
)
NASTY = (
    "\x00",
    "\ud800",
    "\udfff",
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u202e",  # right-to-left override
    "\ufeff",
    "\u0301",  # combining acute
    "\u0323",  # combining dot below
    "\u0300\u0309\u0303",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\u2028",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🇻🇳",
    "𝒜",
    "ﷺ",
    "Ⅻ",
    "³",
    "①",
    "٣",
    "１２",
)
SQL = (
    "Robert'); DROP TABLE account;--",
    "' OR '1'='1",
    "1; DELETE FROM outbox",
    '" UNION SELECT * FROM channel_token --',
    "<script>alert(1)</script>",
    "{{7*7}} ${7*7} %s %d {0}",
    "../../etc/passwd",
    "\\x00\\n",
    "NULL",
    "None",
    "null",
    "undefined",
    "true",
)
COMMANDS = (
    "start",
    "trogiup",
    "help",
    "toi",
    "me",
    "dangky",
    "register",
    "kehoach",
    "sinhhoat",
    "doithoai",
    "trangthai",
    "huy",
    "cancel",
    "ngonngu",
    "language",
    "lienket",
    "link",
    "moi",
    "dulieu",
    "baocao",
    "dangki",
    "trang thai",
    "trangthái",
    "xoa_het",
    "",
)
NUMBER_WORDS = (
    "khoảng 80",
    "~80",
    "≈ 80",
    "25 đoàn viên",
    "80 người",
    "hai mươi",
    "1 nghìn",
    "2 trăm",
    "twenty",
    "NaN",
    "Infinity",
    "-inf",
    "sNaN",
    "1e5",
    "1_000",
    "0x1F",
    "1/2",
    "½",
    "25.",
    "25 người.",
)
DATE_WORDS = (
    "31/02/2026",
    "30/02/2027",
    "2/30/2027",
    "29/02/2027",
    "29/02/2028",
    "00/00/0000",
    "32/13/2026",
    "31/12/9999",
    "01/01/0001",
    "1/1/1",
    "2026-11-20",
    "20.11.2026",
    "20-11-26",
    "20/11",
    "hôm nay",
    "hom qua",
    "today",
    "yesterday",
    "ngày mai",
    "Quý I/2027",
    "quy 1/2027",
    "T9/2027",
    "Từ tháng 3 đến tháng 5/2027",
    "tháng 3 và 4",
    "Trong năm 2027",
    "2027",
    "tháng 3/27",
    "quý II/2027 - quý III/2027",
    "quý I và II",
    "March 2027",
    "May-June 2027",
    "Q2",
    "all year",
    "Quý V/2027",
    "tháng 13/2027",
    "quý 0",
)


def strip_accents(text: str) -> str:
    """ "Nguyễn Văn Bình" as typed on a phone without a Vietnamese keyboard: "Nguyen Van Binh"."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return bare.replace("đ", "d").replace("Đ", "D")


def _variant(text: str, how: str) -> str:
    if how == "bare":
        return strip_accents(text)
    if how == "nfd":
        return unicodedata.normalize("NFD", text)
    if how == "upper":
        return text.upper()
    if how == "spaced":
        return f"  {text}\n"
    return text


vietnamese = st.builds(
    _variant, st.sampled_from(WORDS), st.sampled_from(("as is", "bare", "nfd", "upper", "spaced"))
) | st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)

nasty = st.lists(st.sampled_from(NASTY) | st.sampled_from(WORDS), min_size=1, max_size=6).map("".join)

emoji = st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), min_size=1, max_size=8)

controls = st.text(st.characters(max_codepoint=0x9F, categories=["Cc"]), min_size=1, max_size=8)

# Huge: built by repetition (hypothesis would take long to draw 100,000 characters one by one).
huge = st.builds(
    lambda unit, n: unit * n, st.sampled_from(("Nguyễn ", "a", "😀", "1.", "\u0301", " ")), st.integers(500, 20_000)
)

sql = st.sampled_from(SQL) | st.builds("{} {}".format, st.sampled_from(SQL), st.sampled_from(WORDS))

commands = st.builds(
    "/{}{}".format,
    st.sampled_from(COMMANDS) | st.text(max_size=12),
    st.sampled_from(("", " ", " RG-VB", " 2027", " 1", " abc" * 3)) | st.text(max_size=20).map(lambda t: " " + t),
)

codes = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=8, max_size=8) | st.builds(
    "LK-{:06d}".format, st.integers(0, 999_999)
)

any_text = st.text(st.characters(codec="utf-8"), max_size=60) | st.text(max_size=30)

texts = st.one_of(vietnamese, nasty, emoji, controls, huge, sql, commands, codes, any_text, st.just(""))


def _grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


numbers = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.integers(0, 10**7).map(lambda n: _grouped(n, ".")),
    st.integers(0, 10**7).map(lambda n: _grouped(n, ",")),
    st.integers(0, 10**7).map(lambda n: _grouped(n, " ")),
    st.builds("{}{},{}".format, st.sampled_from(("", "+", "-")), st.integers(0, 9999), st.integers(0, 99)),
    st.builds("{}{}.{}".format, st.sampled_from(("", "+", "-")), st.integers(0, 9999), st.integers(0, 999)),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.sampled_from(NUMBER_WORDS),
    st.builds("{} {}".format, st.sampled_from(("khoảng", "tầm", "about", "~")), st.integers(0, 500)),
)

dates = st.one_of(
    st.builds("{}/{}/{}".format, st.integers(-1, 40), st.integers(-1, 14), st.integers(0, 10000)),
    st.builds("{:02d}/{:02d}/{}".format, st.integers(0, 32), st.integers(0, 13), st.integers(1990, 2030)),
    st.builds("{}/{}".format, st.integers(0, 40), st.integers(0, 14)),
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
    st.dates().map(str),
    st.sampled_from(DATE_WORDS),
    st.builds(
        "{} {}/{}".format,
        st.sampled_from(("Quý", "quý", "quy", "Q", "tháng", "T", "Tháng")),
        st.sampled_from(("I", "II", "III", "IV", "V", "0", "1", "4", "12", "13")),
        st.integers(0, 3000),
    ),
)

# Any answer at any step: the kinds of text above, and the other kinds' values.
answers = st.one_of(texts, numbers, dates)


def payloads(conversation: int | None, version: int | None, actions: list[str]) -> st.SearchStrategy[str]:
    """Button payloads: the journey's own with stale or forged versions and actions, other
    handlers' prefixes with garbage, huge ids, nothing at all."""
    conv = st.sampled_from([conversation or 1, 0, -1, 2**63, 10**30]) | st.integers(0, 50)
    ver = st.sampled_from([version or 1, (version or 1) - 1, (version or 1) + 1, 0, 10**25]) | st.integers(0, 60)
    action = st.sampled_from(
        ("ok", "edit", "back", "x", "skip", "done", "keep", "retype", "unchanged", "y", "n", "sum", "add", "")
    ) | st.builds(
        "{}:{}".format,
        st.sampled_from(("v", "s", "e", "i", "d")),
        st.sampled_from(("0", "1", "9", "-1", "²", "99999999999", "regular", "theme", "tasks", ""))
        | st.text(max_size=8),
    )
    journey = st.builds("j:{}.{}.{}".format, conv, ver, action)
    prefix = st.sampled_from(actions + ["cmd", "j", "", "x" * 300])
    handler = st.builds(
        "{}:{}".format, prefix, st.sampled_from(("", "1", "0", "-1", "ok", "1:2:3", "9" * 30)) | st.text(max_size=40)
    )
    return st.one_of(journey, handler, st.text(max_size=300), st.sampled_from(("", ":", "j:", "j:..", "cmd:")))


# ---- platform update bodies ------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> Any:
    """A well-formed body with a few mutations: a field dropped, a value of another type or size,
    garbage nested where an object was; or, now and then, garbage alone."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(body))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(("drop", "replace", "huge", "negative", "string", "nest")))
        key = path[-1]
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(json_values)
        elif how == "huge":
            parent[key] = draw(st.sampled_from((2**63, 2**64 + 1, 10**30, -(2**63) - 1, "9" * 400)))
        elif how == "negative":
            parent[key] = draw(st.integers(-(2**40), -1))
        elif how == "string":
            parent[key] = draw(st.text(max_size=12) | st.sampled_from(("", "123", "1e3", "NaN")))
        else:
            parent[key] = {"a": [parent.get(key), {"b": draw(json_values)}]}
    return body


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found: list[tuple] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += _paths(child, (*prefix, key))
    return found


@st.composite
def telegram_updates(draw: st.DrawFn, update_id: int) -> Any:
    """A Telegram webhook body: a private message (text or not), a button press, a block, in a
    group chat now and then, mutated (`mutated`)."""
    user = draw(st.integers(1, 2**40) | st.sampled_from((2**53 + 1, 7_000_000_001)))
    person = {
        "id": user,
        "is_bot": False,
        "first_name": draw(vietnamese),
        "language_code": draw(st.sampled_from(("vi", "en", "fr", ""))),
    }
    chat = {"id": user, "type": "private"} if draw(st.integers(0, 7)) else {"id": -user, "type": "group", "title": "g"}
    kind = draw(st.sampled_from(("text", "text", "text", "callback", "sticker", "member", "edited")))
    if kind in ("text", "sticker", "edited"):
        message: dict[str, Any] = {
            "message_id": draw(st.integers(1, 10**6)),
            "date": 1_790_000_000,
            "chat": chat,
            "from": person,
        }
        if kind == "sticker":
            message["sticker"] = {
                "file_id": "x",
                "file_unique_id": "y",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        else:
            message["text"] = draw(answers)
        body = {"update_id": update_id, "edited_message" if kind == "edited" else "message": message}
    elif kind == "callback":
        body = {
            "update_id": update_id,
            "callback_query": {
                "id": str(draw(st.integers(1, 10**9))),
                "from": person,
                "chat_instance": "ci",
                "data": draw(payloads(None, None, ["cmd", "lang", "cmt", "lk"])),
                "message": {"message_id": 1, "date": 1_790_000_000, "chat": chat},
            },
        }
    else:
        member = {
            "user": {"id": 1, "is_bot": True, "first_name": "bot"},
            "status": draw(st.sampled_from(("kicked", "member"))),
        }
        if member["status"] == "kicked":
            member["until_date"] = 0
        body = {
            "update_id": update_id,
            "my_chat_member": {
                "chat": chat,
                "from": person,
                "date": 1_790_000_000,
                "old_chat_member": {"user": member["user"], "status": "member"},
                "new_chat_member": member,
            },
        }
    return draw(mutated(body))


@st.composite
def zalo_bot_updates(draw: st.DrawFn, message_id: str) -> Any:
    """A Zalo Bot webhook body: one update (bare or wrapped in {ok, result}), mutated."""
    user = draw(st.text("0123456789abcdef", min_size=1, max_size=20))
    event = draw(
        st.sampled_from(
            ("message.text.received", "message.image.received", "message.sticker.received", "message.unknown")
        )
    )
    chat_type = "PRIVATE" if draw(st.integers(0, 7)) else "GROUP"
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1_790_000_000_000,
        "from": {"id": user, "display_name": draw(vietnamese), "is_bot": False},
        "chat": {"id": user, "chat_type": chat_type},
    }
    if event == "message.text.received":
        message["text"] = draw(answers)
    body: Any = {"event_name": event, "message": message}
    if draw(st.booleans()):
        body = {"ok": True, "result": body}
    return draw(mutated(body))


@st.composite
def zalo_oa_events(draw: st.DrawFn, app_id: str, msg_id: str) -> dict[str, Any]:
    """A Zalo Official Account webhook event (its signature is added by the test), mutated; the
    app id and timestamp the signature covers are put back so it is still signed."""
    user = draw(st.text("0123456789", min_size=1, max_size=20))
    name = draw(
        st.sampled_from(
            (
                "user_send_text",
                "user_send_text",
                "user_send_image",
                "user_send_sticker",
                "follow",
                "unfollow",
                "oa_send_text",
                "user_seen_message",
            )
        )
    )
    event: dict[str, Any] = {
        "app_id": app_id,
        "event_name": name,
        "timestamp": str(1_790_000_000_000 + draw(st.integers(0, 10**6))),
    }
    if name in ("follow", "unfollow"):
        event["follower"] = {"id": user}
    else:
        event["sender"] = {"id": user}
        event["recipient"] = {"id": "oa"}
        event["message"] = (
            {"msg_id": msg_id, "text": draw(answers)}
            if name.endswith("text")
            else {
                "msg_id": msg_id,
                "attachments": [{"type": "image", "payload": {"url": "http://127.0.0.1:9/none.jpg"}}],
            }
        )
    timestamp = event["timestamp"]
    body = draw(mutated(event))
    if not isinstance(body, dict):
        body = {"garbage": body}
    body["app_id"], body["timestamp"] = app_id, timestamp
    return body
