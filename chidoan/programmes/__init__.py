"""Yearly registration programmes ("3 chủ động", …) described by YAML files in this directory;
see `loader` for the model and the checks."""

from chidoan.programmes.loader import (
    PROGRAMMES_DIR,
    Area,
    Deadline,
    Defaults,
    DocumentSpec,
    Expectations,
    Item,
    Programme,
    ProgrammeError,
    load_programme,
    load_programmes,
    programme_for,
)

__all__ = [
    "PROGRAMMES_DIR",
    "Area",
    "Deadline",
    "Defaults",
    "DocumentSpec",
    "Expectations",
    "Item",
    "Programme",
    "ProgrammeError",
    "load_programme",
    "load_programmes",
    "programme_for",
]
