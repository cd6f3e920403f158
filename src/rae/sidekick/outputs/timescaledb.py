"""PostgreSQL (falcosidekick's ``timescaledb`` block): one INSERT per event into ``hypertablename``.

Columns: ``time`` (timestamptz), ``rule``, ``priority``, ``source``, ``output``, ``tags``
(comma-joined, when any), ``hostname`` (when set), and one column per custom or templated
field. A plain PostgreSQL table works: TimescaleDB is only needed for ``create_hypertable``.
The value ``null`` (any case) is inserted as SQL NULL, as falcosidekick does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, register

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _quote(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid column or table name {name!r}")
    return '"' + name + '"' if "." in name else name


@register
class TimescaleDBOutput(Output):
    name = "timescaledb"
    enable_key = "host"
    defaults: ClassVar[dict[str, Any]] = {
        "host": "",
        "port": "5432",
        "user": "postgres",
        "password": "postgres",
        "database": "falcosidekick",
        "hypertablename": "falcosidekick_events",
    }

    _conn: Any = None

    def build(self, event: SidekickEvent) -> tuple[str, list[Any]]:
        values: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(event.time_ns / 1e9, tz=dt.UTC),
            "rule": event.rule,
            "priority": event.priority_title,
            "source": event.source,
            "output": event.output,
        }
        if event.tags:
            values["tags"] = ",".join(event.tags)
        if event.hostname:
            values["hostname"] = event.hostname
        for key in (*self.ctx.customfields, *self.ctx.templatedfields):
            value = event.output_fields.get(key)
            if isinstance(value, str):
                values[key] = value.replace('"', "")
        cols = ",".join(_quote(k) for k in values)
        args = ",".join(f"${i}" for i in range(1, len(values) + 1))
        table = _quote(str(self.cfg.get("hypertablename") or "falcosidekick_events"))
        params = [None if isinstance(v, str) and v.lower() == "null" else v for v in values.values()]
        return f"INSERT INTO {table} ({cols}) VALUES ({args})", params

    async def send(self, payload: tuple[str, list[Any]]) -> None:
        import asyncpg

        sql, params = payload
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    host=str(self.cfg["host"]),
                    port=int(self.cfg.get("port") or 5432),
                    user=str(self.cfg.get("user") or "postgres"),
                    password=str(self.cfg.get("password") or ""),
                    database=str(self.cfg.get("database") or "falcosidekick"),
                    timeout=5,
                )
            await self._conn.execute(sql, *params)
        except asyncpg.PostgresError as exc:
            sqlstate = str(getattr(exc, "sqlstate", "") or "")
            # classes 22 (data) and 42 (syntax, undefined table/column): the same INSERT would fail again
            permanent = sqlstate[:2] in ("22", "42")
            if not permanent:
                await self.close()
            raise OutputError(f"{type(exc).__name__}: {exc}", retryable=not permanent) from None
        except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise OutputError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()
