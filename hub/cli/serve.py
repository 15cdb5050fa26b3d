"""``dsar serve``: the web inbox (:mod:`hub.web`) on this machine.

    dsar serve [--host 127.0.0.1] [--port 8765] [--draft]
    dsar serve --set-password
    dsar --sandbox serve

It listens on 127.0.0.1 unless told otherwise, because the inbox shows people's requests: any
other address is refused (exit 2) unless TLS is set up (``--tls-cert``/``--tls-key``) or
``--insecure-bind`` says the operator knows (e.g. behind a TLS reverse proxy). At start it prints
a one-time login link; ``--set-password`` stores a password (as a scrypt hash) for later logins.
uvicorn's access log stays off: it would print every URL, the login link's token included.
Starlette and uvicorn are imported only when the command runs, so ``dsar --help`` stays fast.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.shared import (
    ExitCode,
    console,
    escaped,
    fail,
    options,
    refuse_placeholders,
    request_context,
    settings_only,
)

#: The names of this machine's loopback interface a server on it answers to (Host header).
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    """Refuse (exit 2) before printing a login link when the port is taken: uvicorn would
    only find out after the link was shown, and end with its own error (exit 1)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; another "
                       "program (or another dsar serve) uses it. Choose one with --port",
                       ExitCode.USAGE) from None


def _read_password() -> str:
    """The new password: typed twice on a terminal, else the first line of stdin (scripts)."""
    if sys.stdin.isatty():
        password: str = typer.prompt("New password", hide_input=True,
                                     confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on; other than loopback only with TLS or "
        "--insecure-bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8765,
    set_password: Annotated[bool, typer.Option(
        "--set-password", help="Store a login password (scrypt hash, owner-only file in the "
        "state folder) and exit.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(
        "--tls-cert", help="TLS certificate (PEM) to serve HTTPS.", dir_okay=False)] = None,
    tls_key: Annotated[Path | None, typer.Option(
        "--tls-key", help="TLS private key (PEM).", dir_okay=False)] = None,
    insecure_bind: Annotated[bool, typer.Option(
        "--insecure-bind", help="Listen on a non-loopback address without TLS (only behind a "
        "TLS reverse proxy).")] = False,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Allow lookups although the configuration still has placeholders; "
        "their documents are stamped UTKAST / DRAFT.")] = False,
) -> None:
    """The web inbox: open requests, deadlines, lookups and tasks in a browser."""
    opts = options(ctx)
    if set_password:
        from hub.web.auth import set_password as store_password

        if opts.sandbox:
            raise fail("the sandbox logs in with the one-time link; it keeps no password")
        state_dir = settings_only(opts).state_dir
        try:
            path = store_password(state_dir, _read_password())
        except ValueError as exc:
            raise fail(str(exc)) from None
        console().print(f"Password stored (scrypt hash) in {escaped(str(path))}.")
        return
    if (tls_cert is None) != (tls_key is None):
        raise fail("give both --tls-cert and --tls-key, or neither")
    tls = tls_cert is not None
    if not is_loopback(host) and not tls and not insecure_bind:
        raise fail(f"refusing to serve on {host} without TLS: the inbox shows personal data. "
                   "Give --tls-cert and --tls-key, or --insecure-bind behind a TLS proxy")
    refuse_placeholders(opts, draft=draft)

    try:
        import uvicorn

        from hub.web.app import build_app
        from hub.web.auth import Gate, stored_password
    except ImportError as exc:  # installed without the web extra
        raise fail(f"the web inbox needs the web extra ({exc.name} is missing): "
                   "pip install 'dsar-hub[web]'") from None

    _check_port_free(host, port)
    with request_context(opts, draft=draft) as env:
        gate = Gate(stored_password(env.settings.state_dir))
        allowed = LOOPBACK_NAMES if host in LOOPBACK_NAMES else ("*",)
        app = build_app(env, gate, secure=tls, allowed_hosts=allowed)
        scheme = "https" if tls else "http"
        shown_host = f"[{host}]" if ":" in host else host
        out = console()
        out.print(f"Serving the inbox on {scheme}://{escaped(shown_host)}:{port}/ "
                  "(Ctrl+C to stop)" + (" with the sandbox's invented people" if env.sandbox
                                        else ""), soft_wrap=True)
        out.print(f"One-time login link: {scheme}://{escaped(shown_host)}:{port}/login/link?"
                  f"token={gate.login_token}", soft_wrap=True)
        if env.settings.consent.webhook_secret is not None:
            out.print(f"MailerLite webhook: POST {scheme}://{escaped(shown_host)}:{port}"
                      f"{escaped(env.settings.consent.webhook_path)} (signature checked)",
                      soft_wrap=True)
        sys.stdout.flush()
        if not is_loopback(host) and not tls:
            console(stderr=True).print("[yellow]warning:[/] serving without TLS on a "
                                       "non-loopback address (--insecure-bind)")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                        ssl_certfile=str(tls_cert) if tls_cert else None,
                        ssl_keyfile=str(tls_key) if tls_key else None)
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}",
                       ExitCode.USAGE) from None
