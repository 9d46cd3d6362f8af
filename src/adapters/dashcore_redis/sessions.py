"""Sessions in Redis, shared by every API process.

Key layout (``prefix`` defaults to ``dashcore:``):

``{prefix}session:{session id}``      hash, one per session:
    ``user`` (UUID), ``doc`` (JSON of the fields that never change), ``abs`` / ``idle`` / ``seen``
    (absolute expiry, idle timeout, last seen: integer microseconds), ``cur`` / ``prev`` (SHA-256
    hex of the current and previous refresh secret), ``gen``, ``rot`` (µs), ``rev_at`` (µs) and
    ``rev_why`` once revoked.
    TTL: until ``min(abs, seen + idle)``, renewed when ``seen`` moves: dead sessions vanish.
``{prefix}user:{user id}:sessions``    sorted set of the user's active session ids scored by
    ``seen`` (µs): the LRU order for eviction. TTL: the longest TTL of its sessions. Entries of
    sessions that expired are pruned whenever the set is walked.

Every change is one Lua script, so it is atomic across processes: ``rotate`` is a
compare-and-set on ``cur``. The scripts reach the per-user set through the session's ``user``
field, so they need a single Redis server (or one hash slot), not Redis Cluster.

Time: scripts get "now" from the application's clock and TTLs are relative to it, so a test clock
anywhere in time yields the same TTLs as the system clock in production.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from dashcore.domain.errors import Conflict, DependencyUnavailable
from dashcore.domain.sessions import RefreshState, RevocationReason, Session, SessionId
from dashcore.ports.clock import Clock
from dashcore.ports.sessions import SessionStore

__all__ = ["RedisSessionStore", "from_micros", "micros", "redis_errors"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """Integer microseconds since the epoch: exact, and exact as a Lua double until 2255."""
    return (instant - EPOCH) // _MICROSECOND


def from_micros(value: bytes | str | int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Translate the client's failures into the core's ``DependencyUnavailable``."""
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise DependencyUnavailable("Redis does not answer.", dependency="redis") from exc


_PRELUDE = """
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local function session_key(sid) return prefix .. 'session:' .. sid end
local function user_key(user) return prefix .. 'user:' .. user .. ':sessions' end
local function state(key)
  local f = redis.call('HMGET', key, 'user', 'rev_at', 'abs', 'idle', 'seen')
  if not f[1] then return nil end
  return {user = f[1], revoked = f[2] ~= false,
          expires = math.min(tonumber(f[3]), tonumber(f[5]) + tonumber(f[4]))}
end
local function active(s) return s ~= nil and not s.revoked and now < s.expires end
local function ttl_ms(s) return math.max(1, math.ceil((s.expires - now) / 1000)) end
local function extend_ttl(key, ms)
  local current = redis.call('PTTL', key)
  if current == -1 or (current >= 0 and current < ms) then redis.call('PEXPIRE', key, ms) end
end
local function revoke(sid, s, reason)
  redis.call('HSET', session_key(sid), 'rev_at', ARGV[2], 'rev_why', reason)
  redis.call('ZREM', user_key(s.user), sid)
end
"""

# KEYS: session, user index. ARGV: prefix, now, sid, max_active, seen, field, value, ...
_CREATE = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local live = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local s = state(session_key(sid))
  if active(s) then table.insert(live, {sid, s}) else redis.call('ZREM', KEYS[2], sid) end
