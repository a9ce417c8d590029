"""Download a push's `bundle_url` without letting it reach what the edge can reach.

A push may name a URL instead of carrying the bundle. The edge fetches it only when:

- the scheme is https (plain http only with `sequence edge --allow-http-bundles`);
- every address the host name resolves to is public: loopback, link-local (cloud metadata
  services), private, shared, multicast and reserved ranges are refused, unless a range is
  allowed explicitly with `--allow-bundle-network CIDR` (an in-cluster artifact server). The
  connection goes to the addresses that were checked (the resolver below is the connector's
  own), so a second DNS answer cannot swap in another one;
- the answer is a 200 without a redirect (redirects are never followed: give the final URL);
- the body is at most `max_bytes` (the Content-Length and the bytes actually read are checked);
- the bytes hash to the push's sha256.

Refusals say which rule failed and nothing about what the server answered (no status, body,
header or hash of the fetched bytes): the details go to the edge's log only.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

log = logging.getLogger("sequence.edge")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CHUNK = 64 << 10


class FetchRefused(Exception):
    """The bundle_url is refused; `reason` is the CamelCase reason of the 4xx answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class FetchPolicy:
    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)
    ca_file: str | None = None  # extra CA bundle to trust (a private artifact server)
    timeout_s: float = 30.0


def address_allowed(addr: IPAddress, policy: FetchPolicy) -> bool:
    """Public unicast addresses, or ones inside a range the edge allows explicitly."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in net for net in policy.allowed_networks):
        return True
    return addr.is_global and not addr.is_multicast


class CheckedResolver(AbstractResolver):
    """Resolves like the system does, then refuses the host if any address is not allowed."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except OSError:
            raise FetchRefused("BundleDownloadFailed", f"the host name {host!r} does not resolve") from None
        hosts: list[ResolveResult] = []
        for fam, _, proto, _, sockaddr in infos:
            addr = ipaddress.ip_address(str(sockaddr[0]))
            if not address_allowed(addr, self.policy):
                raise FetchRefused(
                    "BundleUrlRefused",
                    f"{host} resolves to a loopback, link-local or private address; this edge fetches "
                    "bundles from public addresses only (sequence edge --allow-bundle-network CIDR)",
                )
            hosts.append(
                {
                    "hostname": host,
                    "host": str(addr),
                    "port": int(sockaddr[1]),
                    "family": fam,
                    "proto": proto,
                    "flags": 0,
                }
            )
        return hosts

    async def close(self) -> None:
        return None


def check_url(url: str, policy: FetchPolicy) -> None:
    """The rules that need no network: scheme, host present, IP literals."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise FetchRefused("BundleUrlRefused", "bundle_url is not a valid URL") from None
    if parts.scheme == "http" and not policy.allow_http:
        raise FetchRefused(
            "BundleUrlRefused",
            "bundle_url must be https:// (this edge fetches plain http only with --allow-http-bundles)",
        )
    if parts.scheme not in ("http", "https") or not host:
        raise FetchRefused("BundleUrlRefused", "bundle_url must be an https:// URL with a host")
    if parts.username or parts.password:
        raise FetchRefused("BundleUrlRefused", "bundle_url must not carry credentials")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(literal, policy):
        raise FetchRefused(
            "BundleUrlRefused",
            f"{host} is a loopback, link-local or private address; this edge fetches bundles from "
            "public addresses only (sequence edge --allow-bundle-network CIDR)",
        )


async def fetch_bundle(url: str, sha256: str, max_bytes: int, policy: FetchPolicy) -> bytes:
    """The bytes at `url`, checked against every rule in the module doc."""
    check_url(url, policy)
    ssl_context = ssl.create_default_context(cafile=policy.ca_file)
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(policy), ssl=ssl_context, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=policy.timeout_s)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            if resp.status != 200:
                log.warning("bundle_url %s answered HTTP %d", url, resp.status)
                what = (
                    "a redirect (not followed: give the final URL)"
                    if 300 <= resp.status < 400
                    else "an error"
                )
                raise FetchRefused("BundleDownloadFailed", f"bundle_url answered with {what}, not the bundle")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise FetchRefused(
                    "BundleTooLarge", f"bundle_url is larger than this edge's {max_bytes} bytes"
                )
            data = bytearray()
            async for chunk in resp.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchRefused(
                        "BundleTooLarge", f"bundle_url is larger than this edge's {max_bytes} bytes"
                    )
    except FetchRefused:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        log.warning("bundle_url %s: download failed: %r", url, exc)
        raise FetchRefused(
            "BundleDownloadFailed", "bundle_url could not be downloaded (connection, TLS or timeout)"
        ) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise FetchRefused("Sha256Mismatch", "the bytes at bundle_url do not hash to the push's sha256")
    return bytes(data)
