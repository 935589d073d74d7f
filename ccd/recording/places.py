"""Where each Asterisk server's recordings are: the directory that Asterisk writes them in
(its own view, inside its chroot or container) and the one ccd reads them from. Every
server writes on its own file system, so a recording is read from the place of the
server it was made on. Pure: paths, no file system access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class RecordingPlace:
    asterisk_dir: PurePosixPath  # where that Asterisk writes (its view)
    local_dir: Path  # where ccd reads the same files


@dataclass(frozen=True, slots=True)
class RecordingPlaces:
    default_server: str
    """The first configured server: recordings stored before they carried a server (and
    untagged calls) are its."""
    places: Mapping[str, RecordingPlace | None] = field(default_factory=dict)
    """Per server name; None: ccd cannot read that server's files, so it records nothing
    there."""

    @classmethod
    def single(cls, server: str, asterisk_dir: PurePosixPath, local_dir: Path) -> RecordingPlaces:
        """One server (a deployment with only ``[ami]``)."""
        return cls(server, {server: RecordingPlace(asterisk_dir, local_dir)})

    def server_name(self, server: str | None) -> str:
        """The name a recording of ``server`` is stored under: "" or None is the default."""
        return server or self.default_server

    def of(self, server: str | None) -> RecordingPlace | None:
        """The place of ``server``'s recordings. A server no longer configured (a renamed
        one: the single ``[ami]`` server was ``default``) is read from the default
        server's place: the files did not move when the configuration changed."""
        name = self.server_name(server)
        if name in self.places:
            return self.places[name]
        return self.places.get(self.default_server)
