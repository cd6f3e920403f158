"""SMTP: one e-mail per event, subject ``[<Priority>] <output>``, plain text or text + HTML.

Recipients are ``smtp.to`` (comma-separated). ``tls: true`` requires STARTTLS; ``user`` and
``password`` log in (``authmechanism`` plain or login). The body lists rule, priority,
source, host, tags, time and every output field; the HTML part is the same as a table.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, client_ssl_context, register


def _rows(event: SidekickEvent) -> list[tuple[str, str]]:
    rows = [("Rule", event.rule), ("Priority", event.priority_title), ("Source", event.source)]
    if event.hostname:
        rows.append(("Hostname", event.hostname))
    if event.tags:
        rows.append(("Tags", ", ".join(event.tags)))
    rows.append(("Time", event.time_text))
    rows.extend((k, str(v)) for k, v in sorted(event.output_fields.items()))
    return rows


@register
class SMTPOutput(Output):
    name = "smtp"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": "",
        "tls": True,
        "from": "",
        "to": "",
        "outputformat": "html",
        "authmechanism": "plain",
        "user": "",
        "password": "",
    }

    def build(self, event: SidekickEvent) -> EmailMessage:
        import datetime as dt

        msg = EmailMessage()
        msg["From"] = str(self.cfg.get("from") or "")
        msg["To"] = str(self.cfg.get("to") or "")
        msg["Subject"] = f"[{event.priority_title}] {event.output}".replace("\n", " ")
        msg["Date"] = format_datetime(dt.datetime.fromtimestamp(event.time_ns / 1e9, tz=dt.UTC))
        msg["X-Falco-UUID"] = event.uuid
        rows = _rows(event)
        text = event.output + "\n\n" + "".join(f"{k}: {v}\n" for k, v in rows)
        msg.set_content(text)
        if str(self.cfg.get("outputformat", "html")).lower() != "text":
            cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
            msg.add_alternative(
                f"<html><body><p>{html.escape(event.output)}</p><table>{cells}</table></body></html>",
                subtype="html",
            )
        return msg

    async def send(self, payload: EmailMessage) -> None:
        import aiosmtplib

        host, _, port = str(self.cfg["hostport"]).rpartition(":")
        recipients = [r.strip() for r in str(self.cfg.get("to") or "").split(",") if r.strip()]
        tls = bool(self.cfg.get("tls"))
        try:
            await aiosmtplib.send(
                payload,
                hostname=host,
                port=int(port or 25),
                sender=str(self.cfg.get("from") or ""),
                recipients=recipients,
                start_tls=tls,
                tls_context=client_ssl_context(self.cfg, self.ctx.config) if tls else None,
                username=self.cfg.get("user") or None,
                password=self.cfg.get("password") or None,
                timeout=10,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise OutputError(f"recipients refused: {exc}", retryable=False) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise OutputError(f"{type(exc).__name__}: {exc}") from None
