"""Writes tests/hostile/corpus.json, the hostile-input corpus of issue 7 (run it again after
editing the lists below: `.venv/bin/python tests/hostile/make_corpus.py`).

An entry is {"class", "kind", "value"} and optionally "repeat" and "tail": the input is
value * repeat + tail * repeat (so 100 KB texts and JSON nested 10,000 deep stay small here).
Kinds: "text" (a text frame), "button" (a button frame; "{j}" is the open question's button
prefix "j:<conversation>.<version>.", "{reg}", "{report}", "{commitment}" real ids of the
secretary's unit), "raw" (a web-socket text frame sent as is: malformed), "binary" (bytes, as
base64), and "expect": "close" for a frame over the socket's size limit (closed with 1009).
"heavy" entries (megabytes) are left out of the CI sample; the bench sends them.
The file is ASCII JSON: NUL and lone surrogates are written as escapes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

HUGE_ID = "9" * 23  # past SQLite's 64-bit INTEGER
OUT = Path(__file__).resolve().parent / "corpus.json"


def text(cls: str, values: list[str]) -> list[dict]:
    return [{"class": cls, "kind": "text", "value": v} for v in values]


def entries() -> list[dict]:
    found: list[dict] = []
    found += text(
        "unicode_digits",
        [
            "²",
            "③",
            "٣",
            "١٥/١٠/٢٠٢٦",
            "１２",
            "１",
            "𝟗",
            "Ⅻ",
            "½",
            "¹²³",
            "᠑",
            "߉",
            "২৫",
            "๒๕",
            "tháng ٣",
            "quý ③",
            "²/¹⁰/²⁰²⁶",
        ],
    )
    found += text(
        "huge_numbers",
        [
            HUGE_ID,
            "1" * 5000,
            "1" * 4301,
            "-" + "9" * 30,
            "1e400",
            "1E-400",
            "0." + "0" * 1000 + "1",
            "9" * 16,
            "1.2.3.4",
        ]
        + [
            "9" * 19,
            str(2**63),
            str(2**64),
            "-" + str(2**63),
            "00000000000000000000001",
            "1,5,5",
            "1 000 000 000 000 000",
        ],
    )
    found += text("nan_infinity", ["NaN", "sNaN", "-nan", "nan", "Infinity", "-Infinity", "inf", "∞", "1e999", "-0"])
    found += text(
        "sql_like",
        [
            "'; DROP TABLE account;--",
            "1 OR 1=1",
            '" OR ""="',
            "Robert'); DROP TABLE inbound_event;-- <script>alert(1)</script>",
            "%",
            "_",
            "\\",
            "1; SELECT * FROM invite",
            "' UNION SELECT code FROM invite --",
            "{{7*7}}",
            "${7*7}",
            "{% for x in range(9**9) %}",
            "{0}{text}{name!r}",
            "%s%s%s%n",
            '{"$gt": ""}',
            "../../../etc/passwd",
        ],
    )
    found += [
        {"class": "huge_text", "kind": "text", "value": "Nguyễn ", "repeat": 15_000},  # 105 KB
        {"class": "huge_text", "kind": "text", "value": "a", "repeat": 4000},
        {"class": "huge_text", "kind": "text", "value": "a", "repeat": 4097},
        {"class": "huge_text", "kind": "text", "value": "đ", "repeat": 1_000_000, "heavy": True},  # a megabyte
        {"class": "huge_text", "kind": "text", "value": "line\n", "repeat": 20_000},
    ]
    found += text("emoji_only", ["😀", "👍🏽", "🇻🇳", "👨‍👩‍👧‍👦", "🎉" * 1000, "❤️", "🔥💯", "☺"])
    found += text("empty_whitespace", ["", " ", "\n\t", "\u00a0", "\u3000", "\u2028", "\r\n", "   \n   "])
    found += text(
        "invisible_marks",
        [
            "\u200b",
            "\u200b25\u200b",
            "2\u200b5",
            "\u200e\u200f",
            "\u202eNguyễn",
            "\ufeff25",
            "\u2066abc\u2069",
            "\u0301\u0301\u0301",
            "N̸̡̛̖g̷u̴y̸ễ̵n̷",
            "\u00ad",
            "Nguye\u0302\u0303n",  # decomposed: stored NFC
            "ho\u0302m nay",
        ],
    )
    found += text(
        "nul_surrogates",
        ["\x00", "a\x00b", "\ud800", "\udfff", "x\ud83d", "\ud83d\ude00", "25\x00", "\x00" * 100, "\udc80\udc81"],
    )
    found += text("control_chars", ["\x01\x02\x1b[31mred", "\x7f", "\r", "\x1b]0;title\x07", "\x08" * 10])
    found += [
        {"class": "forged_payloads", "kind": "button", "value": v}
        for v in [
            "{j}v:²",
            "{j}v:③",
            "{j}v:nonexistent",
            "{j}s:²",
            f"{{j}}s:{HUGE_ID}",
            "{j}s:-1",
            "{j}i:³",
            f"{{j}}i:{HUGE_ID}",
            "{j}d:-1",
            "{j}e:nonexistent",
            "{j}e:",
            "{j}",
            "{j}" + "x" * 300,
            "{j}y",
            "{j}done",
            "{j}skip",
            "{j}ok",
            "{j}edit",
            f"j:{HUGE_ID}.1.ok",
            f"j:1.{HUGE_ID}.ok",
            "j:².1.ok",
            "j:1.².ok",
            "j:-1.-1.ok",
            "j:",
            "j",
            "j:1",
            "j:1.1",
            "reg:open:²",
            f"reg:open:{HUGE_ID}",
            "reg:open:0",
            "reg:edit:{reg}",
            "reg:continue:{reg}",
            "reg:restart:{reg}",
            "reg:force:{reg}",
            "reg:bogus:{reg}",
            f"reg:edit:{HUGE_ID}",
            "reg:edit:²",
            "reg:",
            "reg",
            "rp:view:{report}",
            "rp:edit:{report}",
            "rp:bogus:{report}",
            f"rp:view:{HUGE_ID}",
            "rp:view:³",
            "rp:",
            "cm:{commitment}:bogus",
            "cm:{commitment}:done",
            f"cm:{HUGE_ID}:done",
            "cm:²:done",
            "cm:",
            "lang:²",
            "lang:xx",
            "lang:",
            "lang:vi",
            "unknown:1",
            "",
            ":",
            "\x00",
            "\ud800",
            "x" * 300,
        ]
    ]
    found += text(
        "unknown_commands",
        [
            "/xoa_het",
            "/DROP",
            "/",
            "//",
            "/start@other_bot",
            "/" + "a" * 5000,
            "/💥",
            "/ｓｔａｒｔ",
            "/help@",
            "/ start",
        ]
        + ["/\x00", "/\ud800", "/dangky@", "/../etc"],
    )
    found += text(
        "command_args",
        [
            "/dangky ²",
            "/dangky ③",
            f"/dangky {HUGE_ID}",
            "/dangky " + "1" * 5000,
            "/dangky -1",
            "/dangky NaN",
            "/kehoach ③",
            f"/kehoach {HUGE_ID}",
            "/start " + "A" * 5000,
            "/start ABCD1234",
            "/start \ud800",
            "/moi ' OR 1=1",
            "/moi RG-VB bithu",
            "/moi " + "x" * 5000,
            "/ngonngu \x00",
            "/ngonngu ²",
            "/baocao ²",
            "/toi x",
            "/huy ²",
            "/sinhhoat ²",
            "/doithoai " + "9" * 23,
            "/trangthai ' OR 1=1",
            "/help %s%n",
        ],
    )
    found += [
        {"class": "malformed_frames", "kind": "raw", "value": v}
        for v in [
            json.dumps({"type": "file", "data": 123, "mime": "image/png"}),
            json.dumps({"type": "file", "data": ["iVBOR"], "mime": "image/png"}),
            json.dumps({"type": "file", "data": {"a": 1}}),
            json.dumps({"type": "file", "data": None, "mime": 5, "name": []}),
            json.dumps({"type": "file", "data": "%%% not base64"}),
            json.dumps({"type": "text", "text": 0}),
            json.dumps({"type": "text", "text": False}),
            json.dumps({"type": "text", "text": ["hi"]}),
            json.dumps({"type": "text", "text": {"$gt": ""}}),
            json.dumps({"type": "text"}),
            json.dumps({"type": "button", "payload": 0}),
            json.dumps({"type": "button", "payload": None}),
            json.dumps({"type": "nothing"}),
            json.dumps({"type": ["text"], "text": "x"}),
            json.dumps({"type": "text", "text": "hi", "id": {"x": 1}}),
            json.dumps({"type": "text", "text": "hi", "id": True}),
            "not json at all",
            "",
            "[1, 2]",
            "5",
            "null",
            "true",
            '"text"',
            '{"type": "text", "text": "cut short',
            '{"type": "text", "text": NaN}',
            "\ufeff{}",
        ]
    ]
    found += [
        {"class": "malformed_frames", "kind": "raw", "value": "[", "repeat": 10_000, "tail": "]"},
        {"class": "malformed_frames", "kind": "raw", "value": '{"a":', "repeat": 10_000, "tail": "}"},
        {"class": "malformed_frames", "kind": "raw", "value": '{"type":"text","text":"x","id":[', "repeat": 1},
    ]
    found += [
        {"class": "binary_frames", "kind": "binary", "value": base64.b64encode(v).decode()}
        for v in [b"", b"\x00\x01\x02", b"\xff\xfe\xfd", json.dumps({"type": "text", "text": "hi"}).encode()]
    ]
    found += [
        {"class": "huge_frames", "kind": "raw", "value": '{"type":"text","text":"', "repeat": 1},
        # a valid frame of 12 MB (under the 16 MB limit): its text is stored and refused politely
        {"class": "huge_frames", "kind": "text", "value": "x", "repeat": 12 * 1024 * 1024, "heavy": True},
        # over the socket's limit: closed with 1009 (message too big), the protocol's own refusal
        {
            "class": "huge_frames",
            "kind": "raw",
            "value": "x",
            "repeat": 17 * 1024 * 1024,
            "expect": "close",
            "heavy": True,
        },
    ]
    return found


if __name__ == "__main__":
    corpus = entries()
    lines = ",\n".join(json.dumps(entry, ensure_ascii=True) for entry in corpus)  # one input a line
    OUT.write_text(f"[\n{lines}\n]\n", encoding="ascii")
    classes = sorted({e["class"] for e in corpus})
    print(f"{OUT}: {len(corpus)} inputs in {len(classes)} classes: {', '.join(classes)}")
