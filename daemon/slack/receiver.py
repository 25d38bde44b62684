"""The receiving end shared by Slack's two delivery modes (HTTP request URL, Socket Mode).

`accept` does only what must happen before Slack gets its acknowledgement: spool the
interaction durably (`daemon.slack.inbox`) and, for **Reject**, open the reason dialog, since
Slack's `trigger_id` is valid for 3 seconds only (that call runs on its own thread, so the
acknowledgement does not wait for it). Everything else happens later, on the processor.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from daemon.slack import render
from daemon.slack.inbox import Inbox
from daemon.slack.interactions import Interaction

log = logging.getLogger(__name__)


class SlackReceiver:
    def __init__(self, inbox: Inbox, client: WebClient, signing_secret: str | None) -> None:
        self.inbox = inbox
        self.client = client
        # SignatureVerifier refuses timestamps more than 5 minutes away from now.
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def is_signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether `body` carries a valid, fresh Slack signature (v0, HMAC-SHA256)."""
        if self.verifier is None:
            return False
        try:
            return self.verifier.is_valid_request(body, dict(headers))
        except ValueError:  # a timestamp header that is not a number
            return False

    def accept(self, payload: dict[str, Any], *, source: str) -> Interaction | None:
        interaction = self.inbox.receive(payload, source=source)
        if interaction is not None and interaction.action == "reject" and interaction.trigger_id:
            threading.Thread(
                target=self._open_reject_dialog, args=(interaction,), daemon=True
            ).start()
        return interaction

    def _open_reject_dialog(self, interaction: Interaction) -> None:
        run, plan_hash = interaction.value.get("run"), interaction.value.get("hash")
        if not isinstance(run, int) or not isinstance(plan_hash, str):
            return
        view = render.reject_reason_modal(run, plan_hash)
        metadata = json.loads(view.get("private_metadata") or "{}")
        metadata["channel"] = interaction.channel_id
        view["private_metadata"] = json.dumps(metadata, separators=(",", ":"))
        try:
            self.client.views_open(trigger_id=interaction.trigger_id or "", view=view)
        except (SlackApiError, OSError) as error:
            log.warning("could not open the reject dialog for run %s: %s", run, error)
