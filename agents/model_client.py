"""Asking the model, with the `openai` client, against any OpenAI-compatible server.

`model`, `base_url` (an on-premises server works), the timeout and the token limit come from
the config; the key from the environment. The client retries nothing itself (`max_retries=0`):
the graph decides what a failure means. Every failure (no answer in time, a 5xx, a refused
request, an empty answer) becomes `ModelUnavailable` with a message for the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import openai

from agents.proposal import response_format

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.shared_params import ResponseFormatJSONSchema


class ModelUnavailable(RuntimeError):
    """The model could not be asked or gave no answer."""


@dataclass(frozen=True)
class ModelSettings:
    model: str
    api_key: str
    base_url: str | None = None
    #: Seconds one request may take.
    timeout: float = 60.0
    #: Most tokens the answer may have.
    max_tokens: int = 1200


def ask(settings: ModelSettings, messages: list[dict[str, str]]) -> str:
    """The text of the model's answer (it should be the proposal's JSON)."""
    client = openai.OpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url,
        timeout=settings.timeout,
        max_retries=0,
    )
    try:
        completion = client.chat.completions.create(
            model=settings.model,
            messages=cast("list[ChatCompletionMessageParam]", messages),
            max_tokens=settings.max_tokens,
            temperature=0,
            response_format=cast("ResponseFormatJSONSchema", response_format()),
        )
    except openai.APITimeoutError:
        limit = f"{settings.timeout:.0f} s"
        raise ModelUnavailable(f"the model did not answer within {limit}") from None
    except openai.APIStatusError as error:
        raise ModelUnavailable(
            f"the model server answered {error.status_code}: {_short(error.message)}"
        ) from None
    except openai.APIConnectionError as error:
        raise ModelUnavailable(f"cannot reach the model server: {error}") from None
    finally:
        client.close()
    if not completion.choices or not completion.choices[0].message.content:
        raise ModelUnavailable("the model gave an empty answer")
    return completion.choices[0].message.content


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
