"""BlobDataLake: the DataLake port on azure-storage-blob, in both modes (Azurite locally).

Locally the connection string points at Azurite; `LOCAL_API_VERSION` pins a service version
Azurite 3.35 understands, so the adapter works even when Azurite runs without
--skipApiVersionCheck. Containers are created on first write if they are missing (infra creates
them on Azure; the local stack starts empty).
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContentSettings

from core.ports import BlobInfo, BlobNotFound

# The newest blob service version Azurite 3.35 (the last release for Node 20) accepts.
LOCAL_API_VERSION = "2025-11-05"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "UseDevelopmentStorage=true")


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
        return self._service.get_blob_client(container, path)

    def _info(self, container: str, path: str, props: Any) -> BlobInfo:
        return BlobInfo(
            container=container,
            path=path,
            url=self.url(container, path),
            etag=str(props.etag),
            size=int(props.size if getattr(props, "size", None) is not None else props.get("size", 0)),
            last_modified=props.last_modified,
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
        try:
            items = list(
                self._service.get_container_client(container).list_blobs(name_starts_with=prefix or None)
            )
        except ResourceNotFoundError:
            return []
        return sorted((self._info(container, b.name, b) for b in items), key=lambda b: b.path)

    def url(self, container: str, path: str) -> str:
        return f"{self.account_url}/{container}/{quote(path, safe='/')}"
