"""The run API's certificates: which hosts they cover, when the serving certificate is renewed (with the
same CA) and when the CA itself is — pure, on certificates made for the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from tfcontroller.terraform.run_api_tls import (
    CA_CERT,
    CA_KEY,
    TLS_CERT,
    TLS_KEY,
    _material,
    make_ca,
    make_serving,
    renewal_due,
    serving_hosts,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)
HOSTS = serving_hosts("ops", None)


def test_hosts_cover_loopback_the_service_and_the_advertised_host() -> None:
    assert HOSTS == ["127.0.0.1", "localhost", "tfcontroller-runs.ops.svc", "tfcontroller-runs.ops.svc.cluster.local"]
    assert serving_hosts("ops", "https://runs.example.test:8443/")[-1] == "runs.example.test"
    assert serving_hosts("ops", "https://10.0.0.7")[-1] == "10.0.0.7"
    assert serving_hosts("ops", "https://localhost:9000") == HOSTS


def test_a_fresh_certificate_covers_its_hosts_as_names_and_addresses() -> None:
    ca, ca_key = make_ca(NOW)
    cert_pem, _ = make_serving(ca, ca_key, [*HOSTS, "10.0.0.7"], NOW)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.0.7"]
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert renewal_due(cert_pem, ca, [*HOSTS, "10.0.0.7"], NOW) is None


def test_renewal_is_due_near_expiry_for_a_new_host_or_another_ca() -> None:
    ca, ca_key = make_ca(NOW)
    cert, _ = make_serving(ca, ca_key, HOSTS, NOW)
    assert renewal_due(cert, ca, HOSTS, NOW + timedelta(days=334)) is None
    assert "expires" in (renewal_due(cert, ca, HOSTS, NOW + timedelta(days=336)) or "")
    assert renewal_due(cert, ca, [*HOSTS, "runs.example.test"], NOW) == "does not cover runs.example.test"
    other_ca, _ = make_ca(NOW)
    assert renewal_due(cert, other_ca, HOSTS, NOW) == "not issued by the stored CA"
    assert renewal_due("garbage", ca, HOSTS, NOW) == "unreadable certificate"


def test_the_material_keeps_the_ca_and_renews_only_what_is_due() -> None:
    first, why = _material({}, HOSTS, NOW)
    assert why == "new CA" and set(first) == {CA_CERT, CA_KEY, TLS_CERT, TLS_KEY}
    assert _material(first, HOSTS, NOW) == (first, None)
    later = NOW + timedelta(days=350)
    renewed, why = _material(first, HOSTS, later)
    assert why is not None and why.startswith("serving certificate renewed (expires")
    assert (renewed[CA_CERT], renewed[CA_KEY]) == (first[CA_CERT], first[CA_KEY])
    assert renewed[TLS_CERT] != first[TLS_CERT]
    moved, why = _material(first, [*HOSTS, "runs.example.test"], NOW)
    assert moved[CA_CERT] == first[CA_CERT] and why == "serving certificate renewed (does not cover runs.example.test)"
    ca_expiring, why = _material(first, HOSTS, NOW + timedelta(days=3640))
    assert why == "CA expiring, new CA" and ca_expiring[CA_CERT] != first[CA_CERT]
