"""Where artifacts live, how long they stay, and how runners elsewhere get them.

Layout: `<root>/gitrepository/<namespace>/<name>/<digest-hex>.tar.gz` beside a `<digest-hex>.json` with
the revision. Naming files by content digest makes storing idempotent: the same content is stored once,
and after a controller restart the artifact named in status is found on disk without any refetch.
The newest `keep` artifacts of an object (2 by default: the current one and the previous one, which a
Terraform may still be running from) and any explicitly protected digests survive garbage collection.
`serve` exposes the root read-only over HTTP for runners on other machines (`--artifact-addr`).
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tfcontroller.api.times import format_rfc3339
from tfcontroller.source.digest import file_sha256

log = logging.getLogger(__name__)

KIND_DIR = "gitrepository"
SUFFIX = ".tar.gz"


class ArtifactDigestMismatchError(Exception):
    """A downloaded artifact does not have the digest its status advertises."""


@dataclass(frozen=True)
class Artifact:
    """A stored artifact, as GitRepository `status.artifact` reports it."""

    path: str
    url: str
    size: int
    digest: str
    revision: str
    last_update_time: str

    @property
    def digest_hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_status(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "digest": self.digest,
            "path": self.path,
            "url": self.url,
            "size": self.size,
            "lastUpdateTime": self.last_update_time,
        }




def _hex_of(digest: str) -> str:
    value = digest.split(":", 1)[1] if ":" in digest else digest
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return value


def _safe_segment(value: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\0" in value:
        raise ValueError(f"invalid namespace or name: {value!r}")
    return value


class ArtifactStore:
    """Artifacts under `root`; URLs built from `base_url` (or file:// URLs when there is none)."""

    def __init__(self, root: Path | str, base_url: str | None = None, keep: int = 2) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.keep = max(1, keep)
        self._lock = threading.Lock()
        self._last_stamp = 0

    # ------------------------------------------------------------ paths and metadata

    def dir_for(self, namespace: str, name: str) -> Path:
        return self.root / KIND_DIR / _safe_segment(namespace) / _safe_segment(name)

    def url_for(self, relative: str) -> str:
        if self.base_url:
            return f"{self.base_url}/{urllib.parse.quote(relative)}"
        return (self.root / relative).as_uri()

    def _artifact(self, file: Path, revision: str | None = None) -> Artifact:
        meta_path = file.with_name(file.name[: -len(SUFFIX)] + ".json")
        meta: dict[str, str] = {}
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
        if revision is not None and meta.get("revision") != revision:
            meta = {"revision": revision, "lastUpdateTime": format_rfc3339()}
            tmp = meta_path.with_name("." + meta_path.name + ".tmp")
            tmp.write_text(json.dumps(meta, sort_keys=True))
            os.replace(tmp, meta_path)
        relative = file.relative_to(self.root).as_posix()
        return Artifact(
            path=relative,
            url=self.url_for(relative),
            size=file.stat().st_size,
            digest="sha256:" + file.name[: -len(SUFFIX)],
            revision=meta.get("revision", ""),
            last_update_time=meta.get("lastUpdateTime", ""),
        )

    def _touch(self, file: Path) -> None:
        """Mark as newest; stamps strictly increase so GC order never depends on clock resolution."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        os.utime(file, ns=(stamp, stamp))

    def _files(self, namespace: str, name: str) -> list[Path]:
        directory = self.dir_for(namespace, name)
        if not directory.is_dir():
            return []
        files = [p for p in directory.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith(".")]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)

    # ------------------------------------------------------------ public API

    def lookup(self, namespace: str, name: str, digest: str) -> Artifact | None:
        """The stored artifact with this digest, if present (used after a restart: no refetch)."""
        file = self.dir_for(namespace, name) / (_hex_of(digest) + SUFFIX)
        return self._artifact(file) if file.is_file() else None

    def latest(self, namespace: str, name: str) -> Artifact | None:
        files = self._files(namespace, name)
        return self._artifact(files[0]) if files else None

    def list(self, namespace: str, name: str) -> list[Artifact]:
        """Newest first."""
        return [self._artifact(f) for f in self._files(namespace, name)]

    def put(
        self,
        namespace: str,
        name: str,
        build: Callable[[Path], object],
        revision: str,
        protect: Iterable[str] = (),
    ) -> Artifact:
        """Build into a temporary file with `build(path)`, store it by digest, then collect garbage.

        An artifact with the same digest is reused (its revision metadata updated).
        """
        directory = self.dir_for(namespace, name)
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", suffix=SUFFIX, dir=directory)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            build(tmp)
            digest_hex = file_sha256(tmp)
            final = directory / (digest_hex + SUFFIX)
            with self._lock:
                if final.exists():
                    tmp.unlink()
                else:
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, final)
                self._touch(final)
                artifact = self._artifact(final, revision)
                self._gc_locked(namespace, name, [digest_hex, *protect])
            return artifact
        finally:
            if tmp.exists():
                tmp.unlink()

    def store_file(self, namespace: str, name: str, source: Path | str, revision: str) -> Artifact:
        """Store an already built tar.gz (copied; the source stays)."""
        return self.put(namespace, name, lambda dest: shutil.copyfile(source, dest), revision)

    def gc(self, namespace: str, name: str, protect: Iterable[str] = ()) -> builtins.list[Path]:
        with self._lock:
            return self._gc_locked(namespace, name, protect)

    def _gc_locked(self, namespace: str, name: str, protect: Iterable[str]) -> builtins.list[Path]:
        keep_hex = {_hex_of(d) for d in protect}
        removed: list[Path] = []
        for index, file in enumerate(self._files(namespace, name)):
            digest_hex = file.name[: -len(SUFFIX)]
            if index < self.keep or digest_hex in keep_hex:
                continue
            file.unlink(missing_ok=True)
            file.with_name(digest_hex + ".json").unlink(missing_ok=True)
            removed.append(file)
        return removed

    def delete(self, namespace: str, name: str) -> None:
        """Remove every artifact of an object (its GitRepository was deleted)."""
        with self._lock:
            shutil.rmtree(self.dir_for(namespace, name), ignore_errors=True)

    def serve(self, addr: str) -> ArtifactServer:
        """Serve the root read-only at `host:port` (port 0 picks one); sets `base_url` if unset."""
        server = ArtifactServer(self.root, addr)
        if self.base_url is None:
            self.base_url = server.url
        return server


class _ReadOnlyHandler(SimpleHTTPRequestHandler):
    """GET/HEAD of stored files only: no listings, no hidden (in-progress) files."""

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404, "Not Found")
        return None

    def send_head(self):  # type: ignore[no-untyped-def]
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        if any(part.startswith(".") for part in parts if part):
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("artifact server: " + format, *args)


class ArtifactServer:
    """A threading HTTP server over the artifact root, running until `stop()`."""

    def __init__(self, root: Path, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        handler = partial(_ReadOnlyHandler, directory=str(root))
        self._httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port or 0)), handler)
        self._httpd.daemon_threads = True
        bound = self._httpd.server_address[0]
        self.host = bound if isinstance(bound, str) else bytes(bound).decode()
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="artifact-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ArtifactServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch_artifact(url: str, dest: Path | str, digest: str | None = None, timeout: float = 60.0) -> Path:
    """Download an artifact (http(s) or file URL) to `dest`, checking `digest` when given."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if url.startswith("file://"):
                with open(urllib.request.url2pathname(urllib.parse.urlsplit(url).path), "rb") as src:
                    shutil.copyfileobj(src, out)
            elif url.startswith(("http://", "https://")):
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out)
            else:
                raise ValueError(f"unsupported artifact URL scheme: {url!r}")
        if digest is not None:
            actual = file_sha256(tmp_name)
            if actual != _hex_of(digest):
                raise ArtifactDigestMismatchError(
                    f"artifact {url} has digest sha256:{actual}, expected {digest}"
                )
        os.replace(tmp_name, dest)
        return dest
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
