"""The titles of the leaders a dialogue meets, worded for the place: a ward's union meets the
Party committee and the People's Committee of the ward ("Bí thư Đảng ủy phường"), a special
zone's those of the special zone; a district- or province-level dialogue those of the district,
city or province above the base unit, read from the name of the union at that level.

The titles are Vietnamese in every locale: they are what is written in the report."""

from __future__ import annotations

from sqlalchemy import Row

from chidoan.i18n import fold
from chidoan.storage.models import UnitKind
from chidoan.storage.uow import UnitOfWork

# How a union's name starts (folded) -> its Party committee, and the place its People's Committee governs.
PLACES = (
    ("doan phuong ", "Đảng ủy phường", "phường"),
    ("doan xa ", "Đảng ủy xã", "xã"),
    ("doan dac khu ", "Đảng ủy đặc khu", "đặc khu"),
    ("doan thi tran ", "Đảng ủy thị trấn", "thị trấn"),
    ("huyen doan ", "Huyện ủy", "huyện"),
    ("quan doan ", "Quận ủy", "quận"),
    ("thi doan ", "Thị ủy", "thị xã"),
    ("thanh doan ", "Thành ủy", "thành phố"),
    ("tinh doan ", "Tỉnh ủy", "tỉnh"),
)
# A level's committee and place when the union's name does not say (a school's union, a level skipped).
USUAL = {
    "commune": ("Đảng ủy xã", "xã"),
    "district": ("Huyện ủy", "huyện"),
    "province": ("Tỉnh ủy", "tỉnh"),
}
LEVEL_KINDS = {"district": UnitKind.district, "province": UnitKind.province}


def leader_titles(uow: UnitOfWork, unit: Row | None, level: str) -> list[str]:
    """The usual titles of the leaders at `level` ("commune", "district", "province") of the
    place of `unit`, a base unit."""
    committee, place = USUAL.get(level, USUAL["commune"])
    union = _union_at(uow, unit, level) if unit is not None else None
    folded = fold(union.name) + " " if union is not None else ""
    for start, its_committee, its_place in PLACES:
        if folded.startswith(start):
            committee, place = its_committee, its_place
            break
    return [f"Bí thư {committee}", f"Phó Bí thư {committee}", f"Chủ tịch UBND {place}", f"Phó Chủ tịch UBND {place}"]


def _union_at(uow: UnitOfWork, unit: Row, level: str) -> Row | None:
    kind = LEVEL_KINDS.get(level)
    if kind is None:
        return unit
    return next((a for a in reversed(uow.units.ancestors(unit)) if a.kind == kind), None)
