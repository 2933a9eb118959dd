"""How roles and unit kinds are named to users."""

from chidoan.i18n import N_, Lazy
from chidoan.storage.models import Role, UnitKind

ROLE_LABELS = {
    Role.secretary: Lazy(N_("Secretary")),
    Role.deputy: Lazy(N_("Deputy secretary")),
    # "Cán bộ" and the unit's own name, as the Union writes it: "Cán bộ Thành đoàn Rạch Giá",
    # "Cán bộ Tỉnh đoàn Kiên Giang"; the level is in the name, not in the role.
    Role.district_staff: Lazy(N_("Staff")),
    Role.admin: Lazy(N_("Administrator")),
}

KIND_LABELS = {
    UnitKind.province: Lazy(N_("Province union")),
    UnitKind.district: Lazy(N_("Union directly above the base units")),
    UnitKind.base_unit: Lazy(N_("Base unit")),
    UnitKind.branch_group: Lazy(N_("Branch group")),
    UnitKind.branch: Lazy(N_("Branch")),
}

# A notice's button that opens what it is about (the unit's page, a report: handlers/units.py).
VIEW = N_("🔎 View")
