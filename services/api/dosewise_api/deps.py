"""Dependency aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.settings import Settings
from dosewise_api.inference_client import InferenceClient


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessions


def _client(request: Request) -> InferenceClient:
    return request.app.state.inference


def _settings(request: Request) -> Settings:
    return request.app.state.settings


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
InferenceDep = Annotated[InferenceClient, Depends(_client)]
SettingsDep = Annotated[Settings, Depends(_settings)]
