"""Redis: ``RPUSH`` the event's JSON onto a list, or ``HSET`` it under its UUID (``storagetype: hashmap``)."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, client_tls_files, register


@register
class RedisOutput(Output):
    name = "redis"
    enable_key = "address"
    defaults: ClassVar[dict[str, Any]] = {
        "address": "",
        "username": "",
        "password": "",
        "database": 0,
        "storagetype": "list",
        "key": "falco",
        "tls": False,
        "certfile": "",
        "keyfile": "",
        "cacertfile": "",
    }

    _client: Any = None

    def build(self, event: SidekickEvent) -> tuple[str, str]:
        return event.uuid, event.to_json()

    async def start(self) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        host, _, port = str(self.cfg["address"]).rpartition(":")
        kwargs: dict[str, Any] = {}
        if self.cfg.get("mutualtls"):
            cert, key, ca = client_tls_files(self.cfg, self.ctx.config)
            kwargs.update(ssl=True, ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=ca, ssl_cert_reqs="required")
        elif self.cfg.get("tls"):
            kwargs["ssl"] = True
            extra_ca = self.ctx.config.get("tlsclient.cacertfile")
            if extra_ca:
                kwargs["ssl_ca_certs"] = str(extra_ca)
            if not self.cfg.get("checkcert", True):
                kwargs.update(ssl_cert_reqs="none", ssl_check_hostname=False)
        self._client = aioredis.Redis(
            host=host or "localhost",
            port=int(port or 6379),
            username=self.cfg.get("username") or None,
            password=self.cfg.get("password") or None,
            db=int(self.cfg.get("database") or 0),
            socket_connect_timeout=5,
            socket_timeout=5,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),  # the dispatcher's buffer retries, with its own back-off
            **kwargs,
        )

    max_batch = 500  # one RPUSH (or HSET) with many values: atomic, one round trip

    async def send(self, payload: tuple[str, str]) -> None:
        await self.send_many([payload])

    async def send_many(self, payloads: list[tuple[str, str]]) -> None:
        import redis.exceptions

        if self._client is None:
            await self.start()
        key = str(self.cfg.get("key") or "falco")
        try:
            if str(self.cfg.get("storagetype", "")).lower() == "hashmap":
                await self._client.hset(key, mapping=dict(payloads))
            else:
                await self._client.rpush(key, *(body for _, body in payloads))
        except redis.exceptions.ResponseError as exc:  # e.g. WRONGTYPE: retrying cannot help
            raise OutputError(str(exc), retryable=False) from None
        except (redis.exceptions.RedisError, OSError) as exc:
            raise OutputError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
