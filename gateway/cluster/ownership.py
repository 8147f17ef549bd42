"""Which node owns a conversation: atomic claims, leases, take-over from dead nodes.

A conversation is owned by exactly one node at a time, decided by a Lua script so two
participants of a new conversation arriving at two nodes at the same moment end up on the
same one. The lease is refreshed by the owner's heartbeat; it lapses with the node, and a
node that finds the recorded owner dead (no record) or draining takes the conversation over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio.client import Pipeline

from .keys import Keys
from .link import RedisLink

# KEYS[1] conversation hash; ARGV: node id, now (ms), lease (ms), node key prefix.
# Returns {status, other node}: "here" (ours, new or already), "elsewhere" (alive owner),
# "taken" (we took it over from a dead or draining owner).
CLAIM = """
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[1] then
  if redis.call('HGET', ARGV[4] .. owner, 'accepting') == '1' then
    return {'elsewhere', owner}
  end
end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'since', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if owner and owner ~= ARGV[1] then
  return {'taken', owner}
end
return {'here', ''}
"""

# Refresh our lease, or re-create it after Redis lost it; never steal a live owner's.
# KEYS[1] conversation hash; ARGV: node id, now (ms), lease (ms). Returns '' or the owner.
REFRESH = """
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[1] then
  return owner
end
if not owner then
  redis.call('HSET', KEYS[1], 'node', ARGV[1], 'since', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ''
"""

# KEYS[1] conversation hash, KEYS[2] its members; ARGV[1] node id. Deletes only our own.
RELEASE = """
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""

ClaimStatus = Literal["here", "elsewhere", "taken"]


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    other: str | None  # the live owner ("elsewhere") or the one taken over from ("taken")


class Ownership:
    """The scripts, bound to one node; callers handle Redis being unavailable."""

    def __init__(self, link: RedisLink, keys: Keys, node_id: str, lease: float) -> None:
        self._link = link
        self._keys = keys
        self._node = node_id
        self._lease_ms = int(lease * 1000)
        client = link.client
        self._claim = client.register_script(CLAIM)
        self._refresh = client.register_script(REFRESH)
        self._release = client.register_script(RELEASE)

    async def claim(self, conversation_id: str) -> Claim:
        reply: Any = await self._claim(
            keys=[self._keys.conversation(conversation_id)],
            args=[self._node, _now_ms(), self._lease_ms, self._keys.node_prefix])
        status, other = str(reply[0]), str(reply[1])
        if status == "elsewhere":
            return Claim("elsewhere", other)
        if status == "taken":
            return Claim("taken", other)
        return Claim("here", None)

    async def refresh(self, pipe: Pipeline, conversation_id: str) -> None:
        """Queue a lease refresh on ``pipe``; its reply is '' or the conflicting owner."""
        await self._refresh(keys=[self._keys.conversation(conversation_id)],
                      args=[self._node, _now_ms(), self._lease_ms], client=pipe)

    async def release(self, conversation_id: str) -> bool:
        done: Any = await self._release(
            keys=[self._keys.conversation(conversation_id), self._keys.members(conversation_id)],
            args=[self._node])
        return bool(done)

    async def owner(self, conversation_id: str) -> str | None:
        owner: Any = await self._link.client.hget(self._keys.conversation(conversation_id),
                                                  "node")
        return str(owner) if owner else None


def _now_ms() -> int:
    return int(time.time() * 1000)
