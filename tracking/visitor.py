"""What the tracker reads from a request: the signed visitor cookie, privacy signals, bots,
device class, traffic source and a truncated client network."""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

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


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
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

    def dumps(self, serializer: URLSafeSerializer) -> str:
        return serializer.dumps(asdict(self))


def load_state(serializer: URLSafeSerializer, raw: str | None) -> VisitorState | None:
    if not raw or len(raw) > 1024:
        return None
    try:
        data = serializer.loads(raw)
        return VisitorState(
            v=str(data["v"]), j=str(data["j"]), s=str(data["s"]), r=int(data["r"]),
            t0=float(data["t0"]), ts=float(data["ts"]), c=data.get("c"),
            p=float(data["p"]) if data.get("p") is not None else None,
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(BOT_PATTERN.search(user_agent))


def opted_out(headers) -> bool:
    return headers.get("Sec-GPC") == "1" or headers.get("DNT") == "1"


def device_class(user_agent: str) -> str:
    if TABLET.search(user_agent) and not MOBILE.search(user_agent):
        return "tablet"
    if MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def referrer_host(referrer: str | None, own_host: str) -> str | None:
    if not referrer:
        return None
    host = (urlsplit(referrer).hostname or "").lower()
    if not host or host == own_host.split(":")[0].lower():
        return None
    return host[:200]


def traffic_source(args, referrer: str | None, own_host: str) -> dict:
    """utm_* parameters win; else the referring site; else direct."""
    ref = referrer_host(referrer, own_host)
    source = (args.get("utm_source") or "").strip()[:200]
    if source:
        return {"source": source, "medium": (args.get("utm_medium") or "").strip()[:200],
                "campaign": (args.get("utm_campaign") or "").strip()[:200], "referrer": ref or ""}
    if ref:
        return {"source": ref, "medium": "referral", "campaign": "", "referrer": ref}
    return {"source": "direct", "medium": "none", "campaign": "", "referrer": ""}


def truncate_ip(address: str | None) -> str | None:
    """Never the whole address: the /24 network for IPv4, /48 for IPv6."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
