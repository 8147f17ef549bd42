"""The in-memory result bus: who gets what, and who is finished when a conversation ends."""

from __future__ import annotations

from gateway.outputs.bus import LocalBus
from gateway.outputs.result import Result
from tests.outputs.recording import RecordingSink


def result(seq: int, *, origin: str | None = None, audience: str = "conversation") -> Result:
    return Result.of("c1", {"type": "message", "message": {"type": f"m{seq}"}}, seq,
                     origin=origin, audience=audience)  # type: ignore[arg-type]


async def test_participants_get_their_own_and_shared_results_consoles_get_all() -> None:
    bus = LocalBus()
    alice, bob, console, other = (RecordingSink(n) for n in ("a", "b", "console", "other"))
    bus.attach("c1", alice, participant="alice")
    bus.attach("c1", bob, participant="bob")
    bus.attach("c1", console)
    bus.attach("c2", other)
    bus.publish(result(1, origin="alice", audience="participant"))
    bus.publish(result(2, origin="alice"))
    bus.publish(result(3, origin="bob", audience="participant"))
    assert [r.seq for r in alice.results] == [1, 2]
    assert [r.seq for r in bob.results] == [2, 3]
    assert [r.seq for r in console.results] == [1, 2, 3]
    assert other.results == []
    assert bus.count("c1") == 3 and bus.count("c1", "console") == 1


async def test_finish_closes_conversation_outputs_and_leaves_participants_to_owners() -> None:
    bus = LocalBus()
    participant, relay = RecordingSink("datachannel"), RecordingSink("relay")
    bus.attach("c1", participant, participant="p")
    bus.attach("c1", relay)
    await bus.finish("c1")
    assert relay.closed and relay.drained == 1
    assert not participant.closed and bus.outputs("c1") == [participant]
    bus.detach("c1", participant)
    assert bus.conversations() == []


async def test_one_broken_output_does_not_starve_the_others() -> None:
    bus = LocalBus()
    broken, healthy = RecordingSink("broken"), RecordingSink("healthy")
    broken.closed = True  # its send raises
    bus.attach("c1", broken)
    bus.attach("c1", healthy)
    bus.publish(result(1))
    assert [r.seq for r in healthy.results] == [1]


async def test_waiting_outputs_are_finished_at_shutdown() -> None:
    bus = LocalBus()
    console = RecordingSink("subscriber")
    bus.attach("not-started-yet", console)
    await bus.aclose()
    assert console.closed and bus.conversations() == []
