"""``paycli serve`` itself: its options, and the proxy it is told to trust."""

from __future__ import annotations

from pathlib import Path

from tests.serve.conftest import Client, free_port, spawn_serve, stop_process
from tests.serve.traffic import CONFIG, FORM, nexi_callback


def test_serve_has_help_with_examples(cli):
    result = cli("serve", "--help")
    assert result.code == 0
    assert "/callbacks/GATEWAY" in result.stdout and "Examples:" in result.stdout


def test_a_wrong_port_or_thread_count_is_a_usage_error(cli):
    assert "--port: 70000 is not a port number" in cli("serve", "--port", "70000").stderr
    assert cli("serve", "--threads", "0").code == 2


def remote_of_a_forwarded_callback(db_url: str, folder: Path, config: str, store) -> str:
    config_file = folder / "serve.yaml"
    config_file.write_text(config)
    port = free_port()
    server = spawn_serve(db_url, config_file, port, folder / "serve.log")
    client = Client(port)
    try:
        headers = {"Content-Type": FORM, "X-Forwarded-For": "203.0.113.7"}
        assert client.post("/callbacks/nexi", nexi_callback(1), headers).status == 200
    finally:
        client.close()
        stop_process(server)
    assert "listening on http://127.0.0.1:" in (folder / "serve.log").read_text()
    return str(store.query("SELECT remote_addr FROM delivery ORDER BY id DESC")[0]["remote_addr"])


def test_the_client_address_comes_from_the_trusted_proxy_only(store, db_url, isolated):
    assert remote_of_a_forwarded_callback(db_url, isolated, CONFIG, store) == "127.0.0.1"
    trusting = CONFIG + "serve:\n  trusted_proxy: 127.0.0.1\n"
    assert remote_of_a_forwarded_callback(db_url, isolated, trusting, store) == "203.0.113.7"
