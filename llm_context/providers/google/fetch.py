"""Downloading http(s) image URLs for Gemini, which reads images by URI only from its Files API.

- Once per URL, not per attempt or per turn: downloads are kept in a small LRU cache on the
  adapter's fetcher (`CACHE_ENTRIES` images, `CACHE_BYTES` in all), so retries and later turns
  of a conversation reuse the bytes.
- No requests to the caller's own network: other providers fetch image URLs on their side,
  here the library's host does, so a URL from an end user could reach internal services
  (SSRF). A host that resolves to a loopback, private, link-local, multicast, reserved or
  otherwise non-public address is refused, on the first URL and on every redirect (followed
  here, at most `MAX_REDIRECTS`), and the connection goes to the address that was checked (no
  second DNS lookup a rebinding server could answer differently). A profile opts in with
  `extras: {allow_private_image_urls: true}` (any address) or a list of addresses / networks
  (`["10.1.2.0/24", "127.0.0.1"]`) for internal image hosts.
- Capped at `MAX_IMAGE_BYTES`, with a timeout; only real images (PNG, JPEG, GIF, WebP by
  their bytes, whose signature also gives the media type); a failed download is an
  `LLMInputError` before any model call.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import httpx2

from ...contract.files import document_bytes_type
from ...contract.images import sniff_image_type
from ...contract.messages import DocumentPart, ImagePart, Message
from ...errors import LLMConfigError, LLMInputError
from .request import FILES_API_PREFIX, PROVIDER, FetchedImage

__all__ = ["ALLOW_PRIVATE", "MAX_IMAGE_BYTES", "ImageFetcher", "address_policy"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the Gemini API's limit for a whole inline request
FETCH_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
CACHE_ENTRIES = 32
CACHE_BYTES = 64 * 1024 * 1024
ALLOW_PRIVATE = "allow_private_image_urls"  # the profile extras key that opts in
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Content types that say nothing about the bytes: the signature decides.
_UNTYPED = frozenset({"application/octet-stream", "binary/octet-stream"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _shown(url: str) -> str:
    """A URL for messages: no query or fragment (signed URLs carry tokens there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:120]


def address_policy(profile_name: str, extras: Mapping[str, object]) -> bool | tuple[Network, ...]:
    """`extras.allow_private_image_urls`: True (any address), or the networks allowed."""
    value = extras.get(ALLOW_PRIVATE, False)
    if isinstance(value, bool):
        return value
    items = [value] if isinstance(value, str) else value
    try:
        if not isinstance(items, (list, tuple)):
            raise TypeError
        return tuple(ipaddress.ip_network(str(item), strict=False) for item in items)
    except (TypeError, ValueError):
        raise LLMConfigError(
            f"profile {profile_name!r}: extras.{ALLOW_PRIVATE} must be true, false or a list "
            f"of IP addresses / networks (such as 10.0.0.0/8), got {value!r}"
        ) from None