end
local result = {'ok'}
for i = 1, #live + 1 - tonumber(ARGV[4]) do
  revoke(live[i][1], live[i][2], 'evicted')
  table.insert(result, live[i][1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
local ms = ttl_ms(state(KEYS[1]))
redis.call('PEXPIRE', KEYS[1], ms)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
extend_ttl(KEYS[2], ms)
return result
"""
)

# Shared by rotate and touch: slide ``seen`` forward and renew both TTLs.
_SLIDE = """
local function slide(key, sid, s, seen)
  if tonumber(seen) > tonumber(redis.call('HGET', key, 'seen')) then
    redis.call('HSET', key, 'seen', seen)
    redis.call('ZADD', user_key(s.user), 'XX', seen, sid)
  end
  local ms = ttl_ms(state(key))
  redis.call('PEXPIRE', key, ms)
  extend_ttl(user_key(s.user), ms)
end
"""

# KEYS: session. ARGV: prefix, now, sid, expected, cur, prev, rot, gen, seen
_ROTATE = (
    _PRELUDE
    + _SLIDE
    + """
local s = state(KEYS[1])
if not active(s) or redis.call('HGET', KEYS[1], 'cur') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'cur', ARGV[5], 'prev', ARGV[6], 'rot', ARGV[7], 'gen', ARGV[8])
slide(KEYS[1], ARGV[3], s, ARGV[9])
return 1
"""
)

# KEYS: session. ARGV: prefix, now, sid, seen
_TOUCH = (
    _PRELUDE
    + _SLIDE
    + """
local s = state(KEYS[1])
if not active(s) then return 0 end
slide(KEYS[1], ARGV[3], s, ARGV[4])
return 1
"""
)

# KEYS: session. ARGV: prefix, now, sid, reason. Returns the record after, or nothing.
_REVOKE = (
    _PRELUDE
    + """
local s = state(KEYS[1])
if s == nil or now >= s.expires then return {} end
if not s.revoked then revoke(ARGV[3], s, ARGV[4]) end
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: user index. ARGV: prefix, now, reason, except ('' for none)
_REVOKE_ALL = (
    _PRELUDE
    + """
local revoked = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = state(session_key(sid))
  if not active(s) then
    redis.call('ZREM', KEYS[1], sid)
  elseif sid ~= ARGV[4] then
    revoke(sid, s, ARGV[3])
    table.insert(revoked, sid)
  end
end
return revoked
"""
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(session: Session) -> dict[str, str | int]:
    doc = {
        "created_at": session.created_at.isoformat(),
        "auth_time": session.auth_time.isoformat(),
        "amr": list(session.amr),
        "remember_me": session.remember_me,
        "role": session.role,
        "device_label": session.device_label,
        "user_agent": session.user_agent,
        "ip": session.ip,
    }
    fields: dict[str, str | int] = {
        "user": str(session.user_id),
        "doc": json.dumps(doc, separators=(",", ":")),
        "abs": micros(session.absolute_expires_at),
        "idle": session.idle_timeout // _MICROSECOND,
        "seen": micros(session.last_seen_at),
        "cur": session.refresh.current_hash,
        "gen": session.refresh.generation,
    }
    if session.refresh.previous_hash is not None and session.refresh.rotated_at is not None:
        fields["prev"] = session.refresh.previous_hash
        fields["rot"] = micros(session.refresh.rotated_at)
    if session.revoked_at is not None and session.revoked_reason is not None:
        fields["rev_at"] = micros(session.revoked_at)
        fields["rev_why"] = str(session.revoked_reason)
    return fields


def _decode(session_id: str, raw: Mapping[bytes | str, bytes | str]) -> Session:
    fields = {_text(key): _text(value) for key, value in raw.items()}
    doc = json.loads(fields["doc"])
    return Session(
        id=SessionId(session_id),
        user_id=UUID(fields["user"]),
        created_at=datetime.fromisoformat(doc["created_at"]),
        auth_time=datetime.fromisoformat(doc["auth_time"]),
        absolute_expires_at=from_micros(fields["abs"]),
        idle_timeout=timedelta(microseconds=int(fields["idle"])),
        last_seen_at=from_micros(fields["seen"]),
        refresh=RefreshState(
            current_hash=fields["cur"],
            generation=int(fields["gen"]),
            previous_hash=fields.get("prev"),
            rotated_at=from_micros(fields["rot"]) if "rot" in fields else None,
        ),
        amr=tuple(doc["amr"]),
        remember_me=doc["remember_me"],
        role=doc["role"],
        device_label=doc["device_label"],
        user_agent=doc["user_agent"],
        ip=doc["ip"],
        revoked_at=from_micros(fields["rev_at"]) if "rev_at" in fields else None,
        revoked_reason=RevocationReason(fields["rev_why"]) if "rev_why" in fields else None,
    )


def _pairs(flat: Sequence[Any]) -> dict[bytes | str, bytes | str]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class RedisSessionStore(SessionStore):
    def __init__(self, client: Redis, clock: Clock, *, prefix: str = "dashcore:") -> None:
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._create = client.register_script(_CREATE)
        self._rotate = client.register_script(_ROTATE)
        self._touch = client.register_script(_TOUCH)
        self._revoke = client.register_script(_REVOKE)
        self._revoke_all = client.register_script(_REVOKE_ALL)

    def session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def user_key(self, user_id: UUID) -> str:
        return f"{self._prefix}user:{user_id}:sessions"

    def _now(self) -> int:
        return micros(self._clock.now())

    def _live(self, session: Session) -> Session | None:
        return session if self._clock.now() < session.expires_at else None

    async def create(self, session: Session, *, max_active: int) -> list[SessionId]:
        fields: list[EncodableT] = [part for pair in _encode(session).items() for part in pair]
        keys = [self.session_key(session.id), self.user_key(session.user_id)]
        args: list[EncodableT] = [
            self._prefix,
            self._now(),
            session.id,
            max_active,
            micros(session.last_seen_at),
        ]
        async with redis_errors():
            result = await self._create(keys=keys, args=[*args, *fields])
        status, *evicted = [_text(item) for item in result]
        if status != "ok":
            raise Conflict("The session id is taken.", code="session_exists")
        return [SessionId(sid) for sid in evicted]

    async def get(self, session_id: SessionId) -> Session | None:
        async with redis_errors():
            raw = await self._client.hgetall(self.session_key(session_id))
        return self._live(_decode(session_id, raw)) if raw else None

    async def list_for_user(self, user_id: UUID) -> list[Session]:
        async with redis_errors():
            members = await self._client.zrange(self.user_key(user_id), 0, -1)
            ids = [_text(member) for member in cast("list[bytes]", members)]
            async with self._client.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.hgetall(self.session_key(sid))
                records = await pipe.execute()
        now = self._clock.now()
        sessions = [_decode(sid, raw) for sid, raw in zip(ids, records, strict=True) if raw]
        active = [session for session in sessions if session.is_active(now)]
        return sorted(active, key=lambda s: (s.last_seen_at, s.id), reverse=True)

    async def rotate(self, session: Session, *, expected_hash: str) -> bool:
        refresh = session.refresh
        if refresh.previous_hash is None or refresh.rotated_at is None:
            return False
        args: list[EncodableT] = [
            self._prefix,
            self._now(),
            session.id,
            expected_hash,
            refresh.current_hash,
            refresh.previous_hash,
            micros(refresh.rotated_at),
            refresh.generation,
            micros(session.last_seen_at),
        ]
        async with redis_errors():
            return bool(await self._rotate(keys=[self.session_key(session.id)], args=args))

    async def touch(self, session_id: SessionId, seen_at: datetime) -> bool:
        args: list[EncodableT] = [self._prefix, self._now(), session_id, micros(seen_at)]
        async with redis_errors():
            return bool(await self._touch(keys=[self.session_key(session_id)], args=args))

    async def revoke(self, session_id: SessionId, reason: RevocationReason) -> Session | None:
        args: list[EncodableT] = [self._prefix, self._now(), session_id, str(reason)]
        async with redis_errors():
            flat = await self._revoke(keys=[self.session_key(session_id)], args=args)
        return _decode(session_id, _pairs(flat)) if flat else None

    async def revoke_all_for_user(
        self, user_id: UUID, reason: RevocationReason, *, except_id: SessionId | None = None
    ) -> list[SessionId]:
        args: list[EncodableT] = [self._prefix, self._now(), str(reason), except_id or ""]
        async with redis_errors():
            revoked = await self._revoke_all(keys=[self.user_key(user_id)], args=args)
        return sorted(SessionId(_text(sid)) for sid in revoked)
