"""Settings read from the environment (prefix ``AIDPACK_``); nothing is read at import time."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./aidpack.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIDPACK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = Field(
        default="", description="Signs session cookies and tokens; generated per process when empty."
    )
    token_minutes: int = 12 * 60
    demo: bool = False


def get_settings() -> Settings:
    return Settings()
