"""Accounts by e-mail over the API, against a real SMTP server: verification codes, registration with a
code, binding an address, password reset by link; and the SMTP transport itself."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from app.extensions import db
from app.models import User
from app.options import get_option, options
from app.services import accounts, email_verification, mail
from tests.factories import make_user
from tests.fixtures.mail import SMTP_ACCOUNT

PASSWORD = "correct horse 1"


@pytest.fixture
def verification_on(app, mail_settings):
    options().update({"EmailVerificationEnabled": True})
    return mail_settings


def _register(client, **body):
    payload = {"username": "newbie", "password": PASSWORD}
    payload.update(body)
    return client.post("/api/user/register", json=payload)


def _code_for(client, box, address: str) -> str:
    response = client.get("/api/verification", query_string={"email": address})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["success"] is True
    return box.last_to(address).code()


# -- the mail itself -------------------------------------------------------------------------------------
def test_verification_mail_is_real_smtp_with_login_and_headers(client, mail_settings):
    response = client.get("/api/verification?email=new@example.com")
    assert response.get_json()["success"] is True
    sent = mail_settings.last_to("new@example.com")
    assert mail_settings.logins == [SMTP_ACCOUNT]  # the account logged in with SMTPToken
    assert sent.sender == "noreply@sluice.test"
    assert sent.message["From"] == "Sluice <noreply@sluice.test>"
    assert sent.message["Message-ID"].endswith("@sluice.test>") and sent.message["Date"]
    assert "verification" in sent.message["Subject"].lower()
    assert sent.code() == email_verification.issue_code("new@example.com")


def test_wrong_smtp_password_is_a_clear_error(client, mail_settings):
    options().update({"SMTPToken": "not-the-password"})
    body = client.get("/api/verification?email=new@example.com")
    assert body.status_code == 502
    assert "refused the SMTP account or password" in body.get_json()["message"]
    assert "not-the-password" not in body.get_data(as_text=True)
    assert mail_settings.messages == []


def test_smtp_down_is_a_clear_error_and_nothing_changes(client, h, mail_settings):
    from tests.fixtures.services import free_port

    options().update({"SMTPPort": free_port()})  # nothing listens there
    response = client.get("/api/verification?email=new@example.com")
    body = h.envelope_error(response, 502)
    assert "could not reach the mail server" in body["message"]
    before = h.counts()
    reset = client.get("/api/reset_password?email=nobody@example.com")
    h.envelope_error(reset, 502)
    assert h.counts() == before


def test_mail_not_configured_is_503(client, h, app):
    h.envelope_error(client.get("/api/verification?email=new@example.com"), 503)
    assert not mail.is_configured()


def test_clear_text_login_is_refused_to_a_remote_server(app, monkeypatch):
    """No STARTTLS offered and the server is not on this machine: the password is not sent."""
    sent = {}

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent["host"] = host

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ehlo(self):
            pass

        def has_extn(self, name):
            return False

        def login(self, *args):
            sent["login"] = args

        def send_message(self, message):
            sent["message"] = message

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    options().update({"SMTPServer": "smtp.example.com", "SMTPAccount": "a@example.com", "SMTPToken": "pw"})
    with pytest.raises(mail.MailDeliveryFailed, match="no TLS"):
        mail.send_mail("b@example.com", "s", "t")
    assert "login" not in sent and "message" not in sent


# -- verification codes ----------------------------------------------------------------------------------
def test_verification_validates_the_address(client, h, mail_settings):
    for bad in ("", "not-an-email", "a@b", "x <y@example.com>"):
        h.envelope_error(client.get("/api/verification", query_string={"email": bad}), 400)
    assert mail_settings.messages == []


def test_verification_refuses_a_taken_address(client, h, mail_settings):
    make_user("owner", email="Taken@Example.com")
    body = h.envelope_error(client.get("/api/verification?email=taken@example.com"), 409)
    assert "already in use" in body["message"]
    assert mail_settings.messages == []


def test_domain_whitelist(client, h, mail_settings):
    options().update({"EmailDomainRestrictionEnabled": True, "EmailDomainWhitelist": "example.com\ncorp.test"})
    body = h.envelope_error(client.get("/api/verification?email=a@elsewhere.org"), 403)
    assert "whitelist" in body["message"]
    assert client.get("/api/verification?email=a@corp.test").get_json()["success"] is True
    assert mail_settings.last_to("a@corp.test")


def test_whitelist_switch_needs_domains_and_valid_ones(app):
    from app.errors import ValidationError

    with pytest.raises(ValidationError, match="EmailDomainWhitelist"):
        options().update({"EmailDomainRestrictionEnabled": True, "EmailDomainWhitelist": ""})
    with pytest.raises(ValidationError, match="lower-case domain"):
        options().update({"EmailDomainWhitelist": "Example.COM"})
    with pytest.raises(ValidationError, match="SMTPServer"):
        options().update({"EmailVerificationEnabled": True})
    assert get_option("EmailVerificationEnabled") is False


def test_codes_live_ten_to_fifteen_minutes(app, monkeypatch):
    now = time.time()
    start = (now // email_verification.CODE_WINDOW_SECONDS) * email_verification.CODE_WINDOW_SECONDS
    monkeypatch.setattr(email_verification.time, "time", lambda: start + 1)
    code = email_verification.issue_code("a@example.com")
    for later, valid in ((599, True), (899 - 2, True), (900, False), (3600, False)):
        monkeypatch.setattr(email_verification.time, "time", lambda later=later: start + 1 + later)
        assert email_verification.code_matches("a@example.com", code) is valid, later
    assert not email_verification.code_matches("b@example.com", code)


# -- registration ----------------------------------------------------------------------------------------
def test_register_with_a_mailed_code_end_to_end(client, h, verification_on):
    code = _code_for(client, verification_on, "newbie@example.com")
    response = _register(client, email="newbie@example.com", verification_code=code)
    assert response.status_code == 200, response.get_json()
    user = h.user_named("newbie")
    assert user.email == "newbie@example.com"
    login = client.post("/api/user/login", json={"username": "newbie@example.com", "password": PASSWORD})
    assert login.get_json()["success"] is True


def test_register_needs_email_and_code_when_verification_is_on(client, h, verification_on):
    before = h.counts()
    assert "e-mail address is required" in h.envelope_error(_register(client), 400)["message"]
    body = h.envelope_error(_register(client, email="newbie@example.com"), 400)
    assert "verification code is required" in body["message"]
    assert h.counts() == before


def test_register_refuses_wrong_expired_and_other_address_codes(client, h, verification_on, monkeypatch):
    code = _code_for(client, verification_on, "newbie@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    before = h.counts()
    assert "wrong or has expired" in h.envelope_error(
        _register(client, email="newbie@example.com", verification_code=wrong), 400)["message"]
    # the code of another address
    other = _code_for(client, verification_on, "other@example.com")
    h.envelope_error(_register(client, email="newbie@example.com", verification_code=other), 400)
    h.envelope_error(_register(client, email="other@example.com", verification_code=code), 400)
    # expired: twenty minutes later
    real = time.time
    monkeypatch.setattr(email_verification.time, "time", lambda: real() + 20 * 60)
    h.envelope_error(_register(client, email="newbie@example.com", verification_code=code), 400)
    assert h.counts() == before


def test_register_refuses_a_taken_address_even_with_its_code(client, h, verification_on):
    code = _code_for(client, verification_on, "shared@example.com")
    make_user("first", email="shared@example.com")
    h.envelope_error(_register(client, email="shared@example.com", verification_code=code), 409)


def test_register_enforces_the_whitelist(client, h, verification_on):
    code = _code_for(client, verification_on, "newbie@elsewhere.org")
    options().update({"EmailDomainRestrictionEnabled": True, "EmailDomainWhitelist": "example.com"})
    h.envelope_error(_register(client, email="newbie@elsewhere.org", verification_code=code), 403)
    assert h.user_named("newbie") is None


@pytest.mark.parametrize("app_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_CODE_ATTEMPTS": "3 per hour"}])
def test_guessing_codes_is_stopped_per_address(client, h, verification_on):
    code = _code_for(client, verification_on, "newbie@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(3):
        h.envelope_error(_register(client, email="newbie@example.com", verification_code=wrong), 400)
    # now even the right code is refused until the window ends
    h.envelope_error(_register(client, email="newbie@example.com", verification_code=code), 429)
    assert h.user_named("newbie") is None


@pytest.mark.parametrize("app_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_EMAIL": "2 per hour"}])
def test_sending_codes_is_rate_limited_per_recipient(app, mail_settings):
    def client_at(address: str):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    for n in range(2):
        assert client_at(f"10.0.0.{n + 1}").get("/api/verification?email=victim@example.com").status_code == 200
    response = client_at("10.0.0.9").get("/api/verification?email=victim@example.com")
    assert response.status_code == 429 and response.get_json()["success"] is False
    assert len(mail_settings.messages) == 2


# -- binding ---------------------------------------------------------------------------------------------
def test_bind_email_one_api_get_and_new_api_post(app, user, user_client, mail_settings):
    code = _code_for(user_client, mail_settings, "alice@example.com")
    response = user_client.get("/api/oauth/email/bind", query_string={"email": "alice@example.com", "code": code})
    assert response.get_json() == {"success": True, "message": "the e-mail address has been bound",
                                   "data": {"email": "alice@example.com"}}
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "alice@example.com"
    code = _code_for(user_client, mail_settings, "alice2@example.com")
    response = user_client.post("/api/oauth/email/bind", json={"email": "alice2@example.com", "code": code})
    assert response.get_json()["success"] is True
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "alice2@example.com"


def test_bind_refuses_wrong_code_taken_address_and_anonymous(client, h, user, user_client, mail_settings):
    code = _code_for(user_client, mail_settings, "alice@example.com")
    h.envelope_error(user_client.get("/api/oauth/email/bind?email=alice@example.com&code=000000"
                                     if code != "000000" else "/api/oauth/email/bind?email=alice@example.com&code=1"),
                     400)
    h.envelope_error(client.get(f"/api/oauth/email/bind?email=alice@example.com&code={code}"), 401)
    make_user("bob", email="alice@example.com")
    h.envelope_error(user_client.get(f"/api/oauth/email/bind?email=alice@example.com&code={code}"), 409)
    db.session.expire_all()
    assert db.session.get(User, user.id).email is None


def test_own_address_can_get_a_code_again(user, user_client, mail_settings):
    user.email = "alice@example.com"
    db.session.commit()
    assert user_client.get("/api/verification?email=alice@example.com").status_code == 200


@pytest.mark.parametrize("app_overrides", [{"WTF_CSRF_ENABLED": True}])
def test_bind_by_get_from_a_session_needs_the_csrf_header(user, user_client, mail_settings, token_headers, app):
    """A cross-site link must not bind an address whose code the attacker holds."""
    code = email_verification.issue_code("evil@example.com")
    url = f"/api/oauth/email/bind?email=evil@example.com&code={code}"
    assert user_client.get(url).status_code == 400  # CSRF token missing
    db.session.expire_all()
    assert db.session.get(User, user.id).email is None
    # an access token is not a cookie: no CSRF needed
    assert app.test_client().get(url, headers=token_headers).get_json()["success"] is True


# -- password reset --------------------------------------------------------------------------------------
def _reset_link(client, box, address: str) -> tuple[str, str]:
    response = client.get("/api/reset_password", query_string={"email": address})
    assert response.get_json()["success"] is True, response.get_json()
    link = box.last_to(address).link()
    assert link.startswith("https://gateway.sluice.test/reset?")
    query = parse_qs(urlsplit(link).query)
    return query["email"][0], query["token"][0]


def test_reset_flow_one_api_generated_password(client, h, mail_settings):
    make_user("carol", email="carol@example.com", password="old password 1")
    email, token = _reset_link(client, mail_settings, "carol@example.com")
    response = client.post("/api/user/reset", json={"email": email, "token": token})
    body = response.get_json()
    assert body["success"] is True and isinstance(body["data"], str) and len(body["data"]) == 12
    assert accounts.authenticate("carol", body["data"]).username == "carol"
    # the link is single-use
    h.envelope_error(client.post("/api/user/reset", json={"email": email, "token": token}), 400)


def test_reset_with_a_chosen_password_ends_sessions(app, h, mail_settings):
    carol = make_user("carol", email="carol@example.com", password="old password 1")
    from tests.conftest import login_client

    signed_in = login_client(app, carol)
    assert signed_in.get("/api/user/self").status_code == 200
    client = app.test_client()
    email, token = _reset_link(client, mail_settings, "carol@example.com")
    body = client.post("/api/user/reset", json={"email": email, "token": token, "password": "brand new pass 2"})
    assert body.get_json() == {"success": True, "data": None,
                               "message": "the password has been reset; every session of the account has ended"}
    assert accounts.authenticate("carol", "brand new pass 2")
    assert signed_in.get("/api/user/self").status_code == 401
    # a too-short password is refused and nothing changes
    email, token = _reset_link(client, mail_settings, "carol@example.com")
    h.envelope_error(client.post("/api/user/reset", json={"email": email, "token": token, "password": "x"}), 400)
    assert accounts.authenticate("carol", "brand new pass 2")


def test_reset_answers_the_same_for_unknown_addresses(client, mail_settings):
    make_user("carol", email="carol@example.com")
    known = client.get("/api/reset_password?email=carol@example.com").get_json()
    unknown = client.get("/api/reset_password?email=nobody@example.com").get_json()
    assert known == unknown
    note = mail_settings.last_to("nobody@example.com")
    assert "no account uses it" in note.text and "http" not in note.text


def test_reset_token_refused_for_other_address_tampered_expired(client, h, mail_settings, monkeypatch):
    make_user("carol", email="carol@example.com")
    make_user("dave", email="dave@example.com")
    email, token = _reset_link(client, mail_settings, "carol@example.com")
    h.envelope_error(client.post("/api/user/reset", json={"email": "dave@example.com", "token": token}), 400)
    h.envelope_error(client.post("/api/user/reset", json={"email": email, "token": token[:-2] + "xx"}), 400)
    h.envelope_error(client.post("/api/user/reset", json={"email": email}), 400)
    import itsdangerous.timed

    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 31 * 60)
    h.envelope_error(client.post("/api/user/reset", json={"email": email, "token": token}), 400)


def test_reset_link_dies_when_the_password_changes_first(client, h, mail_settings):
    carol = make_user("carol", email="carol@example.com", password="old password 1")
    email, token = _reset_link(client, mail_settings, "carol@example.com")
    accounts.update_self(carol, new_password="changed pass 3", original_password="old password 1")
    h.envelope_error(client.post("/api/user/reset", json={"email": email, "token": token}), 400)


def test_reset_needs_a_server_address(client, h, mail_settings):
    options().update({"ServerAddress": ""})
    body = h.envelope_error(client.get("/api/reset_password?email=carol@example.com"), 503)
    assert "ServerAddress" in body["message"]
    assert mail_settings.messages == []


# -- races -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_race_one_reset_link_sets_one_password(race_app, fast_hash):
    """Ten requests with the same link at the same instant: exactly one password is set."""
    from tests.fixtures.race import all_at_once

    carol = make_user("carol", email="carol@example.com", password="old password 1")
    token = email_verification.reset_token(carol)
    clients = [race_app.test_client() for _ in range(10)]

    def reset(i: int) -> int:
        return clients[i].post("/api/user/reset", json={"email": "carol@example.com", "token": token,
                                                        "password": f"new password {i:02d}"}).status_code

    statuses = all_at_once(len(clients), reset)
    assert sorted(statuses) == [200] + [400] * 9, statuses
    winner = statuses.index(200)
    db.session.rollback()  # a fresh snapshot (MariaDB's REPEATABLE READ would show the old row)
    assert accounts.authenticate("carol", f"new password {winner:02d}")
    assert db.session.get(User, carol.id).session_version == 2


# -- TLS -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own CA), as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def _tls_server(tls_files, *, implicit: bool):
    import ssl

    from aiosmtpd.controller import Controller

    from tests.fixtures.mail import MailBox
    from tests.fixtures.services import free_port

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*tls_files)
    box = MailBox("127.0.0.1", free_port())
    if implicit:
        controller = Controller(box, hostname=box.host, port=box.port, ssl_context=server_ctx)
    else:
        controller = Controller(box, hostname=box.host, port=box.port, tls_context=server_ctx,
                                require_starttls=True)
    return box, controller


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_mail_over_tls_verifies_the_certificate(app, tls_files, monkeypatch, implicit):
    import ssl

    box, controller = _tls_server(tls_files, implicit=implicit)
    controller.start()
    try:
        options().update({"SMTPServer": "127.0.0.1", "SMTPPort": box.port, "SMTPFrom": "noreply@sluice.test",
                          "SMTPSSLEnabled": implicit})
        # an unknown CA is refused, with a clear error
        with pytest.raises(mail.MailDeliveryFailed, match="TLS"):
            mail.send_mail("a@example.com", "subject", "body")
        assert box.messages == []
        # trusted (as if the CA were installed): the mail goes through the encrypted channel
        real = ssl.create_default_context
        monkeypatch.setattr(mail.ssl, "create_default_context", lambda: real(cafile=str(tls_files[0])))
        mail.send_mail("a@example.com", "subject", "body over TLS")
        assert box.last_to("a@example.com").text.strip() == "body over TLS"
    finally:
        controller.stop()
