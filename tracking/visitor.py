"""What the tracker reads from a request: the signed visitor cookie, privacy signals, bots,
device class, traffic source and a truncated client network."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import os
import random
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

# Crawlers, link unfurlers, monitors and HTTP libraries. A browser (headless or not) is not.
BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrape|facebookexternalhit|embedly|quora link preview"
    r"|bingpreview|mediapartners|adsbot|feedfetcher|pingdom|uptimerobot|statuscake"
    r"|python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|okhttp"
    r"|java/|libwww|httpclient|headlesschrome.*lighthouse|prometheus/",
    re.IGNORECASE,
)
MOBILE = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry", re.I)
TABLET = re.compile(r"ipad|tablet|android(?!.*mobile)|kindle|silk", re.I)


class _Urandom:
    """os.urandom's bytes, read 4 KiB at a time and handed out in order: one getrandom()
    system call per 400 ids instead of one per id (18 µs each on the 2-core VM the
    benchmarks run on, where a new visitor needs three). Each byte is handed out once; a
    forked worker drops what its parent read, so no two processes share a byte."""

    SIZE = 4096

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._buf, self._pos, self._pid = b"", 0, os.getpid()

    def take(self, n: int) -> bytes:
        # A forked child (by os.fork or from C, which runs no after-fork hook) starts
        # afresh: a new lock, none of its parent's bytes.
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            if self._pos + n > len(self._buf):
                self._buf, self._pos = os.urandom(self.SIZE), 0
            self._pos += n
            return self._buf[self._pos - n:self._pos]


_urandom = _Urandom()


def new_id() -> str:
    """32 hex digits, time-ordered like a UUIDv7: 48 bits of milliseconds, then 80 random
    bits (from os.urandom: visitor, journey and session ids reach cookies). Ids made at
    about the same time sort together, so the B-tree indexes on them (event ids, journey
    ids) grow at their right edge instead of dirtying a random page per insert: a batch
    writes a few index pages, not one per event."""
    return f"{time.time_ns() // 1_000_000:012x}{_urandom.take(10).hex()}"


# The event ids' own generator: seeded from os.urandom, and again in every forked worker;
# no seed() a host app or a test plugin gives the global ``random`` reaches it.
_event_ids = random.Random()
os.register_at_fork(after_in_child=_event_ids.seed)


def new_event_id() -> str:
    """An event's id: laid out as ``new_id``, its 80 bits from ``_event_ids`` (a Mersenne
    Twister), not a getrandom() system call per event. It only has to be unique — it makes a
    replayed batch a no-op — while visitor, journey and session ids, which reach cookies,
    stay from os.urandom. (``Event`` makes its own from its time: format_event_id.)"""
    return format_event_id(time.time(), event_id_bits())


# An event id's 80 random bits (Event draws them when it is made, and formats them later).
event_id_bits = functools.partial(_event_ids.getrandbits, 80)


def format_event_id(at: float, bits: int) -> str:
    """The id of an event at ``at`` (seconds since the epoch; before 1970 reads as 1970) with
    these random bits."""
    return f"{max(int(at * 1000), 0):012x}{bits:020x}"


@dataclass(slots=True)
class VisitorState:
    """What the visitor cookie carries (signed, so it cannot be forged)."""

    v: str  # visitor id
    j: str  # current journey id
    s: str  # current session id
    r: int  # furthest stage rank of the journey (0: none yet)
    t0: float  # journey start, epoch seconds
    ts: float  # last touchpoint, epoch seconds
    c: str | None = None  # customer id once identified
    p: float | None = None  # start of the visitor's previous journey (distinct-visitor counts)


_SAFE = re.compile(r"[A-Za-z0-9_.:@-]*")
_VERSION = "1"


class VisitorCookie:
    """The visitor cookie's format: ``1~v~j~s~r~t0~ts~c~p~signature``, times in milliseconds,
    signed with keyed BLAKE2b (128 bits) under a key derived from SECRET_KEY.

    It is read on every request, so it is plain text and one keyed hash: a JSON + zlib +
    itsdangerous round trip cost ten times as much.
    """

    def __init__(self, secret: str | bytes, salt: str = "journey.visitor",
                 fallbacks: Iterable[str | bytes] = ()):
        self._key = self._derive(secret, salt)
        # Flask's SECRET_KEY_FALLBACKS: a cookie signed with an earlier key still reads
        # (as Rekeyed, for the tracker to send it again signed with the current key).
        self._old_keys = tuple(self._derive(old, salt) for old in fallbacks if old)
        # A browser sends the same cookie until the store re-sends it (the journey changed,
        # or its time is 30 s old): verify and parse each value once. Keyed by the whole
        # signed string, so only a value that verified (or failed) before is answered from
        # here; bounded, per cookie key.
        self._parse = functools.lru_cache(maxsize=VERIFIED_CACHE)(self._verify)

    @staticmethod
    def _derive(secret: str | bytes, salt: str) -> bytes:
        secret = secret.encode() if isinstance(secret, str) else secret
        return hmac.new(secret, salt.encode(), hashlib.sha256).digest()

    def _sign(self, body: str, key: bytes | None = None) -> str:
        # BLAKE2b in its keyed mode is a MAC by design (RFC 7693), built into Python, and
        # needs no OpenSSL digest lookup per call.
        digest = hashlib.blake2b(body.encode(), key=key or self._key, digest_size=16).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def dumps(self, state: VisitorState) -> str:
        c = state.c or ""
        if not _SAFE.fullmatch(c):
            c = quote(c, safe="")
        body = (f"{_VERSION}~{state.v}~{state.j}~{state.s}~{state.r}~{round(state.t0 * 1000)}"
                f"~{round(state.ts * 1000)}~{c}~"
                f"{'' if state.p is None else round(state.p * 1000)}")
        return f"{body}~{self._sign(body)}"

    def loads(self, raw: str | None) -> VisitorState | None:
        """The state, or None for a missing, malformed, forged or foreign cookie. A new
        object each call: the request changes it."""
        fields = self.fields(raw)
        return None if fields is None else VisitorState(*fields)

    def fields(self, raw: str | None) -> tuple | None:
        """VisitorState's fields, in its order (a tuple shared by every request that sent
        this value: read it, never change it), or None as ``loads``."""
        # ASCII only: the signature is compared as text, which compare_digest refuses for
        # any other character (a raw byte in the header, a value tossed from a subdomain)
        if not raw or len(raw) > 1024 or not raw.isascii():
            return None
        return self._parse(raw)

    def _verify(self, raw: str) -> tuple | None:
        body, _, signature = raw.rpartition("~")
        found = tuple
        if not hmac.compare_digest(signature, self._sign(body)):
            if not any(hmac.compare_digest(signature, self._sign(body, old))
                       for old in self._old_keys):
                return None
            found = Rekeyed
        parts = body.split("~")
        if len(parts) != 9 or parts[0] != _VERSION:
            return None
        try:  # VisitorState's fields, in order
            return found((parts[1], parts[2], parts[3], int(parts[4]), int(parts[5]) / 1000,
                          int(parts[6]) / 1000, unquote(parts[7]) or None,
                          int(parts[8]) / 1000 if parts[8] else None))
        except ValueError:
            return None


class Rekeyed(tuple):
    """A cookie's fields signed with one of SECRET_KEY_FALLBACKS: good, and to be sent
    again under the current key."""

    __slots__ = ()


# Verified cookie values a worker remembers (about 400 bytes each).
VERIFIED_CACHE = 1024


def is_bot(user_agent: str) -> bool:
    if len(user_agent) > _UA_CACHED:
        return bool(BOT_PATTERN.search(user_agent))
    return _is_bot(user_agent)


# A few browser builds make most traffic: cache the verdicts, for bounded user agents only.
_UA_CACHED = 400


@functools.lru_cache(maxsize=512)
def _is_bot(user_agent: str) -> bool:
    return not user_agent or bool(BOT_PATTERN.search(user_agent))


def opted_out(environ) -> bool:
    """Global Privacy Control or Do Not Track, from the WSGI environ (or any mapping with
    those keys)."""
    return environ.get("HTTP_SEC_GPC") == "1" or environ.get("HTTP_DNT") == "1"


def device_class(user_agent: str) -> str:
    if len(user_agent) > _UA_CACHED:
        return _device_class.__wrapped__(user_agent)
    return _device_class(user_agent)


@functools.lru_cache(maxsize=512)
def _device_class(user_agent: str) -> str:
    if TABLET.search(user_agent) and not MOBILE.search(user_agent):
        return "tablet"
    if MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def referrer_host(referrer: str | None, own_host: str) -> str | None:
    if not referrer:
        return None
    try:
        host = (urlsplit(referrer).hostname or "").replace("\x00", "").lower()
    except ValueError:  # not a URL ("http://[x/"): a header anyone can send
        return None
    if not host or host == own_host.split(":")[0].lower():
        return None
    return host[:200]


def traffic_source(args, referrer: str | None, own_host: str) -> dict:
    """utm_* parameters win; else the referring site, named as GA4 names it (a search
    engine is ``google / organic``, a social network ``reddit / social``, any other site
    its host without ``www.``, ``referral``); else direct."""
    ref = referrer_host(referrer, own_host)
    source = _param(args, "utm_source")
    if source:
        return {"source": source, "medium": _param(args, "utm_medium"),
                "campaign": _param(args, "utm_campaign"), "referrer": ref or ""}
    if ref:
        source, medium = referring_channel(ref)
        return {"source": source, "medium": medium, "campaign": "", "referrer": ref}
    return {"source": "direct", "medium": "none", "campaign": "", "referrer": ""}


# Search engines by the first label of their host (google.com, google.co.uk, search.brave.com)
_SEARCH_ENGINES = frozenset({"google", "bing", "duckduckgo", "yahoo", "baidu", "yandex",
                             "ecosia", "qwant", "startpage", "brave", "naver", "seznam"})
# Social networks by their domain (and the link wrappers they send visitors through)
_SOCIAL = {"facebook.com": "facebook", "fb.com": "facebook", "instagram.com": "instagram",
           "t.co": "twitter", "twitter.com": "twitter", "x.com": "twitter",
           "linkedin.com": "linkedin", "lnkd.in": "linkedin", "reddit.com": "reddit",
           "pinterest.com": "pinterest", "pin.it": "pinterest", "tiktok.com": "tiktok",
           "youtube.com": "youtube", "youtu.be": "youtube", "threads.net": "threads",
           "bsky.app": "bluesky", "mastodon.social": "mastodon"}
_HOST_PREFIXES = ("www.", "m.", "l.", "lm.", "mobile.", "search.", "out.", "old.", "new.")


def referring_channel(host: str) -> tuple[str, str]:
    """(source, medium) for a referring host: a search engine's or social network's name with
    ``organic`` or ``social``, else the host without ``www.`` with ``referral``."""
    bare = host.lower()
    while bare.startswith(_HOST_PREFIXES) and bare.count(".") > 1:
        bare = bare.split(".", 1)[1]
    if bare in _SOCIAL:
        return _SOCIAL[bare], "social"
    first = bare.split(".", 1)[0]
    if first in _SEARCH_ENGINES and "." in bare:
        return first, "organic"
    return bare, "referral"


def _param(args, name: str) -> str:
    """A query parameter as a journey column takes it: no NUL (anyone can send one, and
    PostgreSQL's text cannot hold it), trimmed, at most 200 characters."""
    return (args.get(name) or "").replace("\x00", "").strip()[:200]


def truncate_ip(address: str | None) -> str | None:
    """Never the whole address: the /24 network for IPv4, /48 for IPv6.

    The C socket functions parse and print the address (a new visitor's every landing
    pays this; the ipaddress module took 30 µs of it under load); anything they do not take
    (a scoped IPv6 address, say) goes the ipaddress way."""
    if not address:
        return None
    address = address.strip()
    try:
        if ":" not in address:
            packed = socket.inet_pton(socket.AF_INET, address)
            return f"{socket.inet_ntop(socket.AF_INET, packed[:3] + bytes(1))}/24"
        packed = socket.inet_pton(socket.AF_INET6, address)
        return f"{socket.inet_ntop(socket.AF_INET6, packed[:6] + bytes(10))}/48"
    except (OSError, ValueError):
        pass
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
