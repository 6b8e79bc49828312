"""What the tracker keeps of a visitor's address: a network, never the address."""

import ipaddress
import random

import pytest

from tracking.visitor import referring_channel, traffic_source, truncate_ip


def _by_ipaddress(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    (" 10.1.2.3 ", "10.1.2.0/24"),
    ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::/48"),
    ("2001:db8:0:1:2:3:4:5", "2001:db8::/48"),
    ("::ffff:198.51.100.7", "::/48"),
    ("fe80::1%eth0", "fe80::/48"),  # scoped: the ipaddress way
    ("256.1.1.1", None), ("01.2.3.4", None), ("1.2.3", None), ("not an ip", None),
    ("", None), (None, None),
])
def test_an_address_becomes_its_network(address, network):
    assert truncate_ip(address) == network


def test_the_fast_path_agrees_with_the_ipaddress_module():
    rng = random.Random(5)
    addresses = [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(2000)]
    addresses += [":".join(f"{rng.randrange(65536) if rng.random() < 0.6 else 0:x}"
                           for _ in range(8)) for _ in range(2000)]
    assert [truncate_ip(a) for a in addresses] == [_by_ipaddress(a) for a in addresses]


@pytest.mark.parametrize(("host", "channel"), [
    ("www.google.com", ("google", "organic")), ("www.google.co.uk", ("google", "organic")),
    ("search.brave.com", ("brave", "organic")), ("duckduckgo.com", ("duckduckgo", "organic")),
    ("l.facebook.com", ("facebook", "social")), ("t.co", ("twitter", "social")),
    ("www.reddit.com", ("reddit", "social")), ("m.youtube.com", ("youtube", "social")),
    ("www.example.com", ("example.com", "referral")),
    ("mail.yahoo.com", ("mail.yahoo.com", "referral")),  # webmail, not a search
    ("news.google.com", ("news.google.com", "referral")),
])
def test_a_referring_site_is_named_as_ga4_names_its_channel(host, channel):
    """One name per source whether it came tagged (utm_source=google) or by its referrer
    (www.google.com): search engines are organic, social networks social."""
    assert referring_channel(host) == channel
    assert traffic_source({}, f"https://{host}/some/page", "shop.example")["source"] == channel[0]