class _Cache:
    """A thread-safe LRU of downloaded images, bounded in count and in total bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.items: OrderedDict[str, FetchedImage] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, url: str) -> FetchedImage | None:
        with self.lock:
            image = self.items.get(url)
            if image is not None:
                self.items.move_to_end(url)
            return image

    def put(self, url: str, image: FetchedImage) -> None:
        with self.lock:
            old = self.items.pop(url, None)
            self.size -= len(old.data) if old is not None else 0
            self.items[url] = image
            self.size += len(image.data)
            while self.items and (len(self.items) > self.max_entries or self.size > self.max_bytes):
                _, dropped = self.items.popitem(last=False)
                self.size -= len(dropped.data)


class ImageFetcher:
    """Downloads image URLs for inline input: one HTTP client, checked hops, cached bytes."""

    def __init__(
        self,
        allow_private: bool | tuple[Network, ...] = False,
        max_bytes: int = MAX_IMAGE_BYTES,
        timeout_s: float = FETCH_TIMEOUT_S,
        cache_entries: int = CACHE_ENTRIES,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        # Redirects are followed by hand so that every hop's address is checked.
        self.client = httpx2.Client(follow_redirects=False, timeout=timeout_s)
        self.cache = _Cache(cache_entries, cache_bytes)

    def fetch_all(self, messages: Iterable[Message]) -> dict[str, FetchedImage]:
        """Every http(s) image and document of the messages (Files API URIs excepted), by URL."""
        fetched: dict[str, FetchedImage] = {}
        for message in messages:
            for part in message.parts:
                if isinstance(part, ImagePart) and not part.is_data_url:
                    url, kind = part.url, "image"
                elif isinstance(part, DocumentPart) and part.url is not None:
                    url, kind = part.url, "document"
                else:
                    continue
                if url.startswith(FILES_API_PREFIX) or url in fetched:
                    continue
                fetched[url] = self.fetch(url, kind)
        return fetched

    def fetch(self, url: str, kind: str = "image") -> FetchedImage:
        """The image (or document) at `url`, from the cache or downloaded (following checked
        redirects)."""
        key = url if kind == "image" else f"{kind}:{url}"  # the same URL checked as another kind
        image = self.cache.get(key)
        if image is None:
            image = self._download(url, kind)
            self.cache.put(key, image)
        return image

    def _download(self, url: str, kind: str = "image") -> FetchedImage:
        where = _shown(url)
        try:
            target = httpx2.URL(url)
            for _ in range(MAX_REDIRECTS + 1):
                location = self._get(target, where, kind)
                if isinstance(location, FetchedImage):
                    return location
                target = target.join(location)
                where = _shown(str(target))
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            raise LLMInputError(
                f"could not fetch the image at {where}: {type(exc).__name__}", provider=PROVIDER
            ) from None
        raise LLMInputError(
            f"could not fetch the image at {_shown(url)}: more than {MAX_REDIRECTS} redirects",
            provider=PROVIDER,
        )

    def _get(self, url: httpx2.URL, where: str, kind: str) -> FetchedImage | str:
        """One hop: the image, or the redirect's Location; the connection goes to a checked
        address (Host header and TLS name stay the URL's host)."""
        if url.scheme not in ("http", "https"):
            raise LLMInputError(
                f"the image URL {where} is not http(s) (after a redirect)", provider=PROVIDER
            )
        addresses = self._addresses(url, where)
        last: httpx2.ConnectError | None = None
        for address in addresses:
            pinned = url.copy_with(host=str(address))
            host = url.raw_host.decode("ascii")
            headers = {"host": url.netloc.decode("ascii")}
            try:
                with self.client.stream(
                    "GET", pinned, headers=headers, extensions={"sni_hostname": host}
                ) as response:
                    return self._read(response, where, kind)
            except httpx2.ConnectError as exc:  # try the host's next address
                last = exc
        assert last is not None  # _addresses returns at least one
        raise last

    def _addresses(self, url: httpx2.URL, where: str) -> list[IPAddress]:
        """The host's addresses, all of them allowed by the profile's policy."""
        try:
            infos = socket.getaddrinfo(url.raw_host.decode("ascii"), None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise LLMInputError(
                f"could not fetch the image at {where}: cannot resolve its host",
                provider=PROVIDER,
            ) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for address in addresses:
            if not self._allowed(address):
                raise LLMInputError(
                    f"the image URL {where} points to the non-public address {address}; the "
                    "google adapter downloads image URLs itself and refuses local and private "
                    f"addresses unless the profile sets extras.{ALLOW_PRIVATE}: true (or a "
                    "list of allowed networks)",
                    provider=PROVIDER,
                )
        return addresses

    def _allowed(self, address: IPAddress) -> bool:
        if isinstance(self.allow_private, bool):
            return self.allow_private or (address.is_global and not address.is_multicast)
        allowed = address.is_global and not address.is_multicast
        return allowed or any(address in network for network in self.allow_private)

    def _read(self, response: httpx2.Response, where: str, kind: str) -> FetchedImage | str:
        location = response.headers.get("location")
        if response.status_code in REDIRECTS and location:
            return location
        if response.status_code >= 400:
            raise LLMInputError(
                f"could not fetch the image at {where}: HTTP {response.status_code}",
                provider=PROVIDER,
            )
        declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "document":
            return self._document(response, where, declared)
        if declared and not declared.startswith("image/") and declared not in _UNTYPED:
            raise LLMInputError(
                f"the URL {where} is not an image (content type {declared!r}); pass the URL "
                "of a PNG, JPEG, GIF or WebP image",
                provider=PROVIDER,
            )
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large(where)
        data = bytearray()
        for chunk in response.iter_bytes():
            data.extend(chunk)
            if len(data) > self.max_bytes:
                raise self._too_large(where)
        # The bytes decide the type: servers mislabel images (and octet-stream says nothing).
        media = sniff_image_type(data)
        if media is None:
            raise LLMInputError(
                f"the URL {where} did not return an image (its bytes are not PNG, JPEG, GIF "
                "or WebP); pass the URL of a real image",
                provider=PROVIDER,
            )
        return FetchedImage(media, bytes(data))

    def _body(self, response: httpx2.Response, where: str) -> bytes:
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large(where)
        data = bytearray()
        for chunk in response.iter_bytes():
            data.extend(chunk)
            if len(data) > self.max_bytes:
                raise self._too_large(where)
        return bytes(data)

    def _document(self, response: httpx2.Response, where: str, declared: str) -> FetchedImage:
        """A PDF or UTF-8 text by its bytes (servers label documents loosely)."""
        if declared.startswith(("image/", "audio/", "video/")):
            raise LLMInputError(
                f"the URL {where} is not a document (content type {declared!r}); pass the URL "
                "of a PDF or a text file",
                provider=PROVIDER,
            )
        data = self._body(response, where)
        media = document_bytes_type(data, where=f"the document at {where}")
        return FetchedImage(media, data)

    def _too_large(self, where: str) -> LLMInputError:
        limit = self.max_bytes // (1024 * 1024)
        return LLMInputError(
            f"the image at {where} is larger than {limit} MB; resize it or upload it through "
            "the Gemini Files API and pass that URI",
            provider=PROVIDER,
        )

    def close(self) -> None:
        self.client.close()
