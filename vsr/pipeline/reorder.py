"""Packets beside the video (audio, subtitles) kept in file order around frames that take a while.

The upscale stages batch frames, so a packet that arrives after frame n would reach the writer's
queue before frame n has been upscaled. The buffer holds such a packet until every frame that
arrived before it has been written, and passes it on at once when no frame is pending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from vsr.media.frames import Passthrough


class PacketReorder:
    """Hands each passthrough packet to `emit` once the frames that came before it in the input are out.

    Call `frame_arrived` for each frame taken in, `frame_written` right after each frame is put
    out (in the same order), `packet_arrived` for each packet, and `finish` at the end.
    """

    def __init__(self, emit: Callable[[Passthrough], None]) -> None:
        self._emit = emit
        self._held: deque[tuple[int, Passthrough]] = deque()  # (frames that arrived before it, packet)
        self.frames_in = 0
        self.frames_out = 0

    def __len__(self) -> int:
        """Packets held now."""
        return len(self._held)

    def frame_arrived(self) -> None:
        self.frames_in += 1

    def packet_arrived(self, packet: Passthrough) -> None:
        """Emits `packet` now if no frame before it (nor an earlier packet) is pending; else holds it."""
        if not self._held and self.frames_out == self.frames_in:
            self._emit(packet)
        else:
            self._held.append((self.frames_in, packet))

    def frame_written(self) -> None:
        """Emits the held packets whose preceding frames have all been written now.

        Raises RuntimeError when more frames are written than arrived (a stage's bug)."""
        self.frames_out += 1
        if self.frames_out > self.frames_in:
            raise RuntimeError(f"{self.frames_out} frames written but only {self.frames_in} arrived")
        while self._held and self._held[0][0] <= self.frames_out:
            self._emit(self._held.popleft()[1])

    def finish(self) -> None:
        """Emits every packet still held (at the end of the stream), in order."""
        while self._held:
            self._emit(self._held.popleft()[1])
