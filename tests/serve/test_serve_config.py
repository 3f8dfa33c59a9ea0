"""The ``serve:`` section of the configuration: defaults, secrets, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycli.config import PAYPAL_POSTBACK_URL, Secret
from tests.test_config import error_of, load


def test_serve_defaults(tmp_path: Path) -> None:
    serve = load(tmp_path, "timezone: UTC\n").serve
    assert serve["host"] == "127.0.0.1" and serve["port"] == 8080 and serve["threads"] == 8
    assert serve["token"] is None
    assert serve["max_body_bytes"] == 1024 * 1024
    assert serve["paypal_postback"] is True and serve["paypal_postback_url"] == PAYPAL_POSTBACK_URL
    assert serve["store_timeout_seconds"] == 5 and serve["trusted_proxy"] is None
    assert serve["connection_limit"] == 100  # waitress's own default


def test_the_token_is_a_secret_from_the_environment_or_a_file(tmp_path: Path) -> None:
    serve = load(tmp_path, "serve:\n  token: ${TOKEN}\n", {"TOKEN": "t0ken-value"}).serve
    assert isinstance(serve["token"], Secret) and serve["token"].reveal() == "t0ken-value"
    assert "t0ken-value" not in repr(dict(serve))
    (tmp_path / "token").write_text("from-a-file\n")
    serve = load(tmp_path, "serve:\n  token_file: token\n").serve
    assert serve["token"].reveal() == "from-a-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("serve:\n  prot: 80\n", "serve.prot: unknown key (did you mean 'port'?)"),
        ("serve:\n  port: 70000\n", "serve.port: must be a port number 1..65535, got 70000"),
        ("serve:\n  threads: many\n", "serve.threads: expected an integer, got 'many'"),
        ("serve:\n  max_body_bytes: 10\n", "serve.max_body_bytes: must be 1024..67108864 bytes, got 10"),
        ("serve:\n  paypal_postback: sometimes\n", "serve.paypal_postback: expected true or false"),
        ("serve:\n  paypal_postback_url: ftp://x\n", "serve.paypal_postback_url: 'ftp://x' is not an http"),
        ("serve:\n  trusted_proxy: nginx\n", "serve.trusted_proxy: 'nginx' is not an IP address"),
        ("serve:\n  token: a\n  token_file: b\n", "serve.token: give either token or token_file, not both"),
        ("serve:\n  token: ${NOPE}\n", "serve.token: environment variable NOPE is not set"),
        ("serve: 8080\n", "serve: expected a mapping of keys to values, got a number"),
        ("serve:\n  connection_limit: 5\n", "serve.connection_limit: must be 10..1000, got 5"),
        (
            "serve:\n  host: 0.0.0.0:8080\n",
            "serve.host: '0.0.0.0:8080': give the host name alone, and the port in its own key, port",
        ),
    ],
)
def test_a_wrong_serve_setting_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    assert message in error_of(tmp_path, text)


def test_serve_host_takes_every_address_as_serve_host_option_does(tmp_path: Path) -> None:
    # `paycli serve --host '*'` listens on every address family; the same value in serve.host was
    # refused as "not a host name" once the host was checked on load
    assert load(tmp_path, 'serve:\n  host: "*"\n').serve["host"] == "*"
