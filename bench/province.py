"""What the province benches share (bench/status.py, bench/export.py, bench/sweep.py): the
generated province's tree, a report's row, the bulk load, the settings, and the secretaries'
"/trogiup" replies timed one after another.

The province: 16 districts of 200 base units each and 800 base units directly under the province,
four branches under each base unit; ids given in order (the province, the districts, then each
base unit followed by its branches).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime

PROGRAMME = "three_proactives_2023_2027"
DISTRICTS = 16
PER_DISTRICT = 200
DIRECT = 800
BRANCHES = 4
REPLY_GAP = 0.01  # seconds between two replies' submissions


def tree(units: list[dict], created_at: datetime) -> tuple[dict, list[dict], list[dict], dict[int, list[dict]]]:
    """The province, its districts, its base units, and each base unit's branches (by its id);
    every unit's row appended to `units`."""
    next_id = iter(range(1, 10**7))

    def unit(code: str, name: str, kind: str, parent: dict | None, reviews: bool) -> dict:
        uid = next(next_id)
        row = dict(
            id=uid,
            code=code,
            name=name,
            folded_name=name.lower(),
            kind=kind,
            parent_id=parent["id"] if parent else None,
            path=f"{parent['path'] if parent else '/'}{uid}/",
            reviews=reviews,
            created_at=created_at,
        )
        units.append(row)
        return row

    province = unit("P", "Tỉnh đoàn Bến Hải", "province", None, True)
    districts = [unit(f"D{d + 1}", f"Huyện đoàn số {d + 1}", "district", province, True) for d in range(DISTRICTS)]
    placement = [d for d in districts for _ in range(PER_DISTRICT)] + [province] * DIRECT
    bases = []
    branches: dict[int, list[dict]] = {}
    for i, parent in enumerate(placement):
        base = unit(f"B{i + 1}", f"Đoàn xã Số {i + 1}", "base_unit", parent, False)
        branches[base["id"]] = [
            unit(f"B{i + 1}-{b + 1}", f"Chi đoàn ấp {b + 1}", "branch", base, False) for b in range(BRANCHES)
        ]
        bases.append(base)
    return province, districts, bases, branches


def report_row(report_id: int, unit_id: int, kind: str, held: date, writer: int, status: str = "submitted") -> dict:
    at = datetime(held.year, held.month, held.day, tzinfo=UTC)
    return dict(
        id=report_id,
        unit_id=unit_id,
        kind=kind,
        held_on=held,
        status=status,
        version=1,
        created_by=writer,
        created_at=at,
        updated_at=at,
    )


def load(db, rows: dict[str, list[dict]]) -> None:
    """Bulk-insert the generated rows (the tables named in `rows`, parents first), then analyse
    as a settled database would be."""
    from sqlalchemy import insert, text

    from chidoan.storage.models import (
        Account,
        ChannelIdentity,
        Commitment,
        ItemRating,
        OrgUnit,
        Registration,
        RegistrationVersion,
        Report,
        ReportVersion,
        ReviewAction,
        RoleAssignment,
        table,
    )

    tables = {
        "org_unit": OrgUnit,
        "account": Account,
        "identity": ChannelIdentity,
        "role": RoleAssignment,
        "registration": Registration,
        "registration_version": RegistrationVersion,
        "item_rating": ItemRating,
        "review_action": ReviewAction,
        "report": Report,
        "report_version": ReportVersion,
        "commitment": Commitment,
    }
    with db.begin() as conn:
        for name, model in tables.items():
            batch = rows.get(name, [])
            for start in range(0, len(batch), 10_000):
                conn.execute(insert(table(model)), batch[start : start + 10_000])
        if db.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for name in ("org_unit", "account", "report"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    if db.dialect.name == "postgresql":  # as autovacuum leaves a table that has settled
        with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


def settings_for(url: str):
    from chidoan.bot.config import Settings

    return Settings(
        _env_file=None,
        CHIDOAN_DATABASE_URL=url,
        CHIDOAN_WEB_ENABLED=False,
        CHIDOAN_REMINDERS=False,
        CHIDOAN_ASK_CONSENT=False,  # the bulk-loaded people are timed as after answering the notice
        CHIDOAN_TIMEZONE="Asia/Ho_Chi_Minh",
        TELEGRAM_BOT_TOKEN=None,
        ZALO_BOT_TOKEN=None,
        ZALO_OA_APP_ID=None,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def time_replies(processor, tag: str, count: int, stop: asyncio.Event | None = None) -> list[float]:
    """Submit "/trogiup" from the first secretaries (web chat ids s0, s1, …) one after another;
    each latency in ms."""
    from chidoan.engine.messages import Incoming

    latencies = []
    for k in range(count):
        if stop is not None and stop.is_set():
            break
        incoming = Incoming("web", f"{tag}-{k}", f"s{k}", f"s{k}", text="/trogiup")
        started = time.perf_counter()
        await processor.submit(incoming)
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(REPLY_GAP)
    return latencies
