"""BlobDataLake: the DataLake port on azure-storage-blob, in both modes (Azurite locally).

Locally the connection string points at Azurite; `LOCAL_API_VERSION` pins a service version
Azurite 3.35 understands, so the adapter works even when Azurite runs without
--skipApiVersionCheck. Containers are created on first write if they are missing (infra creates
them on Azure; the local stack starts empty).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContentSettings

from core.kernel.blob_paths import BlobPathError, check_blob_path
from core.kernel.ports import BlobInfo, BlobNotFound

# The newest blob service version Azurite 3.35 (the last release for Node 20) accepts.
LOCAL_API_VERSION = "2025-11-05"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "UseDevelopmentStorage=true")
# Azure's container rule: 3-63 lowercase letters, digits and single hyphens, not at the ends.
_CONTAINER_RE = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _container(name: str) -> str:
    if not isinstance(name, str) or not _CONTAINER_RE.match(name):
        raise BlobPathError(
            f"container {str(name)[:80]!r} is not a valid container name "
            "(3-63 lowercase letters, digits and single hyphens)"
        )
    return name


def _plain(name: str) -> bool:
    try:
        check_blob_path(name)
    except BlobPathError:
        return False
    return True


class BlobDataLake:
    def __init__(
        self, account_url: str, credential: Any = None, *, api_version: str | None = None, **kwargs: Any
    ):
        if not account_url:
            raise ValueError(
                "BlobDataLake needs STORAGE_ACCOUNT_URL (https://<account>.blob.core.windows.net)"
            )
        if api_version:
            kwargs["api_version"] = api_version
        self._service = BlobServiceClient(account_url, credential=credential, **kwargs)
        self._ensured: set[str] = set()

    @classmethod
    def from_connection_string(cls, conn_str: str, **kwargs: Any) -> BlobDataLake:
        if any(h in conn_str for h in _LOCAL_HOSTS):
            kwargs.setdefault("api_version", LOCAL_API_VERSION)
        self = cls.__new__(cls)
        self._service = BlobServiceClient.from_connection_string(conn_str, **kwargs)
        self._ensured = set()
        return self

    @property
    def account_url(self) -> str:
        return self._service.url.rstrip("/")

    def _blob(self, container: str, path: str) -> BlobClient:
        """Every blob call goes through here: a name with dot segments would be collapsed by
        the HTTP stack and address another folder or container, so it never reaches Azure."""
        return self._service.get_blob_client(_container(container), check_blob_path(path))

    def _info(self, container: str, path: str, props: Any) -> BlobInfo:
        return BlobInfo(
            container=container,
            path=path,
            url=self.url(container, path),
            etag=str(props.etag),
            size=int(props.size if getattr(props, "size", None) is not None else props.get("size", 0)),
            last_modified=props.last_modified,
            metadata=dict(getattr(props, "metadata", None) or {}),
        )

    def read(self, container: str, path: str) -> bytes:
        try:
            return self._blob(container, path).download_blob().readall()
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{path} not found in {self.account_url}") from None

    def info(self, container: str, path: str) -> BlobInfo:
        try:
            return self._info(container, path, self._blob(container, path).get_blob_properties())
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{path} not found in {self.account_url}") from None

    def ensure_container(self, container: str) -> None:
        _container(container)
        if container in self._ensured:
            return
        with contextlib.suppress(ResourceExistsError):
            self._service.create_container(container)
        self._ensured.add(container)

    def write(
        self,
        container: str,
        path: str,
        data: bytes,
        *,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> BlobInfo:
        blob = self._blob(container, path)
        settings = ContentSettings(content_type=content_type) if content_type else None
        for attempt in range(2):
            try:
                blob.upload_blob(data, overwrite=overwrite, metadata=metadata, content_settings=settings)
                break
            except ResourceExistsError:
                # content-addressed or first-writer-wins: the existing blob is the answer
                return self.info(container, path)
            except ResourceNotFoundError as exc:
                if attempt or getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self._ensured.discard(container)
                self.ensure_container(container)
        return self.info(container, path)

    def exists(self, container: str, path: str) -> bool:
        return bool(self._blob(container, path).exists())

    def list(self, container: str, prefix: str = "") -> list[BlobInfo]:
        check_blob_path(prefix, what="prefix", prefix=True)
        client = self._service.get_container_client(_container(container))
        try:
            items = list(client.list_blobs(name_starts_with=prefix or None, include=["metadata"]))
        except ResourceNotFoundError:
            return []
        # a name this adapter would refuse to read (dot segments) is left out, not fatal
        return sorted(
            (self._info(container, b.name, b) for b in items if _plain(b.name)), key=lambda b: b.path
        )

    def url(self, container: str, path: str) -> str:
        check_blob_path(path, what="blob name", prefix=not path or path.endswith("/"))
        return f"{self.account_url}/{_container(container)}/{quote(path, safe='/')}"
