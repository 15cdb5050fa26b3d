"""``dsar config check``: is every enabled processor configured, reachable and authorised?

One cheap authenticated read per processor (the connector's ``check_credentials``), run
concurrently, each outcome explained in words the user can act on (Airbyte's model: whether
the configuration, the processor or this tool has to change).
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

from connectors.sdk.base import Connector
from hub.config.settings import HubSettings, env_name
from hub.core.errors import as_connector_error


async def _check(name: str, cls: type[Connector], settings: HubSettings,
                 options: dict[str, Any]) -> dict[str, Any]:
    processor = settings.processor(name)
    unknown = sorted(processor.model_extra or {})
    warning = (f" (unknown settings ignored: {', '.join(env_name(name, k) for k in unknown)})"
               if unknown else "")
    missing = processor.missing_credentials()
    if missing:
        names = ", ".join(env_name(name, field) for field in missing)
        return {"name": name, "ok": False, "details": f"missing setting {names}{warning}"}
    try:
        accepted = {k: v for k, v in options.items() if k in cls.init_options}
        async with cls(processor, **accepted) as connector:
            proved = await connector.check_credentials()
    except Exception as exc:
        error = as_connector_error(exc, cls.title)
        if error is None:
            raise
        return {"name": name, "ok": False, "failure_type": error.failure_type.value,
                "details": f"{error}{warning}"}
    return {"name": name, "ok": True, "details": f"{proved} at {processor.base_url}{warning}"}


def _who(mode: int) -> str:
    group, others = bool(mode & 0o070), bool(mode & 0o007)
    return "group and others" if group and others else "its group" if group else "others"


def state_warnings(settings: HubSettings) -> list[str]:
    """What in the state folder other users of the machine could read: the folder itself and
    the files in it (the ledger database with subjects' addresses, the keyed-hash secret, the
    state-encryption key, reports), and a SQLite database configured elsewhere. The hub
    creates all of these owner-only; a folder made by hand, a copy or a restore may not be.
    Empty files (the consent sync's lock files) hold nothing and are not reported."""
    paths = [settings.state_dir]
    if settings.state_dir.is_dir():
        paths += sorted(settings.state_dir.iterdir())
    url = settings.ledger_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        database = Path(url.removeprefix("sqlite:///"))
        paths += [p for p in (database.parent, database) if p not in paths]
    warnings = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not mode & 0o077 or (stat.S_ISREG(info.st_mode) and info.st_size == 0):
            continue
        if stat.S_ISDIR(info.st_mode):
            warnings.append(f"the folder {path} is open to {_who(mode)} (mode {mode:04o}); it "
                            f"holds personal data and keys: chmod 700 {path}")
        else:
            warnings.append(f"{path} can be read by {_who(mode)} (mode {mode:04o}): "
                            f"chmod 600 {path}")
    return warnings


KEY_TITLES = {"keyed-hash": "keyed-hash key", "token": "token-encryption key"}
_KEY_SETTINGS = {"keyed-hash": "DSAR_KEYED_HASH_KEY_FILE", "token": "DSAR_TOKEN_KEY_FILE"}


def describe_key_check(kind: str, outcome: str, where: str) -> dict[str, Any]:
    """One line of ``config check`` about one of the hub's keys: whether this machine's key
    (``where`` it is taken from) is the one the database was started with.

    Every machine that shares one database must use the same two keys: with another
    keyed-hash key its pseudonyms match nobody (suppressed people would be re-subscribed), with
    another token-encryption key it cannot read the tokens the others stored.
    """
    title = KEY_TITLES[kind]
    setting = _KEY_SETTINGS[kind]
    copy = (f"copy it from the machine that first used this database (the file its {setting} "
            f"names, or the key file in its state folder) and set {setting} to the copy")
    if outcome == "same":
        return {"key": title, "ok": True, "details": f"same key as the database ({where})"}
    if outcome == "recorded":
        return {"key": title, "ok": True,
                "details": f"the database had no {title} yet and now knows this one ({where}); "
                           "every other machine on this database must use the same"}
    if outcome == "not-made":
        return {"key": title, "ok": True,
                "details": f"not made yet: it is created at first use in {where}, or set "
                           f"{setting}"}
    if outcome == "missing":
        return {"key": title, "ok": False,
                "details": f"this machine has no {title} ({where}) but the database was "
                           f"started with one: {copy}"}
    return {"key": title, "ok": False,
            "details": f"this machine's {title} ({where}) differs from the one the database "
                       f"was started with: {copy}"}


async def check_all(
    settings: HubSettings, connectors: dict[str, type[Connector]], **options: Any
) -> list[dict[str, Any]]:
    names = [name for name in connectors if settings.processor(name).is_enabled()]
    return list(await asyncio.gather(
        *(_check(n, connectors[n], settings, options) for n in names)))
