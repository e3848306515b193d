"""The server's HTTP protocol: the writes of one event-loop turn leave in one send."""

from __future__ import annotations

import asyncio

from agentgym.http_protocol import CoalescingTransport


class RecordingTransport:
    """Test double of an asyncio transport: records what is written and whether it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 8100) if name == "sockname" else default


def test_writes_of_one_turn_are_sent_together_and_close_flushes_first() -> None:
    async def scenario() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert inner.writes == [] and transport.get_write_buffer_size() == 40
        await asyncio.sleep(0)  # the end of this turn
        assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        transport.write(b"last")
        transport.close()  # what is pending goes out before the close
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 8100)  # the rest is the wrapped transport's
        return inner

    inner = asyncio.run(scenario())
    assert inner.writes[-1] == b"last" and inner.closed
