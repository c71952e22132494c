"""Backed-up batches in a local folder (the `FailureObjectStore` port; the local stream's
failures folder, or objects copied down from S3).

The folder plays the bucket: keys are paths relative to it, and archived objects move under
`<folder>/<archive prefix>`, which listing skips. Hidden files (the stream writes an object
under a dot-name, then renames it into place) are never listed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from analytics_core.errors import InfrastructureError
from analytics_core.failures import ARCHIVE_PREFIX, StoredObject, within

DEFAULT_ARCHIVE_PREFIX = ARCHIVE_PREFIX


class LocalFailureObjects:
    """Failure objects under `root`, archived under `root/<archive_prefix>`."""

    def __init__(self, root: Path, archive_prefix: str = DEFAULT_ARCHIVE_PREFIX) -> None:
        self.root = root
        self.archive_prefix = archive_prefix.strip("/") + "/"

    def list_objects(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredObject]:
        """Every object under the folder (archive excluded) in [since, until), oldest first."""
        if not self.root.is_dir():
            raise InfrastructureError(f"no such folder: {self.root}")
        found: list[StoredObject] = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if not path.is_file() or key.startswith(self.archive_prefix):
                continue
            if any(part.startswith(".") for part in Path(key).parts):
                continue
            stat = path.stat()
            found.append(
                StoredObject(key, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)
            )
        return sorted(
            (o for o in found if within(o, since, until)), key=lambda o: (o.modified_at, o.key)
        )

    def read(self, key: str) -> bytes:
        """The object's bytes."""
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise InfrastructureError(f"cannot read {self.root / key}: {exc}") from exc

    def archive(self, key: str) -> str:
        """Move the object under the archive prefix; returns its new key."""
        target_key = self.archive_prefix + key
        target = self.root / target_key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            (self.root / key).replace(target)
        except OSError as exc:
            raise InfrastructureError(f"cannot archive {self.root / key}: {exc}") from exc
        return target_key

    def location(self, key: str) -> str:
        """Where the object is, for people."""
        return str(self.root / key)
