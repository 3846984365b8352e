"""Where a webhook may be sent (SSRF guard): pure checks on URLs and addresses, and the
DNS look-up whose checked answer the delivery then connects to (no DNS rebinding).

Outside development a target must be ``https`` and resolve only to public addresses:
private, loopback, link-local, shared, reserved and multicast ones are refused, also when
wrapped in IPv4-mapped, 6to4 or NAT64 addresses. In development, ``http`` is allowed for
loopback targets (a receiver on the developer's machine) and any address may be used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """The URL or the addresses it resolves to may not receive webhooks; says why."""


@dataclass(frozen=True)
class Target:
    """A checked target: the URL as given, and the addresses that may be connected to."""

    url: httpx.URL
    addresses: tuple[IPAddress, ...]


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """A globally routable unicast address (and whatever it wraps is one too)."""
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def address_allowed(ip: IPAddress, *, development: bool) -> bool:
    """May a webhook connect to ``ip``? Any address in development, public ones otherwise."""
    return development or is_public(ip)


def check_url(url: str, *, development: bool) -> httpx.URL:
    """The URL's shape: https (http only to a loopback host in development), a host, no
    credentials in it; raises TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"地址过长 / the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TargetRefused(f"地址无效 / not a valid URL: {exc}") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise TargetRefused("须为 https 地址 / the target must be an https URL")
    if parsed.userinfo:
        raise TargetRefused("地址中不能包含用户名或密码 / no credentials in the URL")
    if parsed.fragment:
        raise TargetRefused("地址中不能包含片段 / no fragment in the URL")
    if parsed.scheme == "http" and not (development and _names_loopback(parsed.host)):
        raise TargetRefused(
            "须为 https 地址（仅开发模式下允许本机 http）/ the target must be https "
            "(http only to loopback in development)"
        )
    return parsed


def check_addresses(
    url: httpx.URL, addresses: list[IPAddress], *, development: bool
) -> tuple[IPAddress, ...]:
    """The addresses that may be connected to; raises TargetRefused when none may, or when
    a plain-http target (development) resolves to anything but loopback."""
    if not addresses:
        raise TargetRefused(f"无法解析主机 / {url.host} does not resolve")
    if url.scheme == "http":
        # Development only (check_url): the name must lead to this machine and nowhere else.
        if not all(ip.is_loopback for ip in addresses):
            raise TargetRefused("http 仅允许本机地址 / http only to loopback addresses")
        return tuple(addresses)
    refused = [ip for ip in addresses if not address_allowed(ip, development=development)]
    if refused:
        # A name with any private answer is refused outright, not just trimmed: its owner
        # points it inside networks it has no business reaching.
        raise TargetRefused(
            f"目标地址为内网、回环或保留地址 / {url.host} resolves to a private, loopback, "
            f"link-local or reserved address ({refused[0]})"
        )
    return tuple(addresses)


async def resolve(host: str, port: int, *, timeout_s: float) -> list[IPAddress]:
    """Every address ``host`` resolves to now (an IP literal is its own answer)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s
        )
    except (OSError, TimeoutError):
        return []
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


async def check_target(url: str, *, development: bool, timeout_s: float = 5.0) -> Target:
    """Check a URL and what its host resolves to now; raises TargetRefused."""
    parsed = check_url(url, development=development)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port, timeout_s=timeout_s)
    return Target(parsed, check_addresses(parsed, addresses, development=development))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _names_loopback(host: str) -> bool:
    literal = _literal(host)
    if literal is not None:
        return literal.is_loopback
    return host.lower() == "localhost" or host.lower().endswith(".localhost")
