"""Word documents the bot writes for a unit (rendered from templates/ with docxtpl)."""

from chidoan.documents.plan import (
    TEMPLATES_DIR,
    PlanArea,
    PlanDocument,
    PlanTask,
    plan_filename,
    render_plan,
)

__all__ = ["TEMPLATES_DIR", "PlanArea", "PlanDocument", "PlanTask", "plan_filename", "render_plan"]
