"""Client addresses: found behind trusted proxies only, and cut to their network before any use."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.network import InvalidAddress, anonymize_ip, client_address, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.0/8, 2001:db8:ffff::/48")
CLIENT = "203.0.113.77"
PROXY = "10.1.2.3"


# -- anonymize_ip ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "anonymized"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.0", "203.0.113.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("2001:db8:abcd:1234::1", "2001:db8:abcd::"),
        ("2001:0DB8:ABCD:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::"),
        ("fe80::1%eth0", "fe80::"),
    ],
)
def test_ipv4_keeps_its_slash_24_and_ipv6_its_slash_48(address: str, anonymized: str) -> None:
    assert anonymize_ip(address) == anonymized


def test_an_ipv4_mapped_ipv6_address_is_anonymized_as_ipv4() -> None:
    assert anonymize_ip("::ffff:198.51.100.42") == "198.51.100.0"
    assert anonymize_ip("::ffff:c633:642a") == "198.51.100.0"


def test_a_6to4_address_keeps_no_more_of_its_embedded_ipv4_address_than_ipv4_does() -> None:
    # 2002:cb00:714d:: embeds 203.0.113.77; a plain /48 would keep all of it.
    assert anonymize_ip("2002:cb00:714d:1::1") == "2002:cb00:7100::"


@pytest.mark.parametrize(
    "address",
    ["", "unknown", "203.0.113", "203.0.113.256", " 203.0.113.7", "203.0.113.7:443", "[2001:db8::1]", "x" * 500],
)
def test_anything_but_an_ip_address_is_rejected_as_a_domain_error(address: str) -> None:
    with pytest.raises(InvalidAddress, match="not an IP address") as raised:
        anonymize_ip(address)
    assert isinstance(raised.value, DomainError)
    assert len(str(raised.value)) < 100  # a long header value is not copied whole into logs


@given(st.ip_addresses())
def test_anonymizing_keeps_the_address_in_its_network_and_twice_changes_nothing(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    anonymized = anonymize_ip(str(address))
    assert anonymize_ip(anonymized) == anonymized
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    kept = 24 if address.version == 4 else (40 if address.sixtofour is not None else 48)
    assert ipaddress.ip_address(anonymized) == ipaddress.ip_network(f"{address}/{kept}", strict=False).network_address


# -- client_address ------------------------------------------------------------


def test_without_a_peer_there_is_no_client_address() -> None:
    assert client_address(None, CLIENT, PROXIES) is None


def test_a_peer_that_is_not_an_ip_address_gives_no_client_address() -> None:
    assert client_address("testclient", CLIENT, PROXIES) is None


def test_with_no_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address(CLIENT, "198.51.100.1", ()) == CLIENT
    assert client_address(PROXY, "198.51.100.1", ()) == PROXY


def test_an_untrusted_peer_cannot_choose_its_address_through_the_header() -> None:
    assert client_address(CLIENT, "198.51.100.1, 10.9.9.9", PROXIES) == CLIENT


def test_a_trusted_proxy_peer_without_a_header_is_the_client() -> None:
    assert client_address(PROXY, None, PROXIES) == PROXY
    assert client_address(PROXY, "", PROXIES) == PROXY


def test_behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() -> None:
    assert client_address(PROXY, CLIENT, PROXIES) == CLIENT
    assert client_address(PROXY, f"198.51.100.1,{CLIENT}", PROXIES) == CLIENT


def test_a_chain_of_trusted_proxies_is_skipped_from_the_right() -> None:
    header = f"{CLIENT}, 10.0.0.7, 2001:db8:ffff::2, 10.0.0.8"
    assert client_address("2001:db8:ffff::1", header, PROXIES) == CLIENT


def test_spoofed_left_most_entries_are_never_read() -> None:
    spoofed = "10.0.0.1, 127.0.0.1, 198.51.100.1"  # what the client itself sent
    assert client_address(PROXY, f"{spoofed}, {CLIENT}", PROXIES) == CLIENT


def test_when_every_entry_is_a_trusted_proxy_the_left_most_is_the_furthest_known_hop() -> None:
    assert client_address(PROXY, "10.0.0.5, 10.0.0.6", PROXIES) == "10.0.0.5"


def test_an_unparsable_right_most_entry_leaves_the_peer_as_the_client() -> None:
    assert client_address(PROXY, f"{CLIENT}, unknown", PROXIES) == PROXY
    assert client_address(PROXY, "not an address at all", PROXIES) == PROXY


def test_garbage_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert client_address(PROXY, f"{CLIENT}, {CLIENT}:443, 10.0.0.6", PROXIES) == "10.0.0.6"
    assert client_address(PROXY, f"{CLIENT},, 10.0.0.6", PROXIES) == "10.0.0.6"


def test_mapped_addresses_are_matched_and_returned_as_ipv4() -> None:
    assert client_address(f"::ffff:{PROXY}", f"::ffff:{CLIENT}", PROXIES) == CLIENT


def test_the_full_address_is_returned_for_the_caller_to_anonymize() -> None:
    assert client_address(PROXY, " 2001:DB8:1:2::77 ", PROXIES) == "2001:db8:1:2::77"
    assert client_address("fe80::1:77%eth0", None, PROXIES) == "fe80::1:77"  # the zone names our interface, not them


# -- parse_trusted_proxies ------------------------------------------------------


def test_trusted_proxies_are_networks_and_bare_addresses() -> None:
    assert parse_trusted_proxies(" 10.0.0.0/8, 127.0.0.1 ,::1,") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize("value", ["", " ", " , "])
def test_an_empty_setting_trusts_no_proxy(value: str) -> None:
    assert parse_trusted_proxies(value) == ()


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "10.0.0.1/8", "10.0.0.0/8/8", "2001:db8::/129"])
def test_a_bad_trusted_proxy_entry_is_named_in_the_error(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"trusted proxy '{bad}' is not an IP address or network")):
        parse_trusted_proxies(f"127.0.0.1, {bad}, ::1")
