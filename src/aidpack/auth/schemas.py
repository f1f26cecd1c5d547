"""Account schemas: tokens, the caller, users (admin only)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aidpack.auth.models import Role
from aidpack.web.fields import Code


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")


class MeRead(BaseModel):
    email: str
    role: Role
    org: str | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        min_length=3,
        max_length=320,
        pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$",
    )
    password: str = Field(min_length=8, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Role
    org: Code | None = None


class UserRead(BaseModel):
    email: str
    role: Role
    org: str | None
    active: bool


class UserUnlockRead(BaseModel):
    email: str
    locks_lifted: int = Field(description="Sign-in locks on the account that were still on")
    counts_cleared: int = Field(description="Counts of failed sign-ins forgotten (per client, and over all)")
