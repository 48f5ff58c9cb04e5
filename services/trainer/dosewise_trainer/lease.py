"""The retraining lease (issue 27): a row in the database that lets the trainer's replicas take turns at retraining.

Every replica consumes its share of the outcome stream (one consumer group); whichever replica holds the lease ``retrain``
trains, and the others skip and say who holds it. A holder renews the lease while it trains (a heartbeat every third of the
TTL), releases it when done, and a holder that crashed simply stops renewing: its lease lapses after the TTL
(``DOSEWISE_RETRAIN_LEASE_TTL_S``) and another replica takes over.

Why a lease row rather than PostgreSQL advisory locks: a session advisory lock belongs to one connection, so it would have to
pin a connection outside the pool for the whole training (minutes) and is silently lost with it (a server restart, a
proxy's idle timeout, PgBouncer in transaction mode); and SQLite has no such lock at all. A row with an expiry is the same
on both databases, survives connection pooling (every statement may take any pooled connection), and says who holds it.

A holder that stalls past its TTL (a long database outage mid-training) may find its lease taken over when it finishes. The
``fence`` stops it from recording its candidate: the gate's decision is written in the same transaction as a renewal that
must still find the lease its own, so at most one of the two candidates is recorded (the other's files stay on disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.storage.db import transaction
from dosewise.storage.models import utcnow
from dosewise.storage.repositories import LeaseRepository

log = logging.getLogger("dosewise.trainer.lease")

Clock = Callable[[], datetime]  # aware UTC "now"; tests inject one they can move


def default_holder() -> str:
    """hostname:pid — in Kubernetes the hostname is the pod's name, so the holder says which pod trains."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(RuntimeError):
    """This process no longer holds the lease it was working under (another replica took it over after it lapsed)."""


@dataclass
class Tenure:
    """What ``DatabaseLease.hold`` got: ``held`` by us, or not, with the holder of the moment (None: it just lapsed or was
    released between our attempt and our look). ``lost`` turns true if a heartbeat finds the lease taken over."""

    held: bool
    holder: str | None
    lost: bool = False


class DatabaseLease:
    """One named lease in the ``leases`` table, held by ``holder`` for ``ttl_s`` at a time and renewed every
    ``heartbeat_s`` (a third of the TTL unless given) while held."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], name: str, holder: str, ttl_s: float,
                 heartbeat_s: float | None = None, clock: Clock = utcnow) -> None:
        heartbeat_s = ttl_s / 3 if heartbeat_s is None else heartbeat_s
        if not 0 < heartbeat_s < ttl_s:
            raise ValueError(f"the heartbeat ({heartbeat_s:g} s) must be shorter than the lease's TTL ({ttl_s:g} s)")
        self.sessions, self.name, self.holder, self.ttl_s, self.heartbeat_s = sessions, name, holder, ttl_s, heartbeat_s
        self.clock = clock

    async def acquire(self) -> bool:
        async with transaction(self.sessions) as s:
            return await LeaseRepository(s).acquire(self.name, self.holder, self.ttl_s, self.clock())

    async def renew(self) -> bool:
        async with transaction(self.sessions) as s:
            return await LeaseRepository(s).renew(self.name, self.holder, self.ttl_s, self.clock())

    async def release(self) -> bool:
        async with transaction(self.sessions) as s:
            return await LeaseRepository(s).release(self.name, self.holder)

    async def current_holder(self) -> str | None:
        async with self.sessions() as s:
            lease = await LeaseRepository(s).get(self.name)
        return None if lease is None else lease.holder

    async def fence(self, session: AsyncSession) -> None:
        """In the caller's transaction, renew the lease or raise ``LeaseLost``: whatever that transaction writes is then
        written by the holder. On PostgreSQL the renewal also locks the lease row until the caller commits, so nobody can take
        the lease over while the caller's transaction is open."""
        if not await LeaseRepository(session).renew(self.name, self.holder, self.ttl_s, self.clock()):
            raise LeaseLost(f"lease {self.name!r} is no longer held by {self.holder}")

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[Tenure]:
        """Try to take the lease; while the block runs, renew it in the background; release it afterwards. The block must
        check ``tenure.held``: when another holds the lease it runs anyway, to let the caller skip and say so."""
        if not await self.acquire():
            yield Tenure(held=False, holder=await self.current_holder())
            return
        tenure = Tenure(held=True, holder=self.holder)
        heartbeat = asyncio.create_task(self._heartbeat(tenure), name=f"lease-heartbeat:{self.name}")
        try:
            yield tenure
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not tenure.lost:
                try:
                    await self.release()
                except Exception as e:  # the TTL frees it instead
                    log.warning("lease not released; it lapses after its TTL",
                                extra={"lease": self.name, "ttl_s": self.ttl_s, "error": type(e).__name__})

    async def _heartbeat(self, tenure: Tenure) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                renewed = await self.renew()
            except Exception as e:  # a database blip: the next beat tries again, within the TTL
                log.warning("lease renewal failed; retrying", extra={"lease": self.name, "error": type(e).__name__,
                                                                     "retry_s": self.heartbeat_s})
                continue
            if not renewed:
                tenure.lost = True
                log.warning("lease lost to another holder", extra={"lease": self.name, "holder": self.holder,
                                                                   "now_held_by": await self._holder_or_none()})
                return

    async def _holder_or_none(self) -> str | None:
        try:
            return await self.current_holder()
        except Exception:
            return None
