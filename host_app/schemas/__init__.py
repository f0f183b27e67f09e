"""Request schemas of the host's own routes (plugins keep theirs in their packages)."""

from __future__ import annotations

from host_app.schemas.enterprise import (
    MASK,
    NUMBER_RE,
    AdminTokenSchema,
    EnterpriseSchema,
    PrimarySchema,
    check_number,
)
from host_app.schemas.smart import SmartSectionSchema, normalise_section, section_patch

__all__ = ["MASK", "NUMBER_RE", "AdminTokenSchema", "EnterpriseSchema", "PrimarySchema", "SmartSectionSchema",
           "check_number", "normalise_section", "section_patch"]
