"""Dependency aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.apikeys import Role
from dosewise.settings import Settings
from dosewise_api.auth import Caller, requires
from dosewise_api.coalescer import RecommendationCoalescer
from dosewise_api.inference_client import InferenceClient


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessions


async def _client(request: Request) -> InferenceClient:
    return request.app.state.inference


async def _coalescer(request: Request) -> RecommendationCoalescer:
    return request.app.state.coalescer


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
InferenceDep = Annotated[InferenceClient, Depends(_client)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CoalescerDep = Annotated[RecommendationCoalescer, Depends(_coalescer)]

# Who may call a route: declare one of these as a parameter (the app refuses to start with an API route that declares none).
ClinicalCaller = Annotated[Caller, Depends(requires(Role.CLINICIAN, Role.INTEGRATOR))]  # recommendations, outcomes, feedback
AuditorCaller = Annotated[Caller, Depends(requires(Role.AUDITOR))]  # the audit trail
AdminCaller = Annotated[Caller, Depends(requires(Role.ADMIN))]  # policies, keys
AnyCaller = Annotated[Caller, Depends(requires(*Role))]  # any authenticated role (discovery)
CurrentCaller = AnyCaller
